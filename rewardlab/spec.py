"""TOML spec -> validated pipeline parts, failing before any work with named keys.

A spec has these top-level tables (all optional but at least one reward or a
precomputed ``reward`` column in the data)::

    [rewards.NAME]      type = "<registry name>", weight (a number, or a schedule table
                        {schedule = "linear", start, end, steps}), on_unscorable, timeout,
                        transforms = [{type = "...", ...}], other keys = reward params
    [combine]           method = "<combiner>", other keys = combiner params
    [[transforms]]      transforms applied to the combined reward, in order
    [steps]             process (step-level) rewards: key = "step_rewards" (meta key, or
                        a component whose detail has step_rewards, e.g. model.prm),
                        transforms = [{type = "prm_clip", eta = 0.5}], add_outcome = true,
                        gate = 1.0 (G-RA: steps count only when the outcome reaches it)
    [[filters]]         samples to leave out of the update: type = "zero_variance" / "prof", params
    [advantage]         method = "<estimator>", other keys = estimator params
    [engine]            workers, timeout, cache_size, ... (see EngineConfig)
    [run]               batch_size, length_unit

``plugins = ["my_pkg.rewards"]`` (top level) imports modules whose ``@register``
decorators add rewards, for code that is not packaged with an entry point.
"""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardlab import registry
from rewardlab.errors import SpecError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TOP_LEVEL = ("plugins", "rewards", "combine", "transforms", "steps", "filters", "advantage", "engine", "run")
COMPONENT_KEYS = ("type", "weight", "on_unscorable", "timeout", "transforms")
LENGTH_UNITS = ("auto", "tokens", "words", "chars")
# Names the results table and the trainer adapters write themselves ("score" is what verl
# trains on): a component of that name would silently replace them.
RESERVED_NAMES = ("id", "group", "reward", "status", "advantage", "detail", "elapsed", "score",
                  "rewardlab_unscorable", "step_rewards_shaped", "step_advantages", "keep")
RESERVED_SUFFIXES = ("_status", "_shaped")  # every component's own extra columns


@dataclass
class ComponentSpec:
    name: str
    reward: Any
    weight: float = 1.0
    schedule: Any | None = None  # a WeightSchedule when ``weight`` is a table
    on_unscorable: float | None = None
    timeout: float | None = None
    transforms: list[Any] = field(default_factory=list)


@dataclass
class StepsSpec:
    """Step-level process rewards read from ``meta[key]`` and shaped in order."""

    key: str = "step_rewards"
    transforms: list[Any] = field(default_factory=list)
    add_outcome: bool = True  # add the combined reward at each sample's last step
    gate: float | None = None  # G-RA: steps count only when the outcome >= gate


@dataclass
class Spec:
    components: list[ComponentSpec]
    combiner: Any
    transforms: list[Any]
    advantage: Any | None
    engine: dict[str, Any]
    steps: StepsSpec | None = None
    filters: list[Any] = field(default_factory=list)
    batch_size: int = 1024
    length_unit: str = "auto"
    raw: dict[str, Any] = field(default_factory=dict)


