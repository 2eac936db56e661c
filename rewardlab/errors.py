"""Errors that name what is wrong and what to do about it."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError


class RewardlabError(Exception):
    """Base class of every error rewardlab raises on purpose."""


class SpecError(RewardlabError, ValueError):
    """An invalid pipeline spec or reward parameter; raised before any work is done."""


class InputError(RewardlabError, ValueError):
    """A malformed input row or batch."""


class MissingExtra(RewardlabError, ImportError):
    """An optional part of rewardlab is used but its extra is not installed."""


def _missing(what: str, extra: str, cause: str) -> str:
    """The one missing-extra message. rewardlab is installed from a clone (it is not on
    PyPI), so the command is ``pip install -e``."""
    return (f"{what} needs the '{extra}' extra ({cause}); install it from your clone of rewardlab: "
            f"pip install -e '.[{extra}]'")


def import_extra(module: str, extra: str, what: str) -> Any:
    """Import ``module`` of the optional ``extra``, or raise :class:`MissingExtra` saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(_missing(what, extra, str(exc))) from None


def require_extra(extra: str, what: str, *modules: str, error: type[Exception] = MissingExtra) -> None:
    """Check, without importing them, that ``modules`` of ``extra`` are installed, else raise
    ``error`` (a spec-time check passes SpecError) with the same message as :func:`import_extra`."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise error(_missing(what, extra, "missing: " + ", ".join(missing)))


class ReferenceProblem(ValueError):
    """A reference that cannot be scored against; rewards report it as ``invalid_reference``
    with this message (and ``rewardlab check`` lists it)."""


class SandboxUnavailable(RewardlabError, RuntimeError):
    """The kernel lacks an isolation feature the sandbox needs (fail closed)."""


M = TypeVar("M", bound=BaseModel)


def _allowed(model: type[BaseModel], key: str) -> str:
    field = model.model_fields.get(key)
    if field is None:
        return ""
    annotation = field.annotation
    args = getattr(annotation, "__args__", None)
    if getattr(annotation, "__origin__", None) is not None and args and all(
        isinstance(a, (str, int, float)) for a in args
    ):
        return f" (allowed: {', '.join(repr(a) for a in args)})"
    return ""


def validate_params(model: type[M], params: Mapping[str, Any], where: str) -> M:
    """Validate ``params`` with ``model``; turn pydantic's errors into a :class:`SpecError`.

    The message names the key, the problem and, where known, the allowed values.
    """
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            if not key:
                problems.append(f"parameters: {err['msg']} (got {err.get('input')!r})")
            elif err["type"] == "extra_forbidden":
                known = ", ".join(sorted(model.model_fields)) or "none"
                problems.append(f"unknown parameter {key!r} (known parameters: {known})")
            else:
                top = str(err["loc"][0]) if err["loc"] else ""
                got = err.get("input")
                problems.append(
                    f"parameter {key!r}: {err['msg']} (got {got!r}){_allowed(model, top)}"
                )
        raise SpecError(f"{where}: " + "; ".join(problems)) from None


def unknown_name(kind: str, name: str, known: Iterable[str], where: str = "") -> SpecError:
    """The error for an unknown registry name, listing the known ones."""
    prefix = f"{where}: " if where else ""
    names = ", ".join(sorted(known)) or "none registered"
    return SpecError(f"{prefix}unknown {kind} {name!r} (known {kind}s: {names})")
