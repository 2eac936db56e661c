"""One call against one ground-truth call, as BFCL's AST checker (``ast_checker.py``) decides.

Written here because BFCL's checker ships only inside ``bfcl-eval``, whose dependencies (model
SDKs, pinned numpy, sentence-transformers) a reward layer cannot carry. Same rules, Python
language: strict types (``bool`` is not ``int``), ``int`` accepted and converted where a
``float`` is documented, a tuple converted to a list for ``tuple`` parameters, a value of the
acceptable values' own type taken as a "variable" and compared exactly; strings compared after
BFCL's ``standardize_string`` (lower case, without spaces and ``,./-_*^``, ``'`` as ``"``), also
inside lists and dicts; dicts and lists of dicts checked key by key. Every argument's verdict is
kept (BFCL stops at the first error) so the ToolRL decomposition can count them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from rewardlab.rewards.tools.answers import OPTIONAL, PY_TYPES, ExpectedCall, FunctionDoc, ParamDoc
from rewardlab.rewards.tools.parse import ToolCall

_STANDARDIZE = re.compile(r"[ ,./\-_*^]")


@dataclass
class CallCheck:
    """Verdict of one candidate call against one expected call."""

    errors: list[str] = field(default_factory=list)
    arg_ok: dict[str, bool] = field(default_factory=dict)  # each argument the answer knows

    @property
    def ok(self) -> bool:
        return not self.errors


def standardize(text: str) -> str:
    """BFCL's ``standardize_string``: 'April 1, 2024' and 'april 1 2024' compare equal."""
    return _STANDARDIZE.sub("", text).lower().replace("'", '"')


def check_call(call: ToolCall, expected: ExpectedCall, doc: FunctionDoc | None) -> CallCheck:
    """All of BFCL's checks of ``call`` against ``expected`` (name, required, unexpected, values)."""
    result = CallCheck()
    if call.name != expected.name:
        result.errors.append(f"function {call.name!r} is not {expected.name!r}")
        return result
    for key in expected.required(doc):
        if key not in call.arguments:
            result.errors.append(f"{call.name}: missing required parameter {key!r}")
    for key, value in call.arguments.items():
        if key not in expected.params or (doc is not None and key not in doc.params):
            result.errors.append(f"{call.name}: unexpected parameter {key!r}")
            continue
        param_doc = doc.params.get(key) if doc is not None else None
        problem = check_argument(key, value, expected.params[key], param_doc)
        result.arg_ok[key] = problem is None
        if problem:
            result.errors.append(f"{call.name}: {problem}")
    for key, values in expected.params.items():
        if key not in call.arguments and OPTIONAL not in values and key not in expected.required(doc):
            result.errors.append(f"{call.name}: parameter {key!r} not given and not optional")
    return result


def _answer_type(acceptable: list[Any]) -> type | None:
    """The type of the first acceptable value that is not the optional marker."""
    return next((type(a) for a in acceptable if not (isinstance(a, str) and a == OPTIONAL)), None)


def check_argument(key: str, value: Any, acceptable: list[Any], doc: ParamDoc | None) -> str | None:
    """None if ``value`` is acceptable for parameter ``key``, else what is wrong."""
    answer_type = _answer_type(acceptable)
    expected = PY_TYPES[doc.type] if doc is not None else answer_type
    if expected is None:
        return None if value in acceptable else f"invalid value for {key!r}: {value!r}"
    if doc is not None and doc.type == "tuple" and type(value) is tuple:
        value = list(value)
    if expected is float and type(value) is int:
        value = float(value)
    items = PY_TYPES[doc.items] if doc is not None and doc.items else None
    is_variable = answer_type is not None and answer_type is not expected
    if type(value) is expected and (items is None or (isinstance(value, list) and _items_ok(value, acceptable, items))):
        pass
    elif answer_type is not None and type(value) is answer_type:
        is_variable = True  # BFCL: a value of the answers' own type, compared exactly below
    else:
        return f"wrong type for {key!r}: expected {doc.type if doc else expected.__name__}, got {type(value).__name__}"
    if not is_variable and _checked_by_kind(value, acceptable, expected, items):
        return None
    if (is_variable or expected not in (dict, list, str)) and value in acceptable:
        return None
    return f"invalid value for {key!r}: {value!r} (acceptable: {acceptable!r})"[:300]


def _items_ok(value: list[Any], acceptable: list[Any], items: type) -> bool:
    """BFCL's one-level nested type check: every element has the items' type (or the answer's)."""
    for answer in acceptable:
        if not isinstance(answer, list):
            return True  # BFCL passes when an acceptable value is not a list (e.g. the "" marker)
        element_type = _answer_type(answer)
        if all(type(v) is items or (element_type is not None and type(v) is element_type) for v in value):
            return True
    return False


def _checked_by_kind(value: Any, acceptable: list[Any], expected: type, items: type | None) -> bool:
    """The kind-specific comparison BFCL applies to values that are not variables."""
    if expected is dict:
        return _dict_ok(value, acceptable)
    if expected is list and items is dict:
        return any(
            isinstance(a, list) and len(a) == len(value)
            and all(isinstance(v, dict) and _dict_ok(v, [d]) for v, d in zip(value, a, strict=True))
            for a in acceptable
        )
    if expected is str:
        return standardize(value) in [standardize(a) for a in acceptable if isinstance(a, str)]
    if expected is list:
        return _std_list(value) in [_std_list(a) for a in acceptable if isinstance(a, list)]
    return False


def _std(value: Any) -> Any:
    return standardize(value) if isinstance(value, str) else value


def _std_list(values: list[Any]) -> list[Any]:
    return [_std(v) for v in values]


def _dict_ok(value: dict[Any, Any], acceptable: list[Any]) -> bool:
    """BFCL's ``dict_checker``: every key known and accepted, every missing key optional."""
    for answer in acceptable:
        if not isinstance(answer, dict):
            continue
        known = all(
            k in answer and isinstance(answer[k], list) and _std(v) in _std_list(answer[k])
            for k, v in value.items()
        )
        complete = all(k in value or OPTIONAL in v for k, v in answer.items() if isinstance(v, list))
        if known and complete:
            return True
    return False