def load_spec(source: str | Path | Mapping[str, Any]) -> Spec:
    """Parse and validate a spec from a TOML path or a dict."""
    if isinstance(source, Mapping):
        data = dict(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise SpecError(f"spec file {str(path)!r} does not exist")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(f"spec file {str(path)!r} is not valid TOML: {exc}") from None
        return parse_spec(data, path.resolve().parent)
    return parse_spec(data)


def parse_spec(data: Mapping[str, Any], spec_dir: Path | None = None) -> Spec:
    """Validate ``data``; plugin modules are looked up beside the spec file, then in the working directory."""
    for key in data:
        if key not in TOP_LEVEL:
            raise SpecError(f"unknown top-level key {key!r} (allowed: {', '.join(TOP_LEVEL)})")
    _import_plugins(data.get("plugins", []), [d for d in (spec_dir, Path.cwd()) if d is not None])
    rewards = _table(data, "rewards", "")
    components = [_component(name, _table(rewards, name, "rewards")) for name in rewards]
    _check_dependencies(components)
    combine = dict(_table(data, "combine", ""))
    method = combine.pop("method", "weighted_sum")
    combiner = registry.create("combiner", _str(method, "combine.method"), combine, "combine")
    advantage = None
    if "advantage" in data:
        adv = dict(_table(data, "advantage", ""))
        if "method" not in adv:
            raise SpecError("advantage: missing 'method' (e.g. method = \"grpo\")")
        name = _str(adv.pop("method"), "advantage.method")
        advantage = registry.create("advantage", name, adv, "advantage")
    run = dict(_table(data, "run", ""))
    batch_size = run.pop("batch_size", 1024)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise SpecError(f"run.batch_size: must be a positive integer, got {batch_size!r}")
    length_unit = run.pop("length_unit", "auto")
    if length_unit not in LENGTH_UNITS:
        raise SpecError(f"run.length_unit: got {length_unit!r} (allowed: {', '.join(LENGTH_UNITS)})")
    if run:
        raise SpecError(f"run: unknown key(s) {sorted(run)} (allowed: batch_size, length_unit)")
    engine = dict(_table(data, "engine", ""))
    from rewardlab.engine import EngineConfig
    from rewardlab.errors import validate_params

    validate_params(EngineConfig, engine, "engine")
    return Spec(
        steps=_steps(data["steps"]) if "steps" in data else None,
        components=components,
        combiner=combiner,
        transforms=_transforms(data.get("transforms", []), "transforms"),
        advantage=advantage,
        filters=_filters(data.get("filters", [])),
        engine=engine,
        batch_size=batch_size,
        length_unit=length_unit,
        raw=dict(data),
    )


def _import_plugins(modules: Any, dirs: list[Path]) -> None:
    """Import each plugin module, with ``dirs`` on ``sys.path`` (appended: they never shadow installed modules).

    The dirs stay on the path: the engine's workers inherit it, and cloudpickle finds the
    plugin's classes there by module name.
    """
    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        raise SpecError(f"plugins: must be a list of module names, got {modules!r}")
    for d in dirs:
        if modules and str(d) not in sys.path:
            sys.path.append(str(d))
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise SpecError(f"plugins: cannot import {module!r}: {exc}") from None


def _table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        path = f"{where}.{key}" if where else key
        raise SpecError(f"{path}: must be a table, got {type(value).__name__}")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise SpecError(f"{where}: must be a string, got {value!r}")
    return value


def _number(value: Any, where: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SpecError(f"{where}: must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise SpecError(f"{where}: must be > 0, got {value!r}")
    return float(value)


def _component(name: str, table: Mapping[str, Any]) -> ComponentSpec:
    where = f"rewards.{name}"
    if name in RESERVED_NAMES or name.endswith(RESERVED_SUFFIXES) or "/" in name:
        raise SpecError(f"{where}: {name!r} is a name rewardlab or a trainer writes itself (reserved: "
                        f"{', '.join(RESERVED_NAMES)}, names ending in {' or '.join(RESERVED_SUFFIXES)}, "
                        "names with '/'); rename the component, e.g. [rewards.correct]")
    if "type" not in table:
        raise SpecError(f"{where}: missing 'type' (run `rewardlab list` for the reward types)")
    params = {k: v for k, v in table.items() if k not in COMPONENT_KEYS}
    reward = registry.create("reward", _str(table["type"], f"{where}.type"), params, where)
    spec = ComponentSpec(name=name, reward=reward)
    if isinstance(table.get("weight"), Mapping):
        from rewardlab.errors import validate_params
        from rewardlab.schedules import WeightSchedule

        spec.schedule = validate_params(WeightSchedule, dict(table["weight"]), f"{where}.weight")
        spec.weight = spec.schedule.at(0)
    elif "weight" in table:
        spec.weight = _number(table["weight"], f"{where}.weight")
    if table.get("on_unscorable") is not None:
        spec.on_unscorable = _number(table["on_unscorable"], f"{where}.on_unscorable")
    if "timeout" in table:
        spec.timeout = _number(table["timeout"], f"{where}.timeout", positive=True)
        cost = getattr(reward, "cost", None)
        if cost is not None and str(getattr(cost, "value", cost)) not in ("cpu", "io"):
            raise SpecError(
                f"{where}.timeout: the engine enforces per-sample limits on cpu and io rewards only; "
                f"{table['type']!r} runs {getattr(cost, 'value', cost)} (see its own time-limit parameter)"
            )
    spec.transforms = _transforms(table.get("transforms", []), f"{where}.transforms")
    return spec


def _steps(table: Any) -> StepsSpec:
    if not isinstance(table, Mapping):
        raise SpecError(f"steps: must be a table, got {type(table).__name__}")
    unknown = set(table) - {"key", "transforms", "add_outcome", "gate"}
    if unknown:
        raise SpecError(f"steps: unknown key(s) {sorted(unknown)} (allowed: add_outcome, gate, key, transforms)")
    key = _str(table.get("key", "step_rewards"), "steps.key")
    add_outcome = table.get("add_outcome", True)
    if not isinstance(add_outcome, bool):
        raise SpecError(f"steps.add_outcome: must be true or false, got {add_outcome!r}")
    gate = _number(table["gate"], "steps.gate") if "gate" in table else None
    return StepsSpec(key, _transforms(table.get("transforms", []), "steps.transforms", step_level=True),
                     add_outcome, gate)


def _transforms(items: Any, where: str, step_level: bool = False) -> list[Any]:
    if not isinstance(items, list):
        raise SpecError(f"{where}: must be a list of tables like [{{type = \"clip\", low = 0}}]")
    out = []
    for i, item in enumerate(items):
        transform = _create("transform", item, f"{where}[{i}]")
        if getattr(transform, "step_level", False) != step_level:
            hint = "it works on step rewards: put it under [steps] transforms" if not step_level else (
                "it works on one value per sample: put it in a component's or the top-level transforms")
            raise SpecError(f"{where}[{i}]: transform {item['type']!r} cannot be used here; {hint}")
        out.append(transform)
    return out


def _filters(items: Any) -> list[Any]:
    if not isinstance(items, list):
        raise SpecError('filters: must be a list of tables like [{type = "zero_variance"}]')
    return [_create("filter", item, f"filters[{i}]") for i, item in enumerate(items)]


def _create(kind: registry.Kind, item: Any, where: str) -> Any:
    """One ``{type = "...", params...}`` table of a list: the registered object it names."""
    if not isinstance(item, Mapping) or "type" not in item:
        raise SpecError(f"{where}: must be a table with a 'type'")
    params = {k: v for k, v in item.items() if k != "type"}
    return registry.create(kind, _str(item["type"], f"{where}.type"), params, where)


def _check_dependencies(components: list[ComponentSpec]) -> None:
    names = {c.name for c in components}
    for c in components:
        for dep in c.reward.requires():
            if dep not in names:
                raise SpecError(
                    f"rewards.{c.name}: needs component {dep!r}, which the spec does not define "
                    f"(defined: {', '.join(sorted(names))})"
                )
    order_components(components)


def order_components(components: list[ComponentSpec]) -> list[ComponentSpec]:
    """Components in dependency order (a component after those it requires)."""
    by_name = {c.name: c for c in components}
    done: list[ComponentSpec] = []
    state: dict[str, int] = {}

    def visit(c: ComponentSpec, chain: tuple[str, ...]) -> None:
        if state.get(c.name) == 2:
            return
        if state.get(c.name) == 1:
            raise SpecError(f"rewards: dependency cycle {' -> '.join((*chain, c.name))}")
        state[c.name] = 1
        for dep in c.reward.requires():
            visit(by_name[dep], (*chain, c.name))
        state[c.name] = 2
        done.append(c)

    for c in components:
        visit(c, ())
    return done
