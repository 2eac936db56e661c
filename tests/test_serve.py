"""The HTTP reward server through FastAPI's TestClient (lifespan included)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from rewardlab.pipeline import Pipeline
from rewardlab.serve import ServerConfig, create_app
from rewardlab.serve.batching import MicroBatcher, QueueFull, ShuttingDown

SPEC: dict[str, Any] = {
    "plugins": ["tests.plugin_rewards"],
    "rewards": {
        "fmt": {"type": "format.tags", "weight": 0.5},
        "exact": {"type": "text.exact_match", "extract": "answer_tag"},
    },
    "advantage": {"method": "grpo"},
    "engine": {"workers": 1},
}


def _client(spec: dict[str, Any] | None = None, **options: Any) -> TestClient:
    return TestClient(create_app(ServerConfig(spec=spec or SPEC, **options)))


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with _client(max_wait_ms=30) as c:
        yield c


def _samples(tag: str, n: int = 4, group: str = "g") -> list[dict[str, Any]]:
    return [{"id": f"{tag}{i}", "group": group, "reference": str(i % 2),
             "completion": f"<think>{tag}</think><answer>{i % 3}</answer>" if i % 4 else "no tags"}
            for i in range(n)]


def test_score_matches_in_process_pipeline(client: TestClient) -> None:
    samples = _samples("a", 6)
    r = client.post("/score", json={"samples": samples})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = Pipeline.from_spec(SPEC).run(samples)
    assert body["components"] == ["fmt", "exact"]
    for got, want in zip(body["rows"], expected.rows, strict=True):
        for key in ("id", "reward", "status", "fmt", "exact", "advantage"):
            assert got[key] == pytest.approx(want[key]) if isinstance(want[key], float) else got[key] == want[key]
    assert {s["name"] for s in body["summary"]} == {"fmt", "exact", "reward", "advantage"}


def test_concurrent_requests_keep_their_own_rows_and_groups(client: TestClient) -> None:
    """Same group ids in different requests: micro-batching must not pool them."""
    requests = [_samples(f"r{k}-", 4 + k % 3, group="same") for k in range(12)]
    with ThreadPoolExecutor(12) as pool:
        replies = list(pool.map(lambda s: client.post("/score", json={"samples": s}), requests))
    pipeline = Pipeline.from_spec(SPEC)
    for samples, reply in zip(requests, replies, strict=True):
        assert reply.status_code == 200, reply.text
        rows = reply.json()["rows"]
        alone = pipeline.run(samples).rows
        assert [r["id"] for r in rows] == [s["id"] for s in samples]
        assert [r["advantage"] for r in rows] == pytest.approx([r["advantage"] for r in alone])
        assert [r["reward"] for r in rows] == [r["reward"] for r in alone]


@pytest.mark.parametrize(("body", "field"), [
    ({}, "samples"),
    ({"samples": []}, "samples"),
    ({"samples": [{"completion": 5}]}, "completion"),
    ({"samples": [{"meta": "x"}]}, "meta"),
    ({"samples": [{"completion": "x"}], "timeout": -1}, "timeout"),
    ({"samples": [{"completion": "x"}], "bogus": 1}, "bogus"),
])
def test_malformed_requests_get_422_naming_the_field(client: TestClient, body: dict[str, Any], field: str) -> None:
    r = client.post("/score", json=body)
    assert r.status_code == 422
    assert field in r.json()["message"]


def test_invalid_json_is_a_4xx(client: TestClient) -> None:
    r = client.post("/score", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["message"]


def test_row_without_completion_is_answered_as_unscorable(client: TestClient) -> None:
    rows = [*_samples("m", 2), {"id": "x", "group": "g", "response": "<answer>1</answer>", "reference": "1"},
            {"id": "e", "group": "g", "completion": "", "reference": "1"}]
    r = client.post("/score", json={"samples": rows})
    assert r.status_code == 200, r.text
    got = {row["id"]: row for row in r.json()["rows"]}
    assert got["x"]["status"] == "missing_input" and got["x"]["reward"] is None and got["x"]["advantage"] is None
    assert got["x"]["fmt_status"] == got["x"]["exact_status"] == "missing_input"
    assert got["e"]["status"] == "ok" and got["e"]["reward"] == 0.0  # an empty answer is scored


def test_openrlhf_get_reward(client: TestClient) -> None:
    prompts = ["Q1: ", "Q1: ", "Q2: "]
    responses = ["<think>a</think><answer>1</answer>", "<answer>2</answer>", "<think>b</think><answer>3</answer>"]
    body = {"query": [p + r for p, r in zip(prompts, responses, strict=True)], "prompts": prompts,
            "labels": ["1", "1", "3"]}
    r = client.post("/get_reward", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert set(out) == {"rewards", "scores", "extra_logs"}
    assert out["rewards"] == out["scores"] and len(out["rewards"]) == 3
    assert out["extra_logs"]["exact"] == [1.0, 0.0, 1.0]
    assert out["extra_logs"]["rewardlab/unscorable"] == [0.0, 0.0, 0.0]
    # the response part alone is scored: prompt text never leaks into the completion
    assert out["rewards"][0] == pytest.approx(1.0 + 0.5 * out["extra_logs"]["fmt"][0])


def test_openrlhf_unscorable_is_an_explicit_error_or_the_configured_fallback(client: TestClient) -> None:
    body = {"query": ["Q<answer>1</answer>"], "prompts": ["Q"]}  # no labels: exact_match cannot score
    r = client.post("/get_reward", json=body)
    assert r.status_code == 422
    assert "invalid_reference" in r.json()["message"] and "on_unscorable" in r.json()["message"]
    assert "start the server with --unscorable-reward VALUE" in r.json()["message"]
    with _client(unscorable_reward=-1.0) as c:
        out = c.post("/get_reward", json=body).json()
    assert out["rewards"] == [-1.0] and out["extra_logs"]["rewardlab/unscorable"] == [1.0]


def test_openrlhf_unscorable_rows_are_logged_at_warning_with_their_reason(caplog: pytest.LogCaptureFixture) -> None:
    body = {"query": ["Q<answer>1</answer>", "Q<answer>2</answer>"], "prompts": ["Q", "Q"], "labels": ["1", ""]}
    with caplog.at_level("WARNING", logger="rewardlab.serve"), _client(scoring_process=False) as c:
        assert c.post("/get_reward", json=body).status_code == 422
    lines = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "/get_reward row" in r.getMessage()]
    assert len(lines) == 1 and "row 1 unscorable (invalid_reference), answered 422" in lines[0]
    assert "exact: invalid_reference: reference must be text or a list of texts, got ''" in lines[0]


def test_openrlhf_length_mismatch_names_the_field(client: TestClient) -> None:
    r = client.post("/get_reward", json={"query": ["a", "b"], "prompts": ["a"]})
    assert r.status_code == 422 and "prompts" in r.json()["message"]


def test_worker_crash_is_answered_with_an_error_row() -> None:
    spec = {"plugins": ["tests.plugin_rewards"], "rewards": {"cpu": {"type": "test.cpu"}},
            "engine": {"workers": 1, "timeout": 20}}
    with _client(spec) as c:
        r = c.post("/score", json={"samples": [{"completion": "ok"}, {"completion": "die"}, {"completion": "abc"}]})
        assert r.status_code == 200, r.text
        rows = r.json()["rows"]
        assert [row["status"] for row in rows] == ["ok", "error", "ok"]
        assert rows[1]["reward"] is None and rows[2]["reward"] == 3.0
        assert c.post("/score", json={"samples": [{"completion": "again"}]}).json()["rows"][0]["reward"] == 5.0
        assert 'rewardlab_unscorable_total{component="cpu",status="error"} 1.0' in c.get("/metrics").text


def test_deadline_gives_504_with_a_message() -> None:
    spec = {"plugins": ["tests.plugin_rewards"], "rewards": {"slow": {"type": "test.inline", "sleep": 1.5}}}
    with _client(spec) as c:
        r = c.post("/score", json={"samples": [{"completion": "x"}], "timeout": 0.5})
        assert r.status_code == 504 and "deadline" in r.json()["message"]


def test_request_larger_than_queue_is_413() -> None:
    with _client(max_queue=2) as c:
        r = c.post("/score", json={"samples": _samples("x", 3)})
        assert r.status_code == 413 and "split" in r.json()["message"]


def test_health_metrics_and_openapi(client: TestClient) -> None:
    client.post("/score", json={"samples": _samples("m", 2)})
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["components"] == ["fmt", "exact"]
    text = client.get("/metrics").text
    for name in ("rewardlab_requests_total", "rewardlab_request_latency_seconds_bucket", "rewardlab_queue_depth",
                 'rewardlab_component_reward_scored_total{component="fmt"}', "rewardlab_samples_scored_total"):
        assert name in text
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/score", "/get_reward", "/health", "/metrics"} <= set(paths)


# --- the micro-batcher on its own ---------------------------------------------------

def test_full_queue_refuses_with_retry_advice_and_drops_nothing() -> None:
    async def main() -> None:
        batcher: MicroBatcher[int, int] = MicroBatcher(lambda xs: [x * 10 for x in xs], max_queue=5)
        first = asyncio.create_task(batcher.submit(1, 3))  # not started: everything stays queued
        second = asyncio.create_task(batcher.submit(2, 2))
        await asyncio.sleep(0)
        with pytest.raises(QueueFull) as info:
            await batcher.submit(3, 1)
        assert info.value.retry_after >= 1
        await batcher.start()
        assert await first == 10 and await second == 20

    asyncio.run(main())


def test_stop_finishes_queued_work_then_refuses() -> None:
    import time

    def slow(xs: list[int]) -> list[int]:
        time.sleep(0.05)
        return [x + 1 for x in xs]

    async def main() -> None:
        batcher: MicroBatcher[int, int] = MicroBatcher(slow, max_batch=1)
        await batcher.start()
        tasks = [asyncio.create_task(batcher.submit(i, 1)) for i in range(5)]
        await asyncio.sleep(0)
        await batcher.stop()
        assert [t.result() for t in tasks] == [1, 2, 3, 4, 5]
        with pytest.raises(ShuttingDown):
            await batcher.submit(9, 1)

    asyncio.run(main())


def _one_batch_of(score: Any) -> list[Any]:
    """Requests 1, -1 and 3 queued before the batcher starts (so they form one batch);
    what each request got back, exceptions included."""

    async def main() -> list[Any]:
        batcher: MicroBatcher[int, int] = MicroBatcher(score, max_wait=0.05)
        tasks = [asyncio.create_task(batcher.submit(x, 1)) for x in (1, -1, 3)]
        await asyncio.sleep(0)
        await batcher.start()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        await batcher.stop()
        return done

    return asyncio.run(main())


def test_failed_batch_is_retried_per_request_and_a_bad_request_gets_the_error() -> None:
    def score(xs: list[int]) -> list[int]:
        if -1 in xs:
            raise RuntimeError("poisoned")
        return [x * 2 for x in xs]

    done = _one_batch_of(score)
    assert done[0] == 2 and done[2] == 6 and isinstance(done[1], RuntimeError)


def test_scoring_process_death_is_retried_per_request_and_answered() -> None:
    """An in-process reward that kills the scoring process: its request gets a 500, the others their rows."""
    spec = {"plugins": ["tests.plugin_rewards"], "rewards": {"len": {"type": "test.inline"}}}
    with _client(spec, max_wait_ms=200) as c:
        bodies = [{"samples": [{"completion": "ab"}]}, {"samples": [{"completion": "die"}]},
                  {"samples": [{"completion": "abcd"}]}]
        with ThreadPoolExecutor(3) as pool:
            replies = list(pool.map(lambda b: c.post("/score", json=b), bodies))
        assert replies[0].status_code == 200 and replies[0].json()["rows"][0]["reward"] == 2.0
        assert replies[2].status_code == 200 and replies[2].json()["rows"][0]["reward"] == 4.0
        assert replies[1].status_code == 500 and "scoring process died" in replies[1].json()["message"]
        assert c.post("/score", json={"samples": [{"completion": "xyz"}]}).json()["rows"][0]["reward"] == 3.0
        assert "rewardlab_scoring_process_restarts_total 2.0" in c.get("/metrics").text


def test_lone_surrogates_and_odd_values_never_give_a_5xx(client: TestClient) -> None:
    bad = '{"samples": [{"completion": "\\udbbf x", "meta": {"k": "\\ud800"}, "reference": "\\udc00"}]}'
    r = client.post("/score", content=bad.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    invalid = '{"samples": [{"completion": 5, "prompt": ["\\udbbf"]}]}'
    r = client.post("/score", content=invalid.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 422 and "completion" in r.json()["message"]
    r = client.post("/get_reward", content=b'{"query": ["\\ud800"], "labels": {"\\udbbf": 1}}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and "labels" in r.json()["message"]


def test_full_queue_answers_429_with_retry_after_and_loses_nothing() -> None:
    spec = {"plugins": ["tests.plugin_rewards"], "rewards": {"slow": {"type": "test.inline", "sleep": 0.4}}}
    with _client(spec, max_queue=2, max_batch=1, max_wait_ms=0) as c:
        bodies = [{"samples": [{"id": f"s{k}", "completion": "x" * (k + 1)}]} for k in range(8)]
        with ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(lambda b: c.post("/score", json=b), bodies))
        codes = [r.status_code for r in replies]
        assert set(codes) <= {200, 429} and 429 in codes and 200 in codes
        for k, r in enumerate(replies):
            if r.status_code == 200:
                assert r.json()["rows"][0]["reward"] == k + 1
            else:
                assert int(r.headers["Retry-After"]) >= 1 and "retry" in r.json()["message"]
        assert 'rewardlab_rejected_total{reason="queue_full"}' in c.get("/metrics").text


def test_innocent_request_lost_to_another_crash_is_retried_not_failed() -> None:
    from rewardlab.serve.worker import ScoringCrashed

    calls: list[list[int]] = []

    def score(xs: list[int]) -> list[int]:
        calls.append(list(xs))
        if len(calls) <= 2:  # the batch, then the first lone retry, are lost to someone else's crash
            raise ScoringCrashed("died while queued", culprit=False)
        if xs == [-1]:
            raise ScoringCrashed("died scoring this", culprit=True)
        return [x * 2 for x in xs]

    done = _one_batch_of(score)
    assert done[0] == 2 and done[2] == 6
    assert isinstance(done[1], ScoringCrashed) and done[1].culprit
