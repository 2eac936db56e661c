"""The engine: hard timeouts from any calling context, isolation, dedup, cache."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from rewardlab import Sample, Score, Status
from rewardlab.core import BaseReward, CostClass, Deps
from rewardlab.engine import Engine
from rewardlab.errors import SpecError
from tests.plugin_rewards import CpuReward, InlineReward

LIMIT = 0.5
# The limit is enforced from outside; a generous bound only shows that the call
# returns at all (a hang would fail on pytest-timeout instead). Not a speed check.
RETURNS_WITHIN = 30.0


def _batch(*texts: str) -> list[Sample]:
    return [Sample(str(i), completion=t) for i, t in enumerate(texts)]


def _check_timeout_batch(scores: list[Score]) -> None:
    assert [s.status for s in scores] == [Status.OK, Status.TIMEOUT, Status.OK, Status.TIMEOUT, Status.OK]
    assert [s.value for s in scores] == [1.0, None, 2.0, None, 3.0]
    assert scores[1].detail["limit_s"] == LIMIT


TIMEOUT_BATCH = ("a", "hang", "bb", "swallow", "ccc")


def test_timeout_from_main_thread(engine: Engine) -> None:
    start = time.monotonic()
    scores = engine.run(CpuReward(), _batch(*TIMEOUT_BATCH), timeout=LIMIT)
    assert time.monotonic() - start < RETURNS_WITHIN
    _check_timeout_batch(scores)


def test_timeout_from_another_thread(engine: Engine) -> None:
    out: list[list[Score]] = []
    thread = threading.Thread(target=lambda: out.append(engine.run(CpuReward(), _batch(*TIMEOUT_BATCH),
                                                                   timeout=LIMIT)))
    thread.start()
    thread.join(RETURNS_WITHIN)
    assert not thread.is_alive()
    _check_timeout_batch(out[0])


def test_timeout_inside_running_asyncio_loop(engine: Engine) -> None:
    async def main() -> tuple[list[Score], list[Score]]:
        sync_call = engine.run(CpuReward(), _batch(*TIMEOUT_BATCH), timeout=LIMIT)
        async_call = await engine.arun(CpuReward(sleep=0.0), _batch(*TIMEOUT_BATCH), timeout=LIMIT)
        return sync_call, async_call

    a, b = asyncio.run(main())
    _check_timeout_batch(a)
    _check_timeout_batch(b)


def test_killed_worker_is_replaced_and_pool_keeps_working(engine: Engine) -> None:
    before = engine.pool.replaced
    scores = engine.run(CpuReward(), _batch("hang", "die"), timeout=LIMIT)
    assert [s.status for s in scores] == [Status.TIMEOUT, Status.ERROR]
    assert "worker process died" in scores[1].detail["reason"]
    assert engine.pool.replaced >= before + 2
    after = engine.run(CpuReward(), _batch("x" * 7), timeout=LIMIT)
    assert after[0].value == 7.0


@pytest.mark.parametrize("then", ["run", "warm"])
def test_a_worker_killed_while_idle_is_replaced_at_the_next_call(then: str) -> None:
    """A worker that dies between runs (killed from outside, the OOM killer) has a closed pipe: the next run or
    warm raised BrokenPipeError at its first send. It is replaced instead, and the run scores as usual."""
    with Engine(workers=1, timeout=10) as eng:
        assert eng.run(CpuReward(), _batch("ab"))[0].value == 2.0
        worker = eng.pool._workers[0]
        os.killpg(worker.proc.pid, 9)
        worker.proc.wait(RETURNS_WITHIN)
        if then == "warm":
            eng.pool.warm(CpuReward())
        assert [s.value for s in eng.run(CpuReward(), _batch("abc", "d"))] == [3.0, 1.0]
        assert eng.pool.replaced == 1


def test_memory_limit_turns_a_memory_bomb_into_an_error() -> None:
    with Engine(workers=1, timeout=10, memory_limit_mb=512) as eng:
        scores = eng.run(CpuReward(), _batch("alloc", "abc"))
    assert scores[0].status is Status.ERROR and "MemoryError" in scores[0].detail["reason"]
    assert scores[1].value == 3.0


def test_exception_is_isolated(engine: Engine) -> None:
    for reward in (CpuReward(), InlineReward()):
        scores = engine.run(reward, _batch("a", "boom", "bb"))
        assert [s.value for s in scores] == [1.0, None, 2.0]
        assert scores[1].status is Status.ERROR
        assert "ValueError: boom happened" in scores[1].detail["reason"]


def test_duplicates_are_computed_once(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    with Engine(workers=2, timeout=5) as eng:
        texts = ["x", "y", "x", "x", "z", "y", "x", "x"]
        scores = eng.run(CpuReward(log=str(log)), _batch(*texts))
        assert [s.value for s in scores] == [1.0] * 8
        assert sorted(line.split()[1] for line in log.read_text().splitlines()) == ["x", "y", "z"]
        # and a second call is served from the cache
        eng.run(CpuReward(log=str(log)), _batch("x", "y"))
        assert len(log.read_text().splitlines()) == 3
        assert eng.cache.hits >= 2


def test_timeouts_and_errors_are_not_cached(engine: Engine) -> None:
    engine.run(CpuReward(), _batch("boom"))
    assert engine.run(CpuReward(), _batch("boom"))[0].status is Status.ERROR
    assert engine.cache.get(CpuReward().key(_batch("boom")[0])) is None


class Echo(BaseReward):
    name = "test.io_echo"
    cost = CostClass.IO

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def ascore_one(self, sample: Sample, deps: Deps) -> Score:
        self.calls += 1
        if sample.completion == "slow":
            await asyncio.sleep(60)
        await asyncio.sleep(0.01)
        return Score.ok(float(len(sample.completion_text)))


def test_io_rewards_run_concurrently_with_deadline() -> None:
    with Engine(timeout=0.3) as eng:
        reward = Echo()
        scores = eng.run(reward, _batch("a", "slow", "a", "bb"))
        assert [s.status for s in scores] == [Status.OK, Status.TIMEOUT, Status.OK, Status.OK]
        assert reward.calls == 3  # the duplicate "a" was computed once


def test_io_rewards_from_inside_a_loop() -> None:
    async def main() -> list[Score]:
        with Engine(timeout=5) as eng:
            return eng.run(Echo(), _batch("abc"))

    assert asyncio.run(main())[0].value == 3.0


def test_engine_config_is_validated() -> None:
    with pytest.raises(SpecError, match="engine: parameter 'workers'"):
        Engine(workers=0)
    with pytest.raises(SpecError, match="unknown parameter 'threads'"):
        Engine(threads=3)


class Bare:
    """A reward that implements only the protocol: batch in, batch out."""

    name = "bare"
    cost = CostClass.INLINE

    def score(self, samples: list[Sample]) -> list[Score]:
        return [Score.ok(1.0) for _ in samples]


def test_protocol_only_rewards_are_accepted(engine: Engine) -> None:
    assert [s.value for s in engine.run(Bare(), _batch("a", "b"))] == [1.0, 1.0]


SCRIPT_WITHOUT_MAIN_GUARD = """
from rewardlab.core import BaseReward, CostClass, Score
from rewardlab.pipeline import Pipeline


