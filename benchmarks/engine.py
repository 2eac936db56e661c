"""Engine overhead and process-pool speed-up, measured side by side in one run.

    python -m benchmarks.engine [--samples 100000] [--cpu-samples 400]

1. Inline overhead: a trivial inline reward over N samples, through ``Engine.run``
   versus a bare loop calling ``score_one``; prints microseconds per sample.
2. Pool speed-up: a CPU-bound reward (pure-Python prime counting, distinct inputs so
   nothing is deduplicated or cached) in one process versus the engine's warm
   process pool with one worker per core; prints the ratio.
"""

from __future__ import annotations

import argparse
import os
import time

from rewardlab.core import BaseReward, CostClass, Deps, Sample, Score
from rewardlab.engine import Engine


class Trivial(BaseReward):
    name = "bench.trivial"
    reads = ("completion",)

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        return Score.ok(1.0 if sample.completion else 0.0)


def count_primes(limit: int) -> int:
    sieve = 0
    for n in range(2, limit):
        if all(n % d for d in range(2, int(n**0.5) + 1)):
            sieve += 1
    return sieve


class PrimeCount(BaseReward):
    name = "bench.primes"
    cost = CostClass.CPU
    reads = ("completion",)

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        return Score.ok(float(count_primes(int(sample.completion_text))))


def best_of(repeats: int, fn: object) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def inline_overhead(n: int) -> None:
    samples = [Sample(str(i), completion="x" * (i % 5)) for i in range(n)]
    reward = Trivial()
    engine = Engine()
    bare = best_of(3, lambda: [reward.score_one(s, {}) for s in samples])
    through = best_of(3, lambda: engine.run(reward, samples))
    per = (through - bare) / n * 1e6
    print(f"inline: {n:,} samples  bare loop {bare:.3f} s  engine {through:.3f} s  "
          f"engine overhead {per:.2f} us/sample (goal <= 20)")


def pool_speedup(n: int, workers: int) -> None:
    samples = [Sample(str(i), completion=str(4000 + i)) for i in range(n)]
    reward = PrimeCount()
    with Engine(workers=workers, timeout=60) as engine:
        # start every worker and load the reward in each (distinct inputs: duplicates would be computed once)
        engine.run(reward, [Sample(f"warm{i}", completion=str(10 + i)) for i in range(4 * workers)])
        start = time.perf_counter()
        one = [reward.score_one(s, {}) for s in samples]
        single = time.perf_counter() - start
        engine.cache.clear()
        start = time.perf_counter()
        pooled = engine.run(reward, samples)
        parallel = time.perf_counter() - start
    assert [s.value for s in one] == [s.value for s in pooled], "pool and single process disagree"
    print(f"cpu: {n} samples of ~{single / n * 1e3:.1f} ms  one process {single:.2f} s  "
          f"pool of {workers} {parallel:.2f} s  speed-up {single / parallel:.2f}x (goal >= 1.7x)")


def main() -> None:
    parser = argparse.ArgumentParser(description="rewardlab engine benchmark")
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--cpu-samples", type=int, default=400)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores")
    inline_overhead(args.samples)
    pool_speedup(args.cpu_samples, args.workers)


if __name__ == "__main__":
    main()
