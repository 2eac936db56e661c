"""Ray backend on a real local cluster (the machine's CPUs): same rows, order, statuses, resume."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from rewardlab.distributed import RayScorer, score_file_ray, score_samples_ray  # noqa: E402
from rewardlab.pipeline import Pipeline  # noqa: E402
from rewardlab.runner import plan_batches, score_file  # noqa: E402

pytestmark = pytest.mark.slow

SPEC: dict[str, Any] = {
    "plugins": ["tests.plugin_rewards"],
    "rewards": {
        "cpu": {"type": "test.cpu", "weight": 0.1},
        "fmt": {"type": "format.tags"},
        "exact": {"type": "text.exact_match", "extract": "answer_tag"},
    },
    "advantage": {"method": "grpo"},
    "engine": {"workers": 1, "timeout": 20},
    "run": {"batch_size": 8},
}
KEYS = ("id", "group", "reward", "status", "cpu", "cpu_status", "fmt", "exact", "exact_status", "advantage")


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _rows(n: int = 30) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        completion = "die" if i == 7 else f"<think>t</think><answer>{i % 3}</answer>" if i % 4 else "nothing"
        rows.append({"id": f"r{i}", "group": f"g{i // 4}", "completion": completion,
                     "reference": "" if i == 11 else str(i % 2)})
    return rows


def _local(rows: list[dict[str, Any]], batch_size: int = 8) -> list[dict[str, Any]]:
    pipeline = Pipeline.from_spec(SPEC)
    out: list[dict[str, Any] | None] = [None] * len(rows)
    for idxs in plan_batches([r["group"] for r in rows], batch_size):
        for i, row in zip(idxs, pipeline.run([rows[i] for i in idxs]).rows, strict=True):
            out[i] = row
    pipeline.close()
    return [r for r in out if r is not None]


def _project(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(r.get(k) for k in KEYS) for r in rows]


def test_same_rows_order_and_unscorable_semantics_as_local() -> None:
    rows = _rows()
    got = score_samples_ray(rows, SPEC, num_actors=2)
    assert _project(got) == _project(_local(rows))
    assert got[7]["cpu_status"] == "error" and got[7]["reward"] is None  # a worker died inside an actor
    assert got[11]["exact_status"] == "invalid_reference" and got[11]["reward"] is None


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _spec_file(tmp_path: Path) -> Path:
    lines = ['plugins = ["tests.plugin_rewards"]']
    for name, table in SPEC["rewards"].items():
        lines.append(f"[rewards.{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    lines += ["[advantage]", 'method = "grpo"', "[engine]", "workers = 1", "timeout = 20", "[run]", "batch_size = 8"]
    path = tmp_path / "spec.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_file_run_resumes_a_killed_local_run_exactly_once(tmp_path: Path) -> None:
    inp, out, ref = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "ref.jsonl"
    _write(inp, _rows(40))
    spec = _spec_file(tmp_path)
    local = Pipeline.from_spec(spec)
    score_file(inp, local, ref)

    def dies_after_two(batches: list[Any]) -> Iterator[tuple[int, list[dict[str, Any]], dict[str, Any]]]:
        for k, batch in enumerate(batches[:2]):
            results = local.run(batch)
            yield k, results.rows, results.signal
        raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        score_file(inp, local, out, scorer=dies_after_two)
    report = score_file_ray(inp, spec, out, resume=True, num_actors=2)
    local.close()
    assert report.resumed == 16 and report.scored_now == 24
    got = [json.loads(line) for line in out.read_text().splitlines()]
    want = [json.loads(line) for line in ref.read_text().splitlines()]
    assert _project(got) == _project(want)


def test_cli_backend_ray(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rewardlab.cli import app

    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write(inp, _rows(12))
    result = CliRunner().invoke(app, ["score", str(inp), "--spec", str(_spec_file(tmp_path)), "--out", str(out),
                                      "--backend", "ray"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [f"r{i}" for i in range(12)]


def test_scorer_yields_every_batch_once() -> None:
    with RayScorer(SPEC, num_actors=2) as scorer:
        batches = [[{"completion": f"<answer>{k}</answer>", "reference": str(k)}] for k in range(7)]
        from rewardlab.core import coerce_samples

        seen = {k: (rows, signal) for k, rows, signal in scorer([coerce_samples(b) for b in batches])}
    assert sorted(seen) == list(range(7))
    assert all(rows[0]["exact"] == 1.0 and "zero_variance_groups" in signal for rows, signal in seen.values())


def test_running_statistics_are_refused_with_a_reason() -> None:
    from rewardlab.errors import RewardlabError

    spec = {"rewards": {"fmt": {"type": "format.tags", "transforms": [{"type": "normalize"}]}}}
    with pytest.raises(RewardlabError, match="running state"):
        RayScorer(spec, num_actors=1)
