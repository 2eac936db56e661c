"""Tool calls read from a completion: OpenAI ``tool_calls``, Hermes tags, Python call syntax.

- ``openai``: the last assistant message's ``tool_calls`` (``{"function": {"name", "arguments"}}``,
  arguments a JSON text or an object), as chat completions return them.
- ``hermes``: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks (Hermes / Qwen
  chat templates); a block may also hold a JSON list of calls or one JSON call per line (ToolRL's
  format), and ``parameters`` is accepted for ``arguments``.
- ``python``: ``f(a=1)`` or ``[f(a=1), g.h(b="x")]`` (BFCL's prompting format), read with
  :mod:`ast` and never evaluated: literals, negative numbers, names (kept as text, as BFCL keeps
  variables), nested keyword calls (as ``{name: args}``) and bounded arithmetic on numbers.
"""

from __future__ import annotations

import ast
import json
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

CallFormat = Literal["auto", "openai", "hermes", "python"]

_HERMES = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
_FENCE = re.compile(r"^```[a-zA-Z0-9_-]*\s*\n?(.*?)\n?```$", re.DOTALL)
_MAX_POW = 64  # largest exponent the arithmetic of a Python-syntax argument may use
_MAX_BITS = 4096  # largest integer it may produce (far below Python's 4300-digit text limit)
_ARITH: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


class CallParseError(ValueError):
    """The completion holds tool calls that cannot be read (a scored failure)."""


@dataclass(frozen=True)
class ToolCall:
    """One call: the function's name and its keyword arguments."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": self.arguments}


def parse_calls(completion: str | list[dict[str, Any]], fmt: CallFormat = "auto") -> list[ToolCall]:
    """The calls in ``completion``; ``[]`` when it makes none.

    ``auto`` reads ``tool_calls`` from a chat message, else ``<tool_call>`` blocks, else
    Python call syntax (text that is not a call is then no call, not an error).
    Raises :class:`CallParseError` for calls that are malformed.
    """
    message = _last_assistant(completion) if isinstance(completion, list) else None
    text = completion if isinstance(completion, str) else _content(message)
    if fmt in ("auto", "openai") and message is not None and message.get("tool_calls"):
        return _openai(message["tool_calls"])
    if fmt == "openai":
        return []
    if fmt == "hermes" or (fmt == "auto" and "<tool_call>" in text):
        return _hermes(text)
    try:
        return python_calls(text)
    except CallParseError:
        if fmt == "auto":
            return []
        raise


def _last_assistant(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role", "assistant") == "assistant":
            return dict(message)
    return None


def _content(message: Mapping[str, Any] | None) -> str:
    content = (message or {}).get("content") or ""
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return str(content)


def _openai(tool_calls: Any) -> list[ToolCall]:
    if not isinstance(tool_calls, list):
        raise CallParseError(f"'tool_calls' must be a list, got {type(tool_calls).__name__}")
    calls = []
    for i, item in enumerate(tool_calls):
        function = item.get("function") if isinstance(item, Mapping) else None
        if not isinstance(function, Mapping):
            raise CallParseError(f"tool_calls[{i}] has no 'function' object")
        calls.append(_json_call(function, f"tool_calls[{i}]"))
    return calls


def _json_call(obj: Any, where: str) -> ToolCall:
    """A call from ``{"name": ..., "arguments"|"parameters": {...} or JSON text}``."""
    if not isinstance(obj, Mapping):
        raise CallParseError(f"{where}: a call must be a JSON object, got {type(obj).__name__}")
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        raise CallParseError(f"{where}: the call has no 'name'")
    args = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except (ValueError, RecursionError) as exc:  # also ints past Python's 4300-digit limit
            raise CallParseError(f"{where}: arguments of {name!r} are not valid JSON ({_why(exc)})") from None
    if not isinstance(args, Mapping):
        raise CallParseError(f"{where}: arguments of {name!r} must be an object, got {type(args).__name__}")
    return ToolCall(name, dict(args))


def _hermes(text: str) -> list[ToolCall]:
    if text.count("<tool_call>") != text.count("</tool_call>"):
        raise CallParseError("unbalanced <tool_call> tags")
    calls: list[ToolCall] = []
    for n, block in enumerate(_HERMES.findall(text)):
        for obj in _json_objects(block.strip(), f"<tool_call> block {n}"):
            calls.append(_json_call(obj, f"<tool_call> block {n}"))
    return calls


def _json_objects(block: str, where: str) -> list[Any]:
    """One JSON value (an object or a list of them), else one JSON object per line."""
    try:
        value = json.loads(block)
        return value if isinstance(value, list) else [value]
    except (ValueError, RecursionError) as exc:  # also ints past Python's 4300-digit limit
        lines = [line for line in block.splitlines() if line.strip()]
        if len(lines) < 2:
            raise CallParseError(f"{where} is not valid JSON ({_why(exc)})") from None
    try:
        return [json.loads(line) for line in lines]
    except (ValueError, RecursionError) as exc:  # also ints past Python's 4300-digit limit
        raise CallParseError(f"{where} is not valid JSON, whole or line by line ({_why(exc)})") from None


def _why(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return exc.msg
    return "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:80]


def python_calls(text: str) -> list[ToolCall]:
    """Calls written in Python syntax, read as BFCL's ``ast_parse`` reads them (nothing evaluated)."""
    text = text.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    text = text.strip("`\n '")
    if not text:
        return []
    if not text.startswith("["):
        text = f"[{text}]"
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise CallParseError(f"not Python call syntax ({type(exc).__name__})") from None
    body = tree.body
    if not isinstance(body, (ast.List, ast.Tuple)):
        raise CallParseError("not a call or a list of calls")
    try:
        return [_call(elt) for elt in body.elts]
    except RecursionError:
        raise CallParseError("arguments nested too deeply") from None


