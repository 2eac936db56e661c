"""Invalid specs fail before any work, with a message naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rewardlab import SpecError
from rewardlab.pipeline import Pipeline
from rewardlab.spec import load_spec

BASE: dict[str, Any] = {"rewards": {"fmt": {"type": "format.tags"}}}


def _with(**tables: Any) -> dict[str, Any]:
    return {**BASE, **tables}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"rewards": {"x": {"type": "nope"}}}, r"rewards\.x: unknown reward 'nope' \(known rewards: .*format\.tags"),
        ({"rewards": {"x": {}}}, r"rewards\.x: missing 'type'"),
        (
            {"rewards": {"x": {"type": "format.tags", "weight": "heavy"}}},
            r"rewards\.x\.weight: must be a finite number",
        ),
        (
            {"rewards": {"x": {"type": "format.tags", "tagz": ["a"]}}},
            r"reward 'format\.tags': unknown parameter 'tagz' "
            r"\(known parameters: allow_outside, partial_credit, require_content, tags\)",
        ),
        ({"rewards": {"x": {"type": "format.tags", "tags": "think"}}}, r"parameter 'tags': .*list"),
        (
            {"rewards": {"x": {"type": "text.exact_match", "extract": "last"}}},
            r"parameter 'extract'.*'full'.*'answer_tag'",
        ),
        ({"rewards": {"x": {"type": "length.overlong", "max_tokens": 10}}}, r"parameter 'buffer': Field required"),
        (
            {"rewards": {"x": {"type": "length.overlong", "max_tokens": 10, "buffer": 20}}},
            r"buffer \(20\) must not exceed",
        ),
        ({"rewards": {"x": {"type": "math", "timeout": -1}}}, r"rewards\.x\.timeout: must be > 0"),
        ({"rewards": {"c": {"type": "length.cosine", "max_tokens": 9}}}, r"rewards\.c: needs component 'correct'"),
        (_with(combine={"method": "avg"}), r"combine: unknown combiner 'avg' \(known combiners: .*weighted_sum"),
        (_with(advantage={"method": "ppo"}), r"advantage: unknown advantage 'ppo'"),
        (_with(advantage={}), r"advantage: missing 'method'"),
        (_with(advantage={"method": "grpo", "eps": "small"}), r"advantage 'grpo': parameter 'eps'"),
        (_with(reward={"type": "x"}), r"unknown top-level key 'reward' \(allowed: .*rewards"),
        (_with(engine={"workers": "two"}), r"engine: parameter 'workers'"),
        (_with(run={"batch_size": 0}), r"run\.batch_size: must be a positive integer"),
        (_with(run={"length_unit": "bytes"}), r"run\.length_unit: got 'bytes' \(allowed: auto, tokens"),
        (_with(transforms=[{"type": "clip"}]), r"transforms\[0\]: .*give at least one of 'low' and 'high'"),
        (_with(transforms={"type": "clip"}), r"transforms: must be a list"),
        (_with(plugins=["no.such.module"]), r"plugins: cannot import 'no\.such\.module'"),
        ({"rewards": {"score": {"type": "format.tags"}}}, r"rewards\.score: 'score' is a name .*reserved: id"),
        ({"rewards": {"fmt_status": {"type": "format.tags"}}}, r"rewards\.fmt_status: .*ending in _status"),
        ({"rewards": {"advantage": {"type": "format.tags"}}}, r"rewards\.advantage: 'advantage' is a name"),
    ],
)
def test_invalid_spec_names_the_key(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        Pipeline.from_spec(spec)


def test_dependency_cycle_is_reported() -> None:
    spec = {
        "rewards": {
            "a": {"type": "length.cosine", "correctness": "b", "max_tokens": 5},
            "b": {"type": "length.cosine", "correctness": "a", "max_tokens": 5},
        }
    }
    with pytest.raises(SpecError, match="dependency cycle a -> b -> a"):
        load_spec(spec)


def test_toml_file_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[rewards.x\ntype=1")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(bad)


def test_toml_spec_from_design_doc(tmp_path: Path) -> None:
    path = tmp_path / "spec.toml"
    path.write_text(
        '[rewards.format]\ntype = "format.tags"\nweight = 0.1\ntags = ["think", "answer"]\n'
        '[rewards.length]\ntype = "length.overlong"\nmax_tokens = 4096\nbuffer = 512\n'
        '[combine]\nmethod = "weighted_sum"\n[advantage]\nmethod = "grpo"\n'
    )
    spec = load_spec(path)
    assert [c.name for c in spec.components] == ["format", "length"]
    assert spec.components[0].weight == 0.1
    assert spec.components[1].reward.params.max_tokens == 4096


def test_timeout_key_only_where_the_engine_enforces_it() -> None:
    with pytest.raises(SpecError, match=r"rewards\.x\.timeout: the engine enforces per-sample limits on cpu and io"):
        load_spec({"rewards": {"x": {"type": "format.tags", "timeout": 1.0}}})
    assert load_spec({"rewards": {"x": {"type": "math", "timeout": 1.0}}}).components[0].timeout == 1.0