class LocalCpu(BaseReward):  # defined in __main__: reaches the workers by value
    name = "local.cpu"
    cost = CostClass.CPU
    reads = ("completion",)

    def score_one(self, sample, deps):
        return Score.ok(float(len(sample.completion_text)))


print([s.value for s in LocalCpu().score([{"completion": "abc"}, {"completion": "de"}])])
pipeline = Pipeline.from_spec({"rewards": {"m": {"type": "math"}}})
print(pipeline.run([{"completion": "\\\\boxed{4}", "reference": "4"}]).rewards)
"""


def test_scripts_without_a_main_guard_work(tmp_path: Path) -> None:
    """Workers never import the caller's __main__ (a forkserver/spawn pool would re-run it)."""
    import subprocess
    import sys

    script = tmp_path / "train.py"
    script.write_text(SCRIPT_WITHOUT_MAIN_GUARD)
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["[3.0, 2.0]", "[1.0]"]


def test_warm_loads_a_cpu_reward_in_the_workers_before_the_first_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The workers start and load the reward at ``warm``; the first run waits for those loads and sends none."""
    from rewardlab.engine.pool import ProcessPool, reward_key

    loads: list[str] = []
    send_load = ProcessPool._send_load

    def counted(self: ProcessPool, w: Any, key: str, blob: bytes) -> None:
        loads.append(key)
        send_load(self, w, key, blob)

    monkeypatch.setattr(ProcessPool, "_send_load", counted)
    reward = CpuReward()
    with Engine(workers=2, timeout=5.0) as eng:
        eng.warm(reward)
        assert loads == [reward_key(reward)] * 2
        assert [w.loading or w.loaded for w in eng.pool._workers] == [reward_key(reward)] * 2
        scores = eng.run(reward, _batch("a", "bb", "boom"))
        assert [s.value for s in scores] == [1.0, 2.0, None] and scores[2].status is Status.ERROR
        assert len(loads) == 2 and eng.pool.replaced == 0
        eng.warm(reward)  # loaded already: nothing to send
        assert len(loads) == 2


def test_warm_starts_nothing_for_an_inline_reward() -> None:
    with Engine(workers=2) as eng:
        eng.warm(InlineReward())
        assert eng._pool is None


class _Unloadable(CpuReward):
    """Fails to load in a worker (unpickling raises), as a reward whose imports fail there would."""

    def __setstate__(self, state: dict[str, object]) -> None:
        raise RuntimeError("cannot load here")


def test_a_reward_that_fails_to_load_while_warming_fails_its_first_batch_as_unwarmed() -> None:
    with Engine(workers=2, timeout=5.0) as eng:
        eng.warm(_Unloadable())
        scores = eng.run(_Unloadable(), _batch("a", "bb"))
    assert [s.status for s in scores] == [Status.ERROR] * 2
    assert "could not be loaded in a worker: RuntimeError: cannot load here" in scores[0].detail["reason"]


def test_a_pipeline_warms_its_cpu_components() -> None:
    from rewardlab.pipeline import Pipeline

    pipeline = Pipeline.from_spec({"rewards": {"c": {"type": "test.cpu"}, "i": {"type": "test.inline"}},
                                   "engine": {"workers": 1}})
    try:
        pipeline.warm()
        assert [w.loading or w.loaded for w in pipeline.engine.pool._workers] == [
            f"tests.plugin_rewards.CpuReward:{pipeline.components[0].reward.config_hash}"]
    finally:
        pipeline.close()


class _SlowToLoad(CpuReward):
    """Takes a while to load in a worker, as math-verify's imports do."""

    def __setstate__(self, state: dict[str, object]) -> None:
        time.sleep(0.5)
        self.__dict__.update(state)


