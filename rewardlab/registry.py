"""Names -> factories for rewards, transforms, combiners, advantage estimators, filters and audit probes.

Built-ins register themselves with the decorators below when their module is
imported. Third-party packages add theirs through the ``rewardlab.plugins`` entry
point group: each entry point names a module (imported for its decorators) or a
callable taking no arguments.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Literal, TypeVar

from rewardlab.errors import SpecError, unknown_name

Kind = Literal["reward", "transform", "combiner", "advantage", "filter", "probe"]
KINDS: tuple[Kind, ...] = ("reward", "transform", "combiner", "advantage", "filter", "probe")

# Modules whose import registers the built-ins. One line per module.
BUILTIN_MODULES: tuple[str, ...] = (
    "rewardlab.rewards.precomputed",
    "rewardlab.rewards.format",
    "rewardlab.rewards.length",
    "rewardlab.rewards.text",
    "rewardlab.rewards.math",
    "rewardlab.rewards.code",
    "rewardlab.rewards.judge",
    "rewardlab.rewards.judge_pairwise",
    "rewardlab.rewards.group",
    "rewardlab.rewards.model_rm",
    "rewardlab.rewards.model_prm",
    "rewardlab.rewards.model_likelihood",
    "rewardlab.rewards.model_similarity",
    "rewardlab.rewards.tools",
    "rewardlab.rewards.spatial",
    "rewardlab.rewards.text_metrics",
    "rewardlab.rewards.ranking",
    "rewardlab.rewards.constraints",
    "rewardlab.rewards.sql",
    "rewardlab.transforms",
    "rewardlab.combine",
    "rewardlab.advantages",
    "rewardlab.filters",
    "rewardlab.evaluate.audit.probes",
)


@dataclass(frozen=True)
class Entry:
    kind: Kind
    name: str
    factory: Callable[..., Any]
    description: str


_entries: dict[Kind, dict[str, Entry]] = {k: {} for k in KINDS}
_loaded = False
_lock = threading.RLock()

T = TypeVar("T")


def register(kind: Kind, name: str, description: str = "") -> Callable[[T], T]:
    """Class or function decorator registering ``name`` under ``kind``.

    The description defaults to the first line of the object's docstring.
    """

    def deco(obj: T) -> T:
        doc = description or (getattr(obj, "__doc__", None) or "").strip().splitlines()[0:1]
        text = doc if isinstance(doc, str) else (doc[0] if doc else "")
        with _lock:
            previous = _entries[kind].get(name)
            if previous is not None and previous.factory is not obj:
                qual = getattr(previous.factory, "__qualname__", previous.factory)
                if getattr(obj, "__qualname__", None) != qual:
                    raise ValueError(f"{kind} {name!r} is already registered by {qual}")
            _entries[kind][name] = Entry(kind, name, obj, text)  # type: ignore[arg-type]
        return obj

    return deco


def _load() -> None:
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        _loaded = True
        for module in BUILTIN_MODULES:
            importlib.import_module(module)
        for ep in entry_points(group="rewardlab.plugins"):
            loaded = ep.load()
            if callable(loaded) and not isinstance(loaded, type):
                loaded()


def entries(kind: Kind) -> dict[str, Entry]:
    """All registered entries of one kind, by name."""
    _load()
    return dict(_entries[kind])


def lookup(kind: Kind, name: str, where: str = "") -> Entry:
    """The entry for ``name``, or a :class:`SpecError` listing the known names."""
    _load()
    try:
        return _entries[kind][name]
    except KeyError:
        raise unknown_name(kind, name, _entries[kind], where) from None


def create(kind: Kind, name: str, params: dict[str, Any] | None = None, where: str = "") -> Any:
    """Build the registered object ``name`` with ``params`` (validated by the object)."""
    entry = lookup(kind, name, where)
    try:
        return entry.factory(**(params or {}))
    except SpecError as exc:
        if not where:
            raise
        raise SpecError(f"{where}: {exc}") from None