def _call(node: ast.expr) -> ToolCall:
    if not isinstance(node, ast.Call):
        raise CallParseError(f"expected a call, got {ast.unparse(node)[:60]!r}")
    if node.args:
        raise CallParseError(f"{_dotted(node.func)}(): positional arguments; pass every argument by keyword")
    if any(kw.arg is None for kw in node.keywords):
        raise CallParseError(f"{_dotted(node.func)}(): **kwargs is not a literal argument")
    return ToolCall(_dotted(node.func), {kw.arg: _value(kw.value) for kw in node.keywords if kw.arg})


def _dotted(node: ast.expr) -> str:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise CallParseError(f"the called object {ast.unparse(node)[:60]!r} is not a (dotted) name")
    parts.append(node.id)
    return ".".join(reversed(parts))


def _value(node: ast.expr) -> Any:
    """A literal argument value; anything that would need running code is refused."""
    if isinstance(node, ast.Constant):
        return "..." if node.value is Ellipsis else node.value
    if isinstance(node, ast.List):
        return [_value(v) for v in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_value(v) for v in node.elts)
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise CallParseError("dict unpacking (**) is not a literal")
        return {_value(k): _value(v) for k, v in zip(node.keys, node.values, strict=True)}  # type: ignore[arg-type]
    if isinstance(node, ast.Name):
        return node.id  # a variable: BFCL compares it as its name
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _value(node.operand)
        if _is_number(operand):
            return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
        return _arith(node)
    if isinstance(node, ast.Call):
        if not node.keywords:
            return ast.unparse(node)
        nested = _call(node)
        return {nested.name: nested.arguments}  # as BFCL's resolve_ast_call gives it
    raise CallParseError(f"argument {ast.unparse(node)[:60]!r} is not a literal value")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _arith(node: ast.BinOp) -> Any:
    """Arithmetic on numeric literals (BFCL evaluates ``2 * 3``; exponents are bounded here)."""
    left, right = _value(node.left), _value(node.right)
    if not (_is_number(left) and _is_number(right)):
        raise CallParseError(f"argument {ast.unparse(node)[:60]!r} is not arithmetic on numbers")
    if isinstance(node.op, ast.Pow) and (abs(right) > _MAX_POW or abs(left) > 2**_MAX_POW):
        raise CallParseError(f"argument {ast.unparse(node)[:60]!r}: exponent too large")
    try:
        result = _ARITH[type(node.op)](left, right)
    except (ZeroDivisionError, OverflowError) as exc:
        raise CallParseError(f"argument {ast.unparse(node)[:60]!r}: {exc}") from None
    if isinstance(result, int) and result.bit_length() > _MAX_BITS:
        raise CallParseError(f"argument {ast.unparse(node)[:60]!r}: the result has more than {_MAX_BITS} bits")
    return result
