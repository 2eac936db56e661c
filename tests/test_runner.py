"""The runner's output and report: the store's text written as it is, rows and summary decoded from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rewardlab.core import BaseReward, Deps, Sample, Score, Status
from rewardlab.io import read_rows, row_json, write_rows
from rewardlab.pipeline import Pipeline
from rewardlab.registry import register
from rewardlab.results import summarize
from rewardlab.runner import RunReport, score_file


class Odd:
    def __repr__(self) -> str:
        return "Odd<é>"


@register("reward", "test.runner_odd_detail")
class OddDetail(BaseReward):
    """Detail values JSON changes on the way through the store: tuples, int keys, NaN, objects, non-ASCII."""

    name = "test.runner_odd_detail"
    reads = ("completion",)

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        text = sample.completion_text
        if text == "none":
            return Score.unscorable(Status.INVALID_REFERENCE, "no reference")
        detail: dict[Any, Any] = {"pair": (1, "ü"), 3: float("nan"), "obj": Odd(), "t": text}
        return Score(float(len(text)), Status.OK, detail)


def _run(tmp_path: Path, suffix: str) -> tuple[Path, RunReport]:
    inp = tmp_path / "in.jsonl"
    texts = ["a", "数学 é", "none", "xyz", "\t\"q\""]
    inp.write_text("".join(json.dumps({"id": f"r{i}", "completion": t, "group": f"g{i // 2}"}) + "\n"
                           for i, t in enumerate(texts)))
    pipeline = Pipeline.from_spec({"rewards": {"odd": {"type": "test.runner_odd_detail"}}})
    return inp, score_file(inp, pipeline, tmp_path / f"out{suffix}", batch_size=2)


def test_jsonl_output_is_what_encoding_the_decoded_store_rows_gives(tmp_path: Path) -> None:
    _, report = _run(tmp_path, ".jsonl")
    back, _ = read_rows(tmp_path / "out.jsonl")
    expected = "".join(json.dumps(r, default=repr, ensure_ascii=False) + "\n" for r in back)  # the old writer
    assert (tmp_path / "out.jsonl").read_text(encoding="utf-8") == expected
    assert back[1]["detail"]["odd"] == {"pair": [1, "ü"], "3": pytest.approx(float("nan"), nan_ok=True),
                                        "obj": "Odd<é>", "t": "数学 é"}
    assert [row_json(r) for r in report.scored] == [row_json(r) for r in back]  # NaN-safe equality
    assert [s.to_dict() for s in report.summary] == [s.to_dict() for s in summarize(back, ["odd"])]
    assert report.rows == 5 and report.scored_now == 5 and report.summary[0].unscorable == {"invalid_reference": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]  # the store and its WAL are gone


@pytest.mark.parametrize("suffix", [".json", ".parquet"])
def test_json_and_parquet_outputs_hold_the_same_rows(tmp_path: Path, suffix: str) -> None:
    _, report = _run(tmp_path, suffix)
    back, _ = read_rows(tmp_path / f"out{suffix}")
    assert [r["id"] for r in back] == ["r0", "r1", "r2", "r3", "r4"]
    if suffix == ".json":
        assert [row_json(r) for r in back] == [row_json(r) for r in report.scored]
    else:  # Parquet keeps detail as JSON text
        assert [json.loads(r["detail"])["odd"].get("t") for r in back] == ["a", "数学 é", None, "xyz", "\t\"q\""]


def test_write_rows_takes_already_encoded_text_for_json_outputs(tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [{"id": "1", "x": float("inf"), "d": {"é": (1, 2)}}, {"id": "2", "x": None}]
    for suffix in (".jsonl", ".json"):
        plain, given = tmp_path / f"plain{suffix}", tmp_path / f"given{suffix}"
        write_rows(rows, plain)
        write_rows(rows, given, texts=[row_json(r) for r in rows])
        assert given.read_bytes() == plain.read_bytes()
        assert row_json(rows[0]) == json.dumps(rows[0], default=repr, ensure_ascii=False)


@register("reward", "test.runner_gc_threshold")
class GcThreshold(BaseReward):
    """Scores the garbage collector's first threshold at the time it runs."""

    name = "test.runner_gc_threshold"
    reads = ("completion",)

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        import gc

        return Score.ok(float(gc.get_threshold()[0]))


