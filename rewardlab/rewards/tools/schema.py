"""JSON Schemas of tools, from OpenAI tool documents or BFCL function documents, checked with ``jsonschema``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rewardlab.errors import ReferenceProblem
from rewardlab.rewards.tools.parse import ToolCall

# BFCL's type names as JSON Schema types (bfcl_eval.constants.type_mappings.GORILLA_TO_OPENAPI);
# "any" becomes no type constraint rather than BFCL's "string".
_GORILLA = {"dict": "object", "float": "number", "tuple": "array", "list": "array", "bool": "boolean"}
MAX_ERRORS = 3  # schema errors listed per call


def to_json_schema(node: Any) -> Any:
    """Rewrite BFCL type names (recursively) into JSON Schema ones; JSON Schema passes unchanged."""
    if isinstance(node, list):
        return [to_json_schema(v) for v in node]
    if not isinstance(node, Mapping):
        return node
    out = {k: to_json_schema(v) for k, v in node.items()}
    kind = out.get("type")
    if kind == "any":
        del out["type"]
    elif isinstance(kind, str):
        out["type"] = _GORILLA.get(kind, kind)
    return out


def as_json(value: Any) -> Any:
    """Python-syntax arguments as JSON sees them: a tuple is an array (jsonschema checks lists only)."""
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class ToolSchemas:
    """A validator per tool name."""

    validators: dict[str, Any]

    def errors(self, call: ToolCall) -> list[str]:
        validator = self.validators.get(call.name)
        if validator is None:
            return [f"unknown tool {call.name!r} (known: {sorted(self.validators)[:20]})"]
        found = sorted(validator.iter_errors(as_json(call.arguments)), key=lambda e: list(e.path))
        return [f"{'/'.join(map(str, e.path)) or '(arguments)'}: {e.message}"[:200] for e in found[:MAX_ERRORS]]


def tool_schemas(tools: list[Any]) -> ToolSchemas:
    """Validators for ``tools``; raises :class:`ReferenceProblem` for a document or schema that is wrong."""
    import jsonschema  # the 'tools' extra
    from jsonschema.exceptions import SchemaError

    validators = {}
    for i, tool in enumerate(tools):
        doc = tool.get("function") if isinstance(tool, Mapping) and tool.get("type") == "function" else tool
        if not isinstance(doc, Mapping) or not isinstance(doc.get("name"), str):
            raise ReferenceProblem(f"tools[{i}] must be an object with a 'name' (or an OpenAI function tool)")
        schema = to_json_schema(doc.get("parameters") or {"type": "object"})
        cls = jsonschema.validators.validator_for(schema)
        try:
            cls.check_schema(schema)
        except SchemaError as exc:
            raise ReferenceProblem(f"tool {doc['name']!r}: invalid JSON Schema: {exc.message}") from None
        validators[doc["name"]] = cls(schema)
    return ToolSchemas(validators)
