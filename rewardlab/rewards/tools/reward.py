"""``tools.call`` (calls against BFCL possible answers) and ``tools.schema`` (calls against JSON Schemas)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rewardlab.core import BaseReward, Deps, Sample, Score, Status
from rewardlab.errors import ReferenceProblem, SpecError, require_extra
from rewardlab.registry import register
from rewardlab.rewards.tools.answers import CallReference, parse_reference
from rewardlab.rewards.tools.match import match_calls, toolrl
from rewardlab.rewards.tools.parse import CallFormat, CallParseError, ToolCall, parse_calls
from rewardlab.rewards.tools.schema import ToolSchemas, tool_schemas

DETAIL_CALLS = 10  # calls listed in ``detail``


class CallParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: CallFormat = "auto"
    score: Literal["bfcl", "toolrl"] = Field(
        "bfcl", description="bfcl: 1.0 when all calls are accepted, else 0.0; toolrl: R_format + R_correct in [-3, 4]"
    )
    underscore_dots: bool = Field(
        False, description="accept 'a_b' for a ground-truth 'a.b' (BFCL does for APIs that forbid dots)"
    )
    max_calls: int = Field(64, ge=1, description="more calls than this is a malformed answer")


def read_calls(sample: Sample, fmt: CallFormat, max_calls: int) -> tuple[list[ToolCall], str | None]:
    """The sample's calls and, when they could not be read, why (the calls are then ``[]``)."""
    assert sample.completion is not None  # the engine answers a missing completion before any reward
    try:
        calls = parse_calls(sample.completion, fmt)
    except CallParseError as exc:
        return [], str(exc)
    if len(calls) > max_calls:
        return [], f"{len(calls)} calls, more than max_calls={max_calls}"
    return calls, None


def _undot(calls: list[ToolCall], ref: CallReference) -> list[ToolCall]:
    names = {c.name.replace(".", "_"): c.name for c in ref.calls}
    return [ToolCall(names.get(c.name, c.name), c.arguments) for c in calls]


@register("reward", "tools.call")
class ToolCallReward(BaseReward):
    """Tool calls against BFCL possible answers: type-checked, order-free, nothing extra.

    Value 1.0 when the calls are exactly the ground truth's (``score = "bfcl"``), or ToolRL's
    ``R_format + R_correct`` (``score = "toolrl"``); ToolRL's terms are in ``detail`` either way.
    A call that cannot be read, or no call where one is expected, is ``no_answer``.
    """

    name = "tools.call"
    needs_reference = True
    Params = CallParams

    def __init__(self, **params: Any) -> None:
        require_extra("tools", f"reward {self.name!r}", "scipy", error=SpecError)
        super().__init__(**params)

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        try:
            ref = parse_reference(sample.reference)
        except ReferenceProblem as exc:
            return Score.unscorable(Status.INVALID_REFERENCE, str(exc))
        calls, problem = read_calls(sample, self.params.format, self.params.max_calls)
        if self.params.underscore_dots:
            calls = _undot(calls, ref)
        fmt = 0.0 if problem else 1.0
        if problem and not ref.calls:  # nothing to call, and no readable call made: BFCL counts it right
            return Score.ok(1.0 if self.params.score == "bfcl" else fmt + 3.0, correct=True, format=fmt,
                            parse_error=problem)
        result = match_calls(calls, ref)
        terms = toolrl(calls, ref, result.checks)
        value = float(result.correct) if self.params.score == "bfcl" else fmt + terms["correct"]
        detail: dict[str, Any] = {
            "correct": result.correct, "format": fmt, "toolrl": terms,
            "calls": [c.to_dict() for c in calls[:DETAIL_CALLS]],
        }
        if result.errors:
            detail["errors"] = result.errors
        if problem:
            return Score.no_answer(value, reason=f"tool calls could not be read: {problem}", **detail)
        if not calls and ref.calls:
            return Score.no_answer(value, reason="no tool call", **detail)
        return Score.ok(value, **detail)

    def check(self, sample: Sample) -> str | None:
        try:  # a missing reference is a problem too: it is not an object with 'ground_truth'
            parse_reference(sample.reference)
        except ReferenceProblem as exc:
            return str(exc)
        return None


class SchemaParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: CallFormat = "auto"
    tools: list[dict[str, Any]] | None = Field(
        None, description="tool documents for every sample; else the reference's 'tools' or 'functions'"
    )
    partial_credit: bool = Field(False, description="value = fraction of valid calls instead of all-or-nothing")
    require_call: bool = Field(True, description="no call at all is no_answer (0.0)")
    max_calls: int = Field(64, ge=1)


@register("reward", "tools.schema")
class ToolSchemaReward(BaseReward):
    """Every call names a known tool and its arguments validate against the tool's JSON Schema.

    Schemas are OpenAI tool documents or BFCL function documents (whose ``dict``/``float``/``tuple``
    types are read as ``object``/``number``/``array``), validated with ``jsonschema``.
    """

    name = "tools.schema"
    Params = SchemaParams

    def __init__(self, **params: Any) -> None:
        require_extra("tools", f"reward {self.name!r}", "jsonschema", error=SpecError)
        super().__init__(**params)
        self._fixed: ToolSchemas | None = None
        if self.params.tools is not None:
            try:
                self._fixed = tool_schemas(self.params.tools)
            except ReferenceProblem as exc:
                raise SpecError(f"reward 'tools.schema': parameter 'tools': {exc}") from None

    def _schemas(self, sample: Sample) -> ToolSchemas:
        if self._fixed is not None:
            return self._fixed
        ref = sample.reference
        tools = ref.get("tools", ref.get("functions")) if isinstance(ref, dict) else None
        if not isinstance(tools, list) or not tools:
            raise ReferenceProblem("no tool documents: give the 'tools' parameter or a reference {'tools': [...]}")
        return tool_schemas(tools)

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        try:
            schemas = self._schemas(sample)
        except ReferenceProblem as exc:
            return Score.unscorable(Status.INVALID_REFERENCE, str(exc))
        calls, problem = read_calls(sample, self.params.format, self.params.max_calls)
        if problem:
            return Score.no_answer(0.0, reason=f"tool calls could not be read: {problem}")
        if not calls:
            if self.params.require_call:
                return Score.no_answer(0.0, reason="no tool call")
            return Score.ok(1.0, calls=[])
        verdicts = [{"name": c.name, "errors": schemas.errors(c)} for c in calls]
        valid = sum(not v["errors"] for v in verdicts)
        value = valid / len(calls) if self.params.partial_credit else float(valid == len(calls))
        return Score.ok(value, valid=valid, n_calls=len(calls), calls=verdicts[:DETAIL_CALLS])

    def check(self, sample: Sample) -> str | None:
        try:
            self._schemas(sample)
        except ReferenceProblem as exc:
            return str(exc)
        return None
