"""The registry: built-ins, third-party plugins through entry points, clear errors."""

from __future__ import annotations

from typing import Any

import pytest

from rewardlab import SpecError, get_reward, registry
from rewardlab.core import BaseReward, Deps, Sample, Score


class _EntryPoint:
    def __init__(self, target: Any) -> None:
        self.target = target

    def load(self) -> Any:
        return self.target


def test_entry_point_plugins_are_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    def register_plugin() -> None:
        @registry.register("reward", "thirdparty.const")
        class Const(BaseReward):
            """A third-party reward."""

            name = "thirdparty.const"

            def score_one(self, sample: Sample, deps: Deps) -> Score:
                return Score.ok(0.5)

    def fake_entry_points(group: str) -> list[_EntryPoint]:
        assert group == "rewardlab.plugins"
        return [_EntryPoint(register_plugin)]

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    monkeypatch.setattr(registry, "_loaded", False)
    try:
        entry = registry.lookup("reward", "thirdparty.const")
        assert entry.description == "A third-party reward."
        assert get_reward("thirdparty.const").score([{"completion": "x"}])[0].value == 0.5
    finally:
        registry._entries["reward"].pop("thirdparty.const", None)


def test_every_builtin_has_a_description() -> None:
    for kind in registry.KINDS:
        for name, entry in registry.entries(kind).items():
            assert entry.description, f"{kind} {name!r} has no description"


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(SpecError, match=r"unknown reward 'nope' \(known rewards: .*math"):
        get_reward("nope")


def test_duplicate_registration_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        @registry.register("reward", "math")
        class Other(BaseReward):
            name = "math"
