"""``constraints.ifeval``: the fraction of a sample's IFEval instructions its response follows."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rewardlab.core import BaseReward, Deps, Sample, Score, Status
from rewardlab.errors import SpecError, require_extra
from rewardlab.registry import register
from rewardlab.rewards.constraints.ifeval import ConstraintError, follows, follows_loosely, validate


class IFEvalParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["strict", "loose"] = Field("strict", description="which IFEval verdict makes the value")


def constraints(reference: Any) -> list[tuple[str, dict[str, Any]]]:
    """(instruction id, checked arguments) pairs from an IFEval row or a list of constraints.

    Accepted: ``{"instruction_id_list": [...], "kwargs": [...]}`` (IFEval's data rows) or
    ``[{"id": ..., "kwargs": {...}}, ...]``. Raises :class:`ConstraintError`.
    """
    if isinstance(reference, dict) and "instruction_id_list" in reference:
        ids, kwargs = reference["instruction_id_list"], reference.get("kwargs") or []
        if not isinstance(ids, list) or not isinstance(kwargs, list) or (kwargs and len(kwargs) != len(ids)):
            raise ConstraintError("'instruction_id_list' and 'kwargs' must be lists of the same length")
        pairs = list(zip(ids, kwargs or [{}] * len(ids), strict=True))
    elif isinstance(reference, list):
        if not all(isinstance(c, dict) and "id" in c for c in reference):
            raise ConstraintError("each constraint must be an object with 'id' (and 'kwargs')")
        pairs = [(c["id"], c.get("kwargs") or {}) for c in reference]
    else:
        raise ConstraintError(
            "reference must be an IFEval row {'instruction_id_list', 'kwargs'} or a list of constraints"
        )
    if not pairs:
        raise ConstraintError("no constraints")
    return [(str(i), validate(str(i), k if isinstance(k, dict) else None)) for i, k in pairs]


@register("reward", "constraints.ifeval")
class IFEval(BaseReward):
    """Fraction of the IFEval instructions followed (strict or loose, as IFEval defines them).

    ``detail`` lists every instruction's strict and loose verdict, and whether all were followed
    (IFEval's prompt-level accuracy). An empty response follows nothing: ``no_answer``.
    """

    name = "constraints.ifeval"
    needs_reference = True
    Params = IFEvalParams

    def __init__(self, **params: Any) -> None:
        require_extra("constraints", f"reward {self.name!r}", "langdetect", "nltk", error=SpecError)
        super().__init__(**params)

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        try:
            checks = constraints(sample.reference)
        except ConstraintError as exc:
            return Score.unscorable(Status.INVALID_REFERENCE, str(exc))
        response = sample.completion_text
        verdicts = [{"id": i, "strict": follows(i, a, response), "loose": follows_loosely(i, a, response)}
                    for i, a in checks]
        chosen = [bool(v[self.params.mode]) for v in verdicts]
        detail = {"constraints": verdicts, "all_strict": all(v["strict"] for v in verdicts),
                  "all_loose": all(v["loose"] for v in verdicts)}
        value = sum(chosen) / len(chosen)
        if not response.strip():
            return Score.no_answer(value, reason="empty response", **detail)
        return Score.ok(value, **detail)

    def check(self, sample: Sample) -> str | None:
        try:
            constraints(sample.reference)
        except ConstraintError as exc:
            return str(exc)
        return None
