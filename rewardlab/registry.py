"""Names -> factories for rewards, transforms, combiners, advantage estimators, filters and audit probes.

Built-ins register themselves with the decorators below when their module is
imported: a built-in's module when it is first looked up (``BUILTIN_REWARDS`` names each
reward's), every module when all entries are listed or a name is not a built-in.
Third-party packages add theirs through the ``rewardlab.plugins`` entry point group
(loaded with all the built-ins): each entry point names a module (imported for its
decorators) or a callable taking no arguments.
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

# Built-in rewards by the module whose import registers them (its decorators): a reward's module is
# imported only when a spec names it, as importing all of them cost every pipeline ~0.17 s of setup.
# tests/test_registry.py checks this table against what the decorators register.
BUILTIN_REWARDS: dict[str, tuple[str, ...]] = {
    "rewardlab.rewards.precomputed": ("precomputed",),
    "rewardlab.rewards.format": ("format.tags",),
    "rewardlab.rewards.length": ("length.overlong", "length.cosine", "length.kimi"),
    "rewardlab.rewards.text": ("text.exact_match", "text.reasoning_pattern"),
    "rewardlab.rewards.math": ("math",),
    "rewardlab.rewards.code": ("code.pass_rate", "code.all_pass", "code.dense", "code.speedup"),
    "rewardlab.rewards.judge": ("judge.rubric", "judge.principles", "judge.checklist", "judge.reference"),
    "rewardlab.rewards.judge_pairwise": ("judge.pairwise",),
    "rewardlab.rewards.group": ("group.majority", "group.co_reward"),
    "rewardlab.rewards.model_rm": ("model.rm",),
    "rewardlab.rewards.model_prm": ("model.prm",),
    "rewardlab.rewards.model_likelihood": ("model.likelihood", "model.dpo_implicit"),
    "rewardlab.rewards.model_similarity": ("model.similarity",),
    "rewardlab.rewards.tools": ("tools.call", "tools.schema"),
    "rewardlab.rewards.spatial": ("spatial.iou", "spatial.point_in_box", "spatial.gui_g2", "spatial.temporal_iou",
                                  "spatial.multi_box"),
    "rewardlab.rewards.text_metrics": ("text.f1", "text.bleu", "text.chrf", "text.rouge", "text.keywords",
                                       "text.diversity"),
    "rewardlab.rewards.ranking": ("rank.ndcg", "rank.recall_at_k"),
    "rewardlab.rewards.constraints": ("constraints.ifeval",),
    "rewardlab.rewards.sql": ("sql.execution", "sql.partial"),
}
# Every other kind's built-ins live in one module, imported when that kind is first looked up.
BUILTIN_KINDS: dict[Kind, str] = {
    "transform": "rewardlab.transforms",
    "combiner": "rewardlab.combine",
    "advantage": "rewardlab.advantages",
    "filter": "rewardlab.filters",
    "probe": "rewardlab.evaluate.audit.probes",
}
BUILTIN_MODULES: tuple[str, ...] = (*BUILTIN_REWARDS, *BUILTIN_KINDS.values())
_REWARD_MODULES = {name: module for module, names in BUILTIN_REWARDS.items() for name in names}


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
        builtin = _builtin_module(kind, name)
        owner = str(getattr(obj, "__module__", ""))
        if builtin is not None and owner != builtin and not owner.startswith(builtin + "."):
            # the built-in registers first, so a plugin taking its name is refused below rather than found
            # by a lookup that has not imported the built-in's module yet (imported outside the lock, which
            # the module's own decorators take)
            importlib.import_module(builtin)
        with _lock:
            previous = _entries[kind].get(name)
            if previous is not None and previous.factory is not obj:
                qual = getattr(previous.factory, "__qualname__", previous.factory)
                if getattr(obj, "__qualname__", None) != qual:
                    raise ValueError(f"{kind} {name!r} is already registered by {qual}")
            _entries[kind][name] = Entry(kind, name, obj, text)  # type: ignore[arg-type]
        return obj

    return deco


def _builtin_module(kind: Kind, name: str) -> str | None:
    """The module whose import registers the built-in ``name`` of ``kind`` (for a kind other than
    reward: the module of all its built-ins), or None when no built-in reward has that name."""
    return _REWARD_MODULES.get(name) if kind == "reward" else BUILTIN_KINDS[kind]


_load_lock = threading.Lock()  # one whole-registry load at a time (not the entries' lock: see _load)
_loading = threading.local()  # set while this thread runs _load (an import below may look a name up)


def _load() -> None:
    """Import every built-in module and the plugins, once. A second thread waits for the first to
    finish (it used to find ``_loaded`` set before the imports ran and report a plugin as unknown). The
    imports run without the entries' lock, which their decorators take: holding it here could
    deadlock with a thread importing one of those modules through a lookup."""
    global _loaded
    if _loaded or getattr(_loading, "active", False):
        return
    with _load_lock:
        if _loaded:
            return
        _loading.active = True
        try:
            for module in BUILTIN_MODULES:
                importlib.import_module(module)
            for ep in entry_points(group="rewardlab.plugins"):
                loaded = ep.load()
                if callable(loaded) and not isinstance(loaded, type):
                    loaded()
            _loaded = True
        finally:
            _loading.active = False


def entries(kind: Kind) -> dict[str, Entry]:
    """All registered entries of one kind, by name."""
    _load()
    return dict(_entries[kind])


def lookup(kind: Kind, name: str, where: str = "") -> Entry:
    """The entry for ``name``, or a :class:`SpecError` listing the known names.

    A built-in's module is imported on its first lookup; any other name loads every built-in
    and the plugins first (so an unknown name's error lists them all).
    """
    found = _entries[kind].get(name)
    if found is None:
        module = _builtin_module(kind, name)
        if module is not None:  # not under the lock: the module's decorators take it (import is thread-safe)
            importlib.import_module(module)
            found = _entries[kind].get(name)
    if found is None:
        _load()
        found = _entries[kind].get(name)
    if found is None:
        raise unknown_name(kind, name, _entries[kind], where)
    return found


def create(kind: Kind, name: str, params: dict[str, Any] | None = None, where: str = "") -> Any:
    """Build the registered object ``name`` with ``params`` (validated by the object)."""
    entry = lookup(kind, name, where)
    try:
        return entry.factory(**(params or {}))
    except SpecError as exc:
        if not where:
            raise
        raise SpecError(f"{where}: {exc}") from None
