"""Pipeline end to end: unscorable semantics, precomputed rewards, results table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rewardlab import Sample, Status
from rewardlab.engine import Engine
from rewardlab.pipeline import Pipeline

GOOD = "<think>ok</think><answer>4</answer>"


def _rows(*completions: str, group: str = "g") -> list[dict[str, Any]]:
    return [{"id": f"r{i}", "group": group, "completion": c, "reference": "4"} for i, c in enumerate(completions)]


def test_weighted_sum_and_columns() -> None:
    p = Pipeline.from_spec({"rewards": {
        "fmt": {"type": "format.tags", "weight": 0.5},
        "em": {"type": "text.exact_match", "extract": "answer_tag", "weight": 2.0},
    }})
    res = p.run(_rows(GOOD, "<answer>5</answer>"))
    assert res.rewards == [2.5, 0.0]
    row = res[1]
    assert row["fmt"] == 0.0 and row["em"] == 0.0 and row["fmt_status"] == "ok"
    assert row["detail"]["em"]["extracted"] == "5"
    assert "advantage" not in row


def test_unscorable_propagates_and_is_excluded_from_stats(engine: Engine) -> None:
    p = Pipeline.from_spec({
        "plugins": ["tests.plugin_rewards"],
        "rewards": {"cpu": {"type": "test.cpu", "timeout": 0.5}, "fmt": {"type": "format.tags"}},
        "advantage": {"method": "grpo"},
    }, engine=engine)
    res = p.run(_rows("aaaa", "hang", "bb", "boom"))
    assert res.column("cpu") == [4.0, None, 2.0, None]
    assert res.column("cpu_status") == ["ok", "timeout", "ok", "error"]
    assert res.rewards == [4.0, None, 2.0, None]
    assert res.column("status") == ["ok", "timeout", "ok", "error"]
    adv = res.column("advantage")
    assert adv[1] is None and adv[3] is None
    expected = (np.array([4.0, 2.0]) - 3.0) / (np.std([4.0, 2.0], ddof=1) + 1e-6)
    assert adv[0] == pytest.approx(expected[0]) and adv[2] == pytest.approx(expected[1])
    stats = res.stats("cpu")
    assert stats.mean == 3.0 and stats.scored == 2 and stats.unscorable == {"error": 1, "timeout": 1}
    assert stats.fraction_unscorable == 0.5


def test_on_unscorable_maps_to_a_value(engine: Engine) -> None:
    p = Pipeline.from_spec({
        "plugins": ["tests.plugin_rewards"],
        "rewards": {"cpu": {"type": "test.cpu", "on_unscorable": -1.0}},
    }, engine=engine)
    res = p.run(_rows("aa", "boom"))
    assert res.rewards == [2.0, -1.0]
    assert res.column("cpu_status") == ["ok", "error"]  # the status still says why


def test_precomputed_rewards_without_reward_table() -> None:
    p = Pipeline.from_spec({"advantage": {"method": "grpo"}})
    rows = [{"id": i, "group": "g", "reward": r} for i, r in enumerate([1.0, 0.0, None, 1.0])]
    res = p.run(rows)
    assert res.rewards == [1.0, 0.0, None, 1.0]
    assert res.column("reward_status") == ["ok", "ok", "missing", "ok"]
    assert res.column("advantage")[2] is None


def test_precomputed_components_by_key() -> None:
    p = Pipeline.from_spec({"rewards": {
        "acc": {"type": "precomputed", "key": "acc", "weight": 1.0},
        "fmt": {"type": "precomputed", "key": "fmt", "weight": 0.5},
    }})
    res = p.run([{"id": 1, "rewards": {"acc": 1.0, "fmt": 0.0}}, {"id": 2, "acc": 0.0, "fmt": 1.0}])
    assert res.rewards == [1.0, 0.5]


def test_zero_variance_groups_in_summary() -> None:
    p = Pipeline.from_spec({"advantage": {"method": "grpo"}})
    rows = [{"group": "a", "reward": 1.0}, {"group": "a", "reward": 1.0},
            {"group": "b", "reward": 0.0}, {"group": "b", "reward": 1.0}]
    res = p.run(rows)
    assert res.stats("reward").zero_variance_groups == 0.5
    assert res.column("advantage")[:2] == [0.0, 0.0]


def test_dependent_component_receives_scores() -> None:
    p = Pipeline.from_spec({"rewards": {
        "len": {"type": "length.cosine", "correctness": "em", "max_tokens": 100},
        "em": {"type": "text.exact_match", "extract": "answer_tag"},
    }})
    res = p.run(_rows(GOOD, "<answer>5</answer>", "none"))
    assert res.column("len_status") == ["ok", "ok", "ok"]
    assert res[0]["len"] > 1.0 > 0 > res[1]["len"]
    assert list(res[0])[:8] == ["id", "group", "reward", "status", "len", "len_status", "em", "em_status"]


def test_check_reports_missing_references() -> None:
    p = Pipeline.from_spec({"rewards": {"em": {"type": "text.exact_match"}}})
    rows: list[dict[str, Any]] = [{"id": "a", "reference": "x"}, {"id": "b", "reference": ""}, {"id": "c"},
            {"id": "d", "reference": {"k": 1}}]
    problems = p.check([{**r, "completion": "x"} for r in rows])
    assert [(p["id"], p["component"]) for p in problems] == [("b", "em"), ("c", "em"), ("d", "em")]
    assert "missing or empty" in problems[0]["problem"]


def test_samples_may_be_objects_or_dicts() -> None:
    p = Pipeline.from_spec({"rewards": {"fmt": {"type": "format.tags"}}})
    res = p.run([Sample("a", completion=GOOD), {"id": "b", "completion": GOOD}])
    assert res.rewards == [1.0, 1.0] and res.column("id") == ["a", "b"]


def test_transforms_add_columns_and_keep_raw() -> None:
    p = Pipeline.from_spec({"rewards": {"r": {"type": "precomputed", "transforms": [{"type": "clip", "high": 0.5}]}}})
    res = p.run([{"reward": 2.0}, {"reward": 0.1}, {"reward": None}])
    assert res.column("r") == [2.0, 0.1, None]
    assert res.column("r_shaped") == [0.5, 0.1, None]
    assert res.rewards == [0.5, 0.1, None]
    assert res.column("status")[2] == Status.MISSING.value


def test_step_level_process_rewards_and_renorm() -> None:
    p = Pipeline.from_spec({
        "steps": {"transforms": [{"type": "prm_clip", "eta": 0.5}]},
        "advantage": {"method": "renorm"},
    })
    rows: list[dict[str, Any]] = [
        {"id": "a", "reward": 1.0, "step_rewards": [0.9, 0.2]},
        {"id": "b", "reward": 0.0, "step_rewards": [0.6]},
        {"id": "c", "reward": None, "step_rewards": [0.5]},
        {"id": "d", "reward": 1.0},
    ]
    res = p.run(rows)
    # prm_clip: min(r - eta, 0), outcome added at the last step
    assert res.column("step_rewards_shaped") == [pytest.approx([0.0, -0.3 + 1.0]), pytest.approx([0.0]), None, None]
    # renorm on the shaped steps: r_t + R - 1
    assert res.column("step_advantages") == [pytest.approx([0.0, -0.3 + 1.0]), pytest.approx([-1.0]), None, None]


def test_step_transforms_are_rejected_where_values_are_per_sample() -> None:
    from rewardlab import SpecError

    with pytest.raises(SpecError, match=r"transforms\[0\]: transform 'prm_clip' cannot be used here.*\[steps\]"):
        Pipeline.from_spec({"transforms": [{"type": "prm_clip", "eta": 0.1}]})
    with pytest.raises(SpecError, match=r"steps.transforms\[0\]: transform 'clip' cannot be used here"):
        Pipeline.from_spec({"steps": {"transforms": [{"type": "clip", "low": 0}]}})


def test_stateful_transform_state_roundtrip() -> None:
    spec = {"rewards": {"r": {"type": "precomputed", "transforms": [{"type": "normalize"}]}}}
    p = Pipeline.from_spec(spec)
    p.run([{"reward": v} for v in (1.0, 2.0, 3.0)])
    state = p.state_dict()
    assert list(state) == ["rewards.r.transforms.0"]
    q = Pipeline.from_spec(spec)
    q.load_state_dict(state)
    q.freeze()
    p.freeze()
    batch = [{"reward": v} for v in (0.0, 5.0)]
    assert q.run(batch).rewards == p.run(batch).rewards
    with pytest.raises(ValueError, match="does not have"):
        q.load_state_dict({"transforms.3": {}})


# --- inputs: a missing completion is not an empty answer (issue 12, item 1) -------------

READERS: dict[str, Any] = {
    "fmt": {"type": "format.tags"},
    "em": {"type": "text.exact_match"},
    "len": {"type": "length.overlong", "max_tokens": 8, "buffer": 4},
    "pat": {"type": "text.reasoning_pattern"},
    "math": {"type": "math"},
}


def test_missing_completion_is_unscorable_for_every_reward_and_gets_no_advantage() -> None:
    p = Pipeline.from_spec({"rewards": READERS, "advantage": {"method": "grpo"}})
    rows: list[dict[str, Any]] = [
        {"id": "a", "group": "g", "completion": GOOD, "reference": "4"},
        {"id": "b", "group": "g", "completion": "", "reference": "4"},  # an empty answer: scored
        {"id": "c", "group": "g", "response": GOOD, "reference": "4"},  # the text under another key
        {"id": "d", "group": "g", "completion": None, "reference": "4"},
    ]
    res = p.run(rows)
    for row in (res[2], res[3]):
        assert row["status"] == "missing_input" and row["reward"] is None and row["advantage"] is None
        for name in READERS:
            assert row[name] is None and row[f"{name}_status"] == "missing_input"
    assert "response" in res[2]["detail"]["fmt"]["reason"]
    assert all(res[1][f"{name}_status"] in ("ok", "no_answer") for name in READERS)
    assert res[0]["advantage"] == pytest.approx(-res[1]["advantage"]) and res[0]["advantage"] > 0
    reward = next(s for s in res.summary if s.name == "reward")
    assert reward.unscorable == {"missing_input": 2}


def test_missing_completion_through_a_reward_and_precomputed_rewards_unaffected() -> None:
    from rewardlab import get_reward

    (score,) = get_reward("format.tags").score([{"id": "x", "response": "<think>a</think><answer>1</answer>"}])
    assert score.value is None and score.status is Status.MISSING_INPUT
    assert Pipeline.from_spec({}).run([{"id": "a", "reward": 0.5}]).rewards == [0.5]


def test_no_row_with_a_completion_fails_before_any_work(tmp_path: Any) -> None:
    from rewardlab.errors import InputError
    from rewardlab.runner import score_file

    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "response": "x"}\n{"id": "b", "response": "y", "answer": "1"}\n')
    p = Pipeline.from_spec({"rewards": {"fmt": {"type": "format.tags"}}})
    with pytest.raises(InputError, match=r"no row has a 'completion' \(keys found: answer, id, response\)"):
        score_file(src, p, tmp_path / "out.jsonl")
    assert sorted(f.name for f in tmp_path.iterdir()) == ["in.jsonl"]
    Pipeline.from_spec({}).require_completions([{"id": "a", "reward": 1.0}])  # precomputed: nothing to read


def test_check_lists_row_problems() -> None:
    """Missing completions (naming unknown keys), duplicate ids, no rows, [advantage] rows without group."""
    p = Pipeline.from_spec({"rewards": {"fmt": {"type": "format.tags"}}, "advantage": {"method": "grpo"}})
    problems = p.check([{"id": "a", "response": "x", "group": "g"}, {"id": "a", "completion": "y"},
                        {"id": "c", "completion": "z", "group": "g"}])
    by_row = [(q["id"], q["component"], q["problem"]) for q in problems]
    assert by_row[0] == ("a", "input", "no 'completion' (missing or null); unknown keys: response")
    assert by_row[1] == ("a", "input", "duplicate id (rows 0 and 1)")
    assert by_row[2][0] == "-" and by_row[2][2].startswith("1 of 3 rows have no 'group'")
    assert len(by_row) == 3
    assert p.check([]) == [{"id": "-", "component": "input", "problem": "the input has no rows"}]
    grouped = Pipeline.from_spec({"rewards": {"fmt": {"type": "format.tags"}}})
    assert grouped.check([{"id": "a", "completion": "y"}]) == []  # no [advantage]: no group needed


# --- end-of-sequence text left by trainers (issue 12, item 22) --------------------------

def test_end_tokens_are_stripped_before_rewards_read_the_completion() -> None:
    tagged = "<think>t</think><answer>4</answer>"
    spec: dict[str, Any] = {"rewards": {"fmt": {"type": "format.tags"},
                                        "em": {"type": "text.exact_match", "extract": "full"}}}
    rows: list[dict[str, Any]] = [
        {"id": "a", "completion": tagged + "<|im_end|>\n<|endoftext|><|endoftext|>", "reference": tagged},
        {"id": "b", "completion": [{"role": "assistant", "content": tagged + "</s>"}], "reference": tagged},
        {"id": "c", "completion": tagged + "</s> trailing", "reference": tagged},  # not at the end: kept
    ]
    res = Pipeline.from_spec(spec).run(rows)
    assert [r["fmt"] for r in res] == [1.0, 1.0, 0.0] and [r["em"] for r in res] == [1.0, 1.0, 0.0]
    assert res[0]["detail"]["fmt"]["stripped_end_tokens"] == ["<|im_end|>", "<|endoftext|>", "<|endoftext|>"]
    assert res[1]["detail"]["em"]["stripped_end_tokens"] == ["</s>"]
    assert "stripped_end_tokens" not in res[2]["detail"]["fmt"]
    custom = Pipeline.from_spec({**spec, "engine": {"end_tokens": ["<END>"]}}).run(
        [{"id": "a", "completion": tagged + "<END>", "reference": tagged},
         {"id": "b", "completion": tagged + "</s>", "reference": tagged}])
    assert [r["fmt"] for r in custom] == [1.0, 0.0]
