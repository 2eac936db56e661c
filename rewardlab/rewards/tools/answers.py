"""Tool-call references in the Berkeley Function-Calling Leaderboard's possible-answer format.

A reference is ``{"ground_truth": [...], "functions": [...]}``: each ground-truth call is
``{name: {param: [acceptable values]}}`` (``""`` among them marks the parameter optional) or
``{"name": ..., "arguments": {param: value}}`` (one acceptable value each); ``functions`` are
the function documents (BFCL's, or OpenAI ``{"type": "function", "function": {...}}`` tools)
whose parameter types drive type checking. Without them the type of the acceptable values is
used and the parameters whose list lacks ``""`` are required. ``ground_truth: []`` means the
right answer is to call nothing (BFCL's irrelevance categories).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rewardlab.errors import ReferenceProblem

# BFCL's Python type names (ast_checker.PYTHON_TYPE_MAPPING), plus the JSON Schema names that
# OpenAI tool documents use for the same types.
PY_TYPES: dict[str, type] = {
    "string": str, "integer": int, "float": float, "number": float, "boolean": bool,
    "array": list, "tuple": list, "dict": dict, "object": dict, "any": str,
}
OPTIONAL = ""  # BFCL's marker of an optional parameter in a list of acceptable values


@dataclass(frozen=True)
class ParamDoc:
    """A documented parameter: its type name and, for arrays, its items' type name."""

    type: str
    items: str | None = None


@dataclass(frozen=True)
class FunctionDoc:
    name: str
    params: dict[str, ParamDoc]
    required: tuple[str, ...]


@dataclass(frozen=True)
class ExpectedCall:
    """One ground-truth call: each parameter's acceptable values."""

    name: str
    params: dict[str, list[Any]]

    def required(self, doc: FunctionDoc | None) -> tuple[str, ...]:
        if doc is not None:
            return doc.required
        return tuple(k for k, values in self.params.items() if OPTIONAL not in values)

    def optional(self, key: str) -> bool:
        return OPTIONAL in self.params.get(key, [])


@dataclass(frozen=True)
class CallReference:
    calls: list[ExpectedCall]
    docs: dict[str, FunctionDoc] = field(default_factory=dict)

    def doc(self, name: str) -> FunctionDoc | None:
        return self.docs.get(name)


def parse_reference(ref: Any) -> CallReference:
    """Validate a tool-call reference; raises :class:`ReferenceProblem` naming what is wrong."""
    if not isinstance(ref, Mapping) or "ground_truth" not in ref:
        raise ReferenceProblem("reference must be an object with 'ground_truth' (and optionally 'functions')")
    truth = ref["ground_truth"]
    if not isinstance(truth, list):
        raise ReferenceProblem(f"'ground_truth' must be a list of calls, got {type(truth).__name__}")
    calls = [_expected(item, i) for i, item in enumerate(truth)]
    docs = {d.name: d for d in (function_doc(f, i) for i, f in enumerate(ref.get("functions") or []))}
    for call in calls:
        doc = docs.get(call.name)
        if docs and doc is None:
            raise ReferenceProblem(f"ground-truth function {call.name!r} has no document in 'functions'")
        # an undocumented parameter can never be passed (BFCL: unexpected), so it must be optional
        unknown = [k for k in call.params if doc is not None and k not in doc.params and not call.optional(k)]
        if unknown:
            raise ReferenceProblem(
                f"ground truth of {call.name!r} requires undocumented parameters {unknown}: no call can pass"
            )
    return CallReference(calls, docs)


def _expected(item: Any, i: int) -> ExpectedCall:
    if isinstance(item, Mapping) and "name" in item and isinstance(item.get("name"), str):
        args = item.get("arguments", item.get("parameters", {}))
        if not isinstance(args, Mapping):
            raise ReferenceProblem(f"ground_truth[{i}]: 'arguments' must be an object")
        return ExpectedCall(item["name"], {str(k): [v] for k, v in args.items()})
    if not isinstance(item, Mapping) or len(item) != 1:
        raise ReferenceProblem(
            f"ground_truth[{i}] must be {{name: {{param: [acceptable values]}}}} or {{'name', 'arguments'}}"
        )
    (name, params), = item.items()
    if not isinstance(params, Mapping):
        raise ReferenceProblem(f"ground_truth[{i}]: the parameters of {name!r} must be an object")
    for key, values in params.items():
        if not isinstance(values, list) or not values:
            raise ReferenceProblem(
                f"ground_truth[{i}]: {name}.{key} must be a non-empty list of acceptable values"
            )
    return ExpectedCall(str(name), {str(k): list(v) for k, v in params.items()})


def function_doc(obj: Any, i: int = 0) -> FunctionDoc:
    """A function document (BFCL's or an OpenAI tool), with its parameter types checked."""
    if isinstance(obj, Mapping) and obj.get("type") == "function" and isinstance(obj.get("function"), Mapping):
        obj = obj["function"]
    if not isinstance(obj, Mapping) or not isinstance(obj.get("name"), str):
        raise ReferenceProblem(f"functions[{i}] must be an object with a 'name'")
    schema = obj.get("parameters") or {}
    props = schema.get("properties") or {} if isinstance(schema, Mapping) else None
    if not isinstance(props, Mapping):
        raise ReferenceProblem(f"functions[{i}] ({obj['name']}): 'parameters.properties' must be an object")
    params = {}
    for key, prop in props.items():
        kind = prop.get("type") if isinstance(prop, Mapping) else None
        if kind not in PY_TYPES:
            raise ReferenceProblem(
                f"{obj['name']}.{key}: type {kind!r} is not one of {sorted(PY_TYPES)}"
            )
        items = prop.get("items", {}).get("type") if kind in ("array", "tuple") else None
        if items is not None and items not in PY_TYPES:
            raise ReferenceProblem(f"{obj['name']}.{key}: items type {items!r} is not one of {sorted(PY_TYPES)}")
        params[str(key)] = ParamDoc(kind, items)
    required = schema.get("required") or []
    return FunctionDoc(obj["name"], params, tuple(str(r) for r in required))