def test_closing_a_pool_still_loading_a_warmed_reward_kills_the_loading_workers() -> None:
    """A warmed pool that never ran (a resumed eval with nothing left to score) is not waited for."""
    eng = Engine(workers=1)
    eng.warm(_SlowToLoad())
    proc = eng.pool._workers[0].proc
    eng.close()
    assert proc.returncode == -9


class _DiesLoading(CpuReward):
    """Kills its worker while loading (unpickling exits), as a crashing native import would."""

    def __setstate__(self, state: dict[str, object]) -> None:
        os._exit(3)


@pytest.mark.parametrize("warmed", [_Unloadable, _DiesLoading], ids=["load_error", "died_loading"])
def test_a_warmed_reward_that_cannot_load_does_not_fail_another_rewards_run(warmed: type[CpuReward]) -> None:
    """``warm(A)`` then ``run(B)``: A's failed loads, still in flight when B starts, are A's, not B's.

    Before, B's run took A's ``load_error`` (or A's deaths while loading) as its own and failed every
    sample of B with "the reward could not be loaded" (or "workers died while loading the reward")."""
    with Engine(workers=2, timeout=5.0) as eng:
        eng.warm(warmed())
        scores = eng.run(CpuReward(), _batch("a", "bb"))
    assert [(s.value, s.status) for s in scores] == [(1.0, Status.OK), (2.0, Status.OK)]


class _FailsInOneWorker(CpuReward):
    """The first worker to load it fails after a moment (``flag``: a file path claimed by that worker);
    the others load it; "slow" takes 3 s to score (the others: none)."""

    flag = ""

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        try:
            os.close(os.open(self.flag, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return
        time.sleep(0.3)  # the other worker is scoring "slow" by now
        raise RuntimeError("cannot load in this worker")

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        if sample.completion == "slow":
            time.sleep(3.0)
        return super().score_one(sample, deps)


def test_results_of_items_failed_by_a_load_failure_are_not_taken_by_the_next_run(tmp_path: Path) -> None:
    """A load failure fails every item, including the chunk another worker is scoring; that worker's late
    answers must not become the next run's scores (its slots count from 0 again). Before, the next run's
    first sample ("x", 1.0) got the failed run's "slow" score, 4.0, with status ok."""
    reward = _FailsInOneWorker(sleep=0.0)
    reward.flag = str(tmp_path / "flag")
    with Engine(workers=2, timeout=10.0) as eng:
        failed = eng.run(reward, _batch("slow", "bb", "ccc", "dddd"))
        assert {s.status for s in failed} == {Status.ERROR}
        scores = eng.run(reward, _batch("x", "yy", "zzz", "wwww"))
    assert [(s.value, s.status) for s in scores] == [(1.0, Status.OK), (2.0, Status.OK), (3.0, Status.OK),
                                                      (4.0, Status.OK)]


def test_a_run_stopped_by_ctrl_c_leaves_no_answers_for_the_next_run() -> None:
    """Ctrl-C (here: raised from ``on_result``) ends a run while workers still score its chunks; their answers
    must not reach the next run. Before, the next run waited for them and passed them on as its own slots
    (a 2-sample run got slots 2 and 3; Engine.run raised IndexError, or kept a stale score)."""
    from rewardlab.engine.pool import ProcessPool

    def items(*texts: str) -> list[tuple[int, Sample, dict[str, Score]]]:
        return [(i, s, {}) for i, s in enumerate(_batch(*texts))]

    def interrupt(slot: int, score: Score) -> None:
        raise KeyboardInterrupt

    pool = ProcessPool(2)
    try:
        with pytest.raises(KeyboardInterrupt):
            pool.run(CpuReward(sleep=0.2), items(*["a" * 10] * 8), 10.0, interrupt)
        got: dict[int, float | None] = {}
        pool.run(CpuReward(sleep=0.2), items("x", "yy"), 10.0, lambda slot, score: got.update({slot: score.value}))
    finally:
        pool.close()
    assert got == {0: 1.0, 1: 2.0}
