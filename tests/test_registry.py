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


def test_the_builtin_table_names_what_each_module_registers() -> None:
    """``BUILTIN_REWARDS`` (which module a looked-up built-in's import needs) matches the decorators."""
    for kind in registry.KINDS:
        for name, entry in registry.entries(kind).items():
            defined = entry.factory.__module__
            if not defined.startswith("rewardlab."):
                continue  # a test's or a plugin's
            module = registry._REWARD_MODULES.get(name) if kind == "reward" else registry.BUILTIN_KINDS[kind]
            assert module is not None, f"built-in {kind} {name!r} is missing from registry.BUILTIN_REWARDS"
            assert defined == module or defined.startswith(module + "."), (kind, name, defined, module)
    listed = registry.entries("reward")
    assert [n for n in registry._REWARD_MODULES if n not in listed] == []


_LAZY = """
import sys
from rewardlab import SpecError, registry
registry.lookup("reward", "text.exact_match")
print(sorted(m for m in registry.BUILTIN_REWARDS if m in sys.modules))
try:
    registry.lookup("reward", "nope", "rewards.x")
except SpecError as exc:
    print(exc)
"""


def test_a_builtin_reward_imports_its_own_module_only_and_an_unknown_name_still_lists_every_one() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _LAZY], capture_output=True, text=True, check=True).stdout
    imported, error = out.splitlines()
    assert imported == "['rewardlab.rewards.text']"
    assert error.startswith("rewards.x: unknown reward 'nope' (known rewards: ")
    assert set(error.split("(known rewards: ")[1].rstrip(")").split(", ")) >= set(registry._REWARD_MODULES)


def test_a_plugin_is_loaded_after_builtins_were_looked_up_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    """Looking up a built-in does not load the plugins; naming a plugin's reward later still finds it."""
    calls = []

    def register_plugin() -> None:
        calls.append(1)

        @registry.register("reward", "thirdparty.later")
        class Later(BaseReward):
            """Another third-party reward."""

            name = "thirdparty.later"

            def score_one(self, sample: Sample, deps: Deps) -> Score:
                return Score.ok(1.0)

    monkeypatch.setattr(registry, "entry_points", lambda group: [_EntryPoint(register_plugin)])
    monkeypatch.setattr(registry, "_loaded", False)
    try:
        assert registry.lookup("reward", "math").name == "math"
        assert calls == []
        assert registry.lookup("reward", "thirdparty.later").description == "Another third-party reward."
        assert calls == [1]
    finally:
        registry._entries["reward"].pop("thirdparty.later", None)


_SHADOW = """
from rewardlab import registry
for kind, name in (("reward", "text.f1"), ("transform", "affine")):
    try:
        registry.register(kind, name)(type("Shadow", (), {"__module__": "my_plugin"}))
    except ValueError as exc:
        print(exc)
    else:
        print(registry.lookup(kind, name).factory.__module__)
"""


def test_a_plugin_cannot_take_a_builtin_name_before_the_builtin_is_imported() -> None:
    """A spec's ``plugins`` module registering ``text.f1`` (its built-in module not yet imported) is refused
    as a duplicate; before, the lazy lookup found the plugin's and silently scored with it instead."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _SHADOW], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["reward 'text.f1' is already registered by TokenF1",
                                "transform 'affine' is already registered by Affine"]


_SLOW_BUILTIN = """
import sys, threading, time
from rewardlab import registry
sys.path.insert(0, sys.argv[1])
registry._REWARD_MODULES["test.slow_import"] = "slow_builtin"  # a built-in whose import takes a moment
importer = threading.Thread(target=__import__, args=("slow_builtin",), daemon=True)
importer.start()
time.sleep(0.2)  # the import is under way, before its decorator
looker = threading.Thread(target=lambda: print(registry.lookup("reward", "test.slow_import").name), daemon=True)
looker.start()
looker.join(20)
importer.join(20)
print("deadlock" if looker.is_alive() or importer.is_alive() else "done")
"""


def test_looking_up_a_builtin_while_another_thread_imports_its_module_does_not_deadlock(tmp_path: Any) -> None:
    """Before, lookup imported the module holding the registry's lock while the importing thread, inside the
    module, waited on that lock in its decorator: both threads hung for good."""
    import subprocess
    import sys

    (tmp_path / "slow_builtin.py").write_text(
        "import time\nfrom rewardlab.registry import register\ntime.sleep(0.6)\n\n\n"
        "@register('reward', 'test.slow_import')\ndef slow(**params):\n    '''Slow to import.'''\n")
    out = subprocess.run([sys.executable, "-c", _SLOW_BUILTIN, str(tmp_path)], capture_output=True, text=True,
                         timeout=120).stdout
    assert out.split() == ["test.slow_import", "done"]


def test_a_second_thread_waits_for_the_first_whole_load_instead_of_reporting_a_plugin_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before, the first thread marked the registry loaded before importing anything: a second thread looking
    up a plugin meanwhile skipped the load and got 'unknown reward'."""
    import threading

    started, errors = threading.Event(), []

    def slow_plugin() -> None:
        started.set()
        threading.Event().wait(0.5)  # the second thread looks the plugin up now

        @registry.register("reward", "thirdparty.slow")
        class Slow(BaseReward):
            """A plugin slow to load."""

            name = "thirdparty.slow"

            def score_one(self, sample: Sample, deps: Deps) -> Score:
                return Score.ok(1.0)

    def second() -> None:
        started.wait(10)
        try:
            registry.lookup("reward", "thirdparty.slow")
        except SpecError as exc:
            errors.append(exc)

    monkeypatch.setattr(registry, "entry_points", lambda group: [_EntryPoint(slow_plugin)])
    monkeypatch.setattr(registry, "_loaded", False)
    try:
        thread = threading.Thread(target=second)
        thread.start()
        registry.entries("reward")
        thread.join(10)
        assert not thread.is_alive() and errors == []
    finally:
        registry._entries["reward"].pop("thirdparty.slow", None)