def test_a_run_collects_garbage_rarely_and_restores_the_thresholds(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from rewardlab.gctuning import RARE_COLLECTIONS

    before = gc.get_threshold()
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"id": "a", "completion": "x"}) + "\n")
    pipeline = Pipeline.from_spec({"rewards": {"gc": {"type": "test.runner_gc_threshold"}}})
    report = score_file(inp, pipeline, tmp_path / "out.jsonl")
    assert report.scored[0]["gc"] == RARE_COLLECTIONS
    assert gc.get_threshold() == before

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Pipeline, "assemble", interrupted)
    with pytest.raises(KeyboardInterrupt):
        score_file(inp, pipeline, tmp_path / "again.jsonl")
    assert gc.get_threshold() == before


def test_a_run_summarizes_once_when_asked_not_per_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each batch's Results summarizes its rows only when its summary is read (the runner reads none);
    the run's summary is computed once from the output rows, and a pipeline's results still carry theirs."""
    import rewardlab.results as results

    calls: list[str] = []
    column_stats = results._column_stats

    def counted(name: str, *args: Any) -> results.ColumnStats:
        calls.append(name)
        return column_stats(name, *args)

    monkeypatch.setattr(results, "_column_stats", counted)
    _, report = _run(tmp_path, ".jsonl")  # three batches
    assert calls == []
    assert [s.name for s in report.summary] == ["odd", "reward"] and calls == ["odd", "reward"]
    pipeline = Pipeline.from_spec({"rewards": {"odd": {"type": "test.runner_odd_detail"}}})
    out = pipeline.run([{"completion": "ab"}, {"completion": "none"}])
    assert out.stats("odd").mean == 2.0 and out.stats("odd").unscorable == {"invalid_reference": 1}


def test_rows_the_caller_just_wrote_are_not_read_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """score_file(rows=...) scores the rows given (the file still identifies the run, so resume works)."""
    import rewardlab.runner as runner

    rows = [{"id": f"r{i}", "completion": t, "group": f"g{i // 2}"} for i, t in enumerate(["a", "数学 é", "xyz"])]
    inp = tmp_path / "in.jsonl"
    write_rows(rows, inp)
    pipeline = Pipeline.from_spec({"rewards": {"odd": {"type": "test.runner_odd_detail"}}})
    expected = score_file(inp, pipeline, tmp_path / "read.jsonl").texts

    def no_reading(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the input was read back")

    monkeypatch.setattr(runner, "read_rows", no_reading)
    given = score_file(inp, pipeline, tmp_path / "given.jsonl", rows=rows)

    def timeless(texts: list[str]) -> list[dict[str, Any]]:
        return [{k: v for k, v in json.loads(t).items() if k != "elapsed"} for t in texts]

    assert timeless(given.texts) == timeless(expected)
    assert [r["id"] for r in timeless(given.texts)] == ["r0", "r1", "r2"]


def test_overlapping_runs_restore_the_collector_thresholds_when_the_last_one_ends() -> None:
    """Two runs in two threads need not end in the order they began; the thresholds come back at the end."""
    import gc

    from rewardlab.gctuning import RARE_COLLECTIONS, rare_collections

    before = gc.get_threshold()
    first, second = rare_collections(), rare_collections()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold()[0] == RARE_COLLECTIONS  # the second run is still going
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before


def test_a_run_leaves_automatic_collection_off_when_the_caller_turned_it_off() -> None:
    """A first threshold of 0 turns automatic collection off (CPython's gc docs); a run must not turn it on
    (it set 50,000, collecting where the caller had chosen never to)."""
    import gc

    from rewardlab.gctuning import rare_collections

    before = gc.get_threshold()
    gc.set_threshold(0, *before[1:])
    try:
        with rare_collections():
            assert gc.get_threshold()[0] == 0
        assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*before)
