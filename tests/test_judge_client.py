"""The judge client against a real local chat-completions server: retries, limits, cache, keys."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest

from rewardlab.core import Score, Status, coerce_samples
from rewardlab.engine import Engine
from rewardlab.errors import SpecError
from rewardlab.judges import EndpointConfig, JudgeClient
from rewardlab.judges.limits import RateLimiter, backoff_delay, parse_retry_after
from rewardlab.pipeline import Pipeline
from rewardlab.registry import create
from tests.judge_server import Answer, JudgeServer, judge, judge_server_fixture, rows, run, server_fixture

__all__ = ["judge_server_fixture", "server_fixture"]  # fixtures used by name

KEY_ENV = "RL_TEST_JUDGE_KEY"
SECRET = "sk-test-5ecret-d0-not-leak-42"


def test_rubric_scores_are_mapped_and_each_distinct_request_is_sent_once(server: JudgeServer, tmp_path: Path) -> None:
    reward = judge(server, tmp_path, score_min=1, score_max=10)
    scores = run(reward, rows("Score: 10", "Good.\nScore: 1", "Score: 7") + rows("Score: 10"))
    assert [s.value for s in scores] == [1.0, 0.0, pytest.approx(6 / 9), 1.0]
    assert all(s.status is Status.OK for s in scores)
    assert server.requests == 3  # the repeated sample is deduplicated
    assert scores[0].detail["usage"]["prompt_tokens"] == 50


def test_persistent_cache_second_run_sends_nothing(server: JudgeServer, tmp_path: Path) -> None:
    first = run(judge(server, tmp_path), rows("Score: 3", "Score: 8"))
    assert server.requests == 2
    JudgeClient._shared.clear()  # a new process: new client, same cache file
    reward = judge(server, tmp_path)
    second = run(reward, rows("Score: 3", "Score: 8"))
    assert server.requests == 2 and reward.client.stats.cache_hits == 2
    assert [s.value for s in second] == [s.value for s in first]
    assert second[0].detail["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "requests": 0, "cache_hits": 1}


def test_429_with_retry_after_is_honoured(server: JudgeServer, tmp_path: Path) -> None:
    server.respond = lambda body, n: Answer("busy", 429, {"Retry-After": "0.2"}) if n == 1 else Answer("Score: 9")
    reward = judge(server, tmp_path)
    (score,) = run(reward, rows("x"))
    assert score.value == pytest.approx(8 / 9)
    assert server.requests == 2 and reward.client.stats.retries == 1
    assert reward.client.stats.delays[0] >= 0.2  # the server's Retry-After is a floor


def test_500s_are_retried_then_succeed_or_give_up(server: JudgeServer, tmp_path: Path) -> None:
    server.respond = lambda body, n: Answer("oops", 500) if n <= 2 else Answer("Score: 4")
    (score,) = run(judge(server, tmp_path, max_retries=3), rows("x"))
    assert score.status is Status.OK and server.requests == 3
    server.reset()
    server.respond = lambda body, n: Answer("down", 503)
    reward = judge(server, tmp_path, max_retries=2, model="other")
    (score,) = run(reward, rows("x"))
    assert score.value is None and score.status is Status.ERROR
    assert server.requests == 3 and "503" in score.detail["reason"] and score.detail["attempts"] == 3
    assert reward.client.stats.failures == 1


def test_client_errors_are_not_retried(server: JudgeServer, tmp_path: Path) -> None:
    server.respond = lambda body, n: Answer("bad request: context too long", 400)
    (score,) = run(judge(server, tmp_path), rows("x"))
    assert score.status is Status.ERROR and server.requests == 1 and "400" in score.detail["reason"]


def test_malformed_response_is_retried_then_error(server: JudgeServer, tmp_path: Path) -> None:
    server.respond = lambda body, n: Answer(raw="<html>gateway</html>") if n == 1 else Answer("Score: 2")
    (score,) = run(judge(server, tmp_path), rows("x"))
    assert score.status is Status.OK and server.requests == 2


def test_slow_replies_time_out_per_request_and_are_unscorable(server: JudgeServer, tmp_path: Path) -> None:
    server.respond = lambda body, n: Answer("Score: 5", delay=3.0)
    reward = judge(server, tmp_path, request_timeout=0.2, max_retries=1)
    (score,) = run(reward, rows("x"))
    assert score.value is None and score.status is Status.TIMEOUT
    assert server.requests == 2 and reward.client.stats.retries == 1


def test_engine_deadline_cancels_the_request(server: JudgeServer, tmp_path: Path) -> None:
    server.respond = lambda body, n: Answer("Score: 5", delay=5.0)
    reward = judge(server, tmp_path)
    with Engine(workers=1) as engine:  # the component's timeout, as a spec sets it
        (score,) = engine.run(reward, coerce_samples(rows("cancel me")), timeout=0.3)
    assert score.status is Status.TIMEOUT and score.value is None
    stats = reward.client.stats

    def gone() -> bool:
        return any("cancel me" in text for text in server.gone)

    for _ in range(200):  # the cancellation reaches the judge loop and the server
        if stats.cancelled == 1 and stats.in_flight == 0 and gone():
            break
        time.sleep(0.02)
    assert (stats.cancelled, stats.in_flight, gone(), server.requests) == (1, 0, True, 1)


def test_concurrency_bound_is_observed_at_the_server(server: JudgeServer, tmp_path: Path) -> None:
    server.respond = lambda body, n: Answer("Score: 5", delay=0.4)
    reward = judge(server, tmp_path, max_concurrency=3)
    scores = run(reward, rows(*[f"Score: {i}" for i in range(1, 10)]))
    assert all(s.status is Status.OK for s in scores)
    assert server.requests == 9 and server.max_in_flight == 3 and reward.client.stats.max_in_flight == 3


def test_identical_requests_in_flight_at_once_are_sent_once(server: JudgeServer, tmp_path: Path) -> None:
    """Two engine batches on two threads ask the same thing: one request."""
    server.respond = lambda body, n: Answer("Score: 6", delay=0.3)
    reward = judge(server, tmp_path)
    out: list[list[Score]] = []
    threads = [threading.Thread(target=lambda: out.append(run(reward, rows("x")))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.requests == 1 and [o[0].value for o in out] == [pytest.approx(5 / 9)] * 2


def test_from_a_running_event_loop_and_sync(server: JudgeServer, tmp_path: Path) -> None:
    reward = judge(server, tmp_path)

    async def main() -> list[Score]:
        return reward.score(rows("Score: 2"))  # the engine runs its io batch off this loop

    (score,) = asyncio.run(main())
    assert score.value == pytest.approx(1 / 9)
    reply = reward.client.chat_sync([{"role": "user", "content": "REPLY[Score: 3]REPLY"}])
    assert reply.text == "Score: 3" and not reply.cached


def test_api_key_is_sent_but_never_leaks(server: JudgeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)
    # every error echoes the key, as some gateways do
    server.respond = lambda body, n: (Answer(f"invalid key {SECRET}", 500) if "fail" in json.dumps(body)
                                      else Answer("Score: 7"))
    cache = tmp_path / "judge.sqlite"
    spec = {"rewards": {"j": {"type": "judge.rubric", "base_url": server.base_url, "model": "judge",
                              "api_key_env": KEY_ENV, "rubric": "r", "cache": str(cache),
                              "max_retries": 1, "backoff_base": 0.0}}}
    pipe = Pipeline.from_spec(spec, Engine(workers=1))
    results = pipe.run([{"id": "a", "completion": "fine"}, {"id": "b", "completion": "fail"}])
    pipe.close()
    assert server.log[0]["headers"]["authorization"] == f"Bearer {SECRET}"
    assert results[0]["j"] == pytest.approx(6 / 9) and results[1]["j_status"] == "error"
    dumped = json.dumps(results.rows) + json.dumps([s.to_dict() for s in results.summary])
    dumped += capsys.readouterr().out + capsys.readouterr().err + caplog.text + repr(pipe.spec.components[0].reward)
    assert "invalid key ***" in dumped and SECRET not in dumped
    assert SECRET.encode() not in cache.read_bytes() and SECRET not in str(pipe.spec.components[0].reward.params)
    server.respond = lambda body, n: Answer(f"no such key {SECRET}", 401)
    before = server.requests
    (score,) = run(judge(server, tmp_path, api_key_env=KEY_ENV, model="m401"), rows("x"))
    assert score.status is Status.ERROR and SECRET not in json.dumps(score.to_dict())
    assert KEY_ENV in score.detail["reason"] and server.requests == before + 1  # a refused key is not retried


def test_unset_key_variable_is_a_clear_spec_error(server: JudgeServer, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(SpecError, match=KEY_ENV):
        judge(server, tmp_path, api_key_env=KEY_ENV)


def test_run_summary_reports_tokens_per_component(server: JudgeServer, tmp_path: Path) -> None:
    spec = {"rewards": {"j": {"type": "judge.rubric", "base_url": server.base_url, "model": "judge",
                              "rubric": "r", "cache": str(tmp_path / "c.sqlite")},
                        "fmt": {"type": "format.tags", "tags": ["answer"]}}}
    pipe = Pipeline.from_spec(spec, Engine(workers=1))
    batch = [{"id": str(i), "group": "g", "completion": c} for i, c in enumerate(["a", "b", "a", "c"])]
    results = pipe.run(batch)
    pipe.close()
    assert server.requests == 3
    assert results.stats("j").tokens == {"prompt_tokens": 150, "completion_tokens": 30, "requests": 3,
                                         "cache_hits": 0}
    assert results.stats("fmt").tokens is None


def test_rate_limiter_and_backoff_units() -> None:
    import random

    assert parse_retry_after("2") == 2.0 and parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past
    rng = random.Random(0)
    delays = [backoff_delay(a, 1.0, 4.0, None, rng) for a in (1, 2, 3, 4, 5, 6) for _ in range(50)]
    assert all(0.0 <= d <= 4.0 for d in delays) and max(delays) > 2.0  # full jitter, capped
    assert backoff_delay(1, 0.5, 1.0, 7.0, rng) >= 7.0



def test_rate_limiter_waits_for_the_bucket_to_refill() -> None:
    clock = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    async def main() -> None:
        rpm = RateLimiter(60.0, clock=lambda: clock[0], sleep=sleep)  # one a second, a bucket of 60
        for _ in range(60):
            await rpm.acquire(1)
        assert slept == []  # a minute's budget may go at once
        await rpm.acquire(1)
        assert slept == [pytest.approx(1.0)]
        rpm.correct(5)  # the last request cost 5 more than estimated
        await rpm.acquire(1)
        assert sum(slept) == pytest.approx(7.0)
        tpm = RateLimiter(100.0, clock=lambda: clock[0], sleep=sleep)
        await tpm.acquire(500)  # larger than the bucket: waits for a full bucket, then goes
        assert sum(slept) == pytest.approx(7.0)
        await tpm.acquire(10)  # the level is -400: wait until it is back to 10
        assert sum(slept) == pytest.approx(7.0 + 410 * 60 / 100)

    asyncio.run(main())
    assert RateLimiter(None)._level == 0.0


def test_endpoint_config_validation() -> None:
    with pytest.raises(ValueError, match="http"):
        EndpointConfig.model_validate({"model": "m", "base_url": "localhost:8000"})
    with pytest.raises(SpecError, match="max_concurrency"):
        create("reward", "judge.rubric", {"model": "m", "max_concurrency": 0, "cache": False})


def test_a_used_judge_pickles_and_works_where_unpickled(server: JudgeServer, tmp_path: Path) -> None:
    import pickle

    reward = judge(server, tmp_path)
    run(reward, rows("Score: 4"))
    clone = pickle.loads(pickle.dumps(reward))
    (score,) = run(clone, rows("Score: 4"))
    assert score.value == pytest.approx(3 / 9) and server.requests == 1  # the clone shares the cache


def test_cli_run_store_output_and_summary_hold_no_key(server: JudgeServer, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`rewardlab score` end to end: the store, the output and the summary JSON; the key is in none."""
    from typer.testing import CliRunner

    from rewardlab.cli import app

    monkeypatch.setenv(KEY_ENV, SECRET)
    server.respond = lambda body, n: Answer(f"echo {SECRET}\nScore: 8")
    spec = tmp_path / "spec.toml"
    spec.write_text(f'[rewards.j]\ntype = "judge.rubric"\nbase_url = "{server.base_url}"\nmodel = "m"\n'
                    f'api_key_env = "{KEY_ENV}"\nrubric = "r"\ncache = "{tmp_path / "c.sqlite"}"\n')
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "completion": f"c{i % 2}"}) + "\n" for i in range(4)))
    out, summary = tmp_path / "out.jsonl", tmp_path / "summary.json"
    result = CliRunner().invoke(app, ["score", str(data), "--spec", str(spec), "--out", str(out),
                                      "--summary-json", str(summary)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["j"] for line in out.read_text().splitlines()] == [pytest.approx(7 / 9)] * 4
    stats = json.loads(summary.read_text())
    assert next(s for s in stats if s["name"] == "j")["tokens"]["requests"] == 2
    # even a reply that echoes the key is scrubbed before it is cached or read
    assert not out.with_name(out.name + ".rlstore").exists()  # removed after the run; it held out's rows
    for path in (out, summary, tmp_path / "c.sqlite", spec):
        assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in result.output and server.log[0]["headers"]["authorization"] == f"Bearer {SECRET}"
    assert "tokens in/out" in result.output and "100/20" in result.output  # the summary table shows usage


@pytest.mark.parametrize("scoring_process", [False, True])
def test_judge_behind_the_reward_server(server: JudgeServer, tmp_path: Path, scoring_process: bool) -> None:
    """rewardlab serve with a judge component, in the server's process and in its scoring process."""
    from fastapi.testclient import TestClient

    from rewardlab.serve import ServerConfig, create_app

    spec = {"rewards": {"j": {"type": "judge.rubric", "base_url": server.base_url, "model": f"m{scoring_process}",
                              "rubric": "r", "cache": str(tmp_path / "c.sqlite")}},
            "engine": {"workers": 1}}
    config = ServerConfig(spec=spec, scoring_process=scoring_process, max_wait_ms=5)
    with TestClient(create_app(config)) as client:
        samples = [{"id": str(i), "group": "g", "completion": f"x REPLY[Score: {i + 2}]REPLY"} for i in range(3)]
        r = client.post("/score", json={"samples": samples})
    assert r.status_code == 200, r.text
    assert [row["j"] for row in r.json()["rows"]] == [pytest.approx(k / 9) for k in (1, 2, 3)]
    assert server.requests == 3


def test_a_judge_is_not_cut_at_the_engine_default_deadline(server: JudgeServer, tmp_path: Path) -> None:
    """The engine's generic default (here 0.1 s) gives way to the judge's own bound; a spec's timeout does not."""
    server.respond = lambda body, n: Answer("Score: 10", delay=0.3)
    reward = judge(server, tmp_path, request_timeout=5, max_retries=2, backoff_max=1)
    assert reward.default_timeout == 5 * 3 + 1 * 2 + 3
    (score,) = run(reward, rows("x"), timeout=0.1)
    assert score.value == 1.0


def test_an_error_carries_its_http_status_apart_from_the_reply_text(server: JudgeServer, tmp_path: Path) -> None:
    """A 500 whose body mentions another status is a 500: vLLM route detection reads the status, not the text
    (a route was taken for absent when a 500's body said "HTTP 404")."""
    from rewardlab.judges.client import JudgeError
    from rewardlab.judges.loop import run_sync
    from rewardlab.models.vllm import _absent

    server.respond = lambda body, n: Answer("upstream said HTTP 404 Not Found", 500)
    client = judge(server, tmp_path, max_retries=0).client
    with pytest.raises(JudgeError) as raised:
        run_sync(client.request_json("/chat/completions", {"messages": []}))
    assert raised.value.http_status == 500 and "HTTP 404" in raised.value.reason
    assert not _absent(raised.value)
    server.respond = lambda body, n: Answer("no such route", 404)
    with pytest.raises(JudgeError) as raised:
        run_sync(client.request_json("/chat/completions", {"messages": []}))
    assert raised.value.http_status == 404 and _absent(raised.value)
