"""GRPO advantages for a million rollouts: rewardlab against the usual implementations.

    python -m benchmarks.advantages [--n 1000000] [--group-size 8] [--repeats 7]

Then the newer estimators (``gaussian_rank``, with and without its task pass, and
``ema_grpo``) on the same rewards, each beside a per-group Python loop in the form
of its authors' released code (OpenVLThinkerV2's ``compute_1d_ot``, OneThinker's
``compute_ema_grpo_outcome_advantage``), with the largest difference between them.

Peers, on the same rewards in the same run:

* ``python-loop``: a straightforward per-group Python implementation, in the form
  of verl's ``compute_grpo_outcome_advantage`` (dict of lists per group id, then a
  loop over samples), on Python floats;
* ``torch-trl``: TRL's form, ``rewards.view(-1, G).mean/std(dim=1)`` then
  ``repeat_interleave`` (only when torch is installed; skipped with a message
  otherwise).

rewardlab's input is the reward array and integer group codes (as
``BatchContext.from_groups`` takes them); the time is the estimator call. Each
figure is the best of ``--repeats`` runs (the Python loop runs once). All three
use the unbiased std; eps is 1e-4 for all three (TRL's value) so results are
compared to 1e-9. Times are wall-clock on this machine: compare ratios, not
absolute numbers across machines.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from rewardlab.advantages import GRPO, EmaGRPO, GaussianRank
from rewardlab.batch import BatchContext

EPS = 1e-4


def best_of(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Best wall time of ``repeats`` calls, and the last result."""
    best, out = math.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def python_loop_grpo(scores: list[float], index: list[int]) -> list[float]:
    """verl's loop form in plain Python: group lists, mean and unbiased std per group."""
    id2score: dict[int, list[float]] = defaultdict(list)
    for s, g in zip(scores, index, strict=True):
        id2score[g].append(s)
    id2mean: dict[int, float] = {}
    id2std: dict[int, float] = {}
    for g, vals in id2score.items():
        n = len(vals)
        if n == 1:
            id2mean[g], id2std[g] = 0.0, 1.0
            continue
        m = sum(vals) / n
        id2mean[g] = m
        id2std[g] = math.sqrt(sum((v - m) ** 2 for v in vals) / (n - 1))
    return [(s - id2mean[g]) / (id2std[g] + EPS) for s, g in zip(scores, index, strict=True)]


def torch_trl_grpo(torch: Any, rewards: Any, group_size: int) -> Any:
    """TRL's GRPOTrainer advantage computation."""
    mean_grouped = rewards.view(-1, group_size).mean(dim=1)
    std_grouped = rewards.view(-1, group_size).std(dim=1)
    mean_grouped = mean_grouped.repeat_interleave(group_size, dim=0)
    std_grouped = std_grouped.repeat_interleave(group_size, dim=0)
    return (rewards - mean_grouped) / (std_grouped + EPS)


def python_loop_1d_ot(values: list[float]) -> list[float]:
    """OpenVLThinkerV2's ``compute_1d_ot`` in plain Python: rank quantiles, ties averaged."""
    n = len(values)
    if n <= 1:
        return [0.0] * n
    ppf = statistics.NormalDist().inv_cdf
    keys = [round(v, 12) + 0.0 for v in values]  # mathematically equal means tie (see the docs)
    order = sorted(range(n), key=keys.__getitem__)
    sums: dict[float, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for k, i in enumerate(order):
        acc = sums[keys[i]]
        acc[0] += ppf((k + 0.5) / n)
        acc[1] += 1.0
    return [sums[v][0] / sums[v][1] for v in keys]


def python_loop_gaussian(scores: list[float], index: list[int], task_pass: bool) -> list[float]:
    """Per-group 1-D OT, then (task_pass) the same over the whole batch as one task."""
    members: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(index):
        members[g].append(i)
    out = [0.0] * len(scores)
    for pos in members.values():
        for i, a in zip(pos, python_loop_1d_ot([scores[i] for i in pos]), strict=True):
            out[i] = a
    return python_loop_1d_ot(out) if task_pass else out


def python_loop_ema(scores: list[float], index: list[int], decay: float = 0.99) -> list[float]:
    """OneThinker's EMA-GRPO for one task and a fresh tracker: group-centred, scaled by the
    task std (sqrt(m2 - m1^2), floor 1e-3), groups beyond |A| > 5 by their own std."""
    m1 = sum(scores) / len(scores)
    m2 = sum(s * s for s in scores) / len(scores)
    task_std = max(m2 - m1 * m1, 1e-6) ** 0.5
    members: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(index):
        members[g].append(i)
    out = [0.0] * len(scores)
    for pos in members.values():
        vals = [scores[i] for i in pos]
        mean = sum(vals) / len(vals)
        centred = [v - mean for v in vals]
        scaled = [c / (task_std + 1e-6) for c in centred]
        if any(abs(a) > 5.0 for a in scaled):
            std = (sum(c * c for c in centred) / len(vals)) ** 0.5
            scaled = [c / (std + 1e-6) if std > 0 else 0.0 for c in centred]
        for i, a in zip(pos, scaled, strict=True):
            out[i] = a
    return out


def newer_estimators(rewards: np.ndarray, ctx: BatchContext, repeats: int) -> None:
    """rewardlab's gaussian_rank and ema_grpo beside their per-group Python loops."""
    scores, index = rewards.tolist(), ctx.group_index.tolist()
    cases: list[tuple[str, Any, Callable[[], list[float]]]] = [
        ("gaussian_rank (group + batch pass)", GaussianRank(),
         lambda: python_loop_gaussian(scores, index, True)),
        ("gaussian_rank (group pass only)", GaussianRank(task_pass=False),
         lambda: python_loop_gaussian(scores, index, False)),
        ("ema_grpo (fresh state, one task)", EmaGRPO, lambda: python_loop_ema(scores, index)),
    ]
    print(f"{'estimator':<36}  {'rewardlab (ms)':>14}  {'python loop (ms)':>16}  {'x faster':>8}  "
          f"{'max |diff|':>10}")
    for name, est, loop in cases:
        # ema_grpo is stateful: a fresh estimator per call, as the loop starts fresh
        call = (lambda: EmaGRPO()(rewards, ctx)) if est is EmaGRPO else (lambda e=est: e(rewards, ctx))
        t_rl, adv = best_of(call, repeats)
        t_py, ref = best_of(loop, 1)
        diff = float(np.max(np.abs(np.asarray(ref) - adv)))
        goal = "" if t_rl <= 0.1 else "  (over 100 ms)"
        print(f"{name:<36}  {t_rl * 1e3:>14.1f}  {t_py * 1e3:>16.1f}  {t_py / t_rl:>8.1f}  "
              f"{diff:>10.2e}{goal}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="rollouts")
    ap.add_argument("--group-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    n, g = args.n - args.n % args.group_size, args.group_size

    rng = np.random.default_rng(args.seed)
    # a realistic mix: binary correctness plus a small shaped term, with tied groups
    rewards = rng.integers(0, 2, n) + 0.1 * rng.integers(0, 3, n).astype(np.float64)
    codes = np.arange(n, dtype=np.int64) // g
    ctx = BatchContext.from_groups(codes)
    est = GRPO(eps=EPS)

    print(f"GRPO advantages: {n:,} rollouts in groups of {g} ({n // g:,} groups)")
    rows: list[tuple[str, float]] = []
    t_rl, adv = best_of(lambda: est(rewards, ctx), args.repeats)
    rows.append(("rewardlab (numpy, bincount)", t_rl))

    with_none = rewards.copy()
    with_none[rng.random(n) < 0.05] = np.nan
    t_none, _ = best_of(lambda: est(with_none, ctx), args.repeats)
    rows.append(("rewardlab, 5% None members", t_none))

    scores, index = rewards.tolist(), codes.tolist()
    t_py, ref_py = best_of(lambda: python_loop_grpo(scores, index), 1)
    rows.append(("python-loop (verl form)", t_py))
    diff_py = float(np.max(np.abs(np.asarray(ref_py) - adv)))

    diff_torch: float | None = None
    try:
        import torch
    except ImportError:
        print("torch-trl: skipped (torch is not installed; pip install torch==2.13.0)")
    else:
        tr = torch.from_numpy(rewards)
        t_torch, ref_t = best_of(lambda: torch_trl_grpo(torch, tr, g), args.repeats)
        rows.append(
            (f"torch-trl (torch {torch.__version__}, {torch.get_num_threads()} threads)", t_torch)
        )
        diff_torch = float(np.max(np.abs(ref_t.numpy() - adv)))

    width = max(len(name) for name, _ in rows)
    print(f"{'implementation':<{width}}  {'time (ms)':>10}  {'x rewardlab':>11}")
    for name, t in rows:
        print(f"{name:<{width}}  {t * 1e3:>10.1f}  {t / t_rl:>11.2f}")
    print(f"max |difference| vs python-loop: {diff_py:.2e}")
    if diff_torch is not None:
        print(f"max |difference| vs torch-trl:   {diff_torch:.2e}")
    goal = "met" if t_rl <= 0.1 else "NOT met"
    print(f"goal (<= 100 ms for {n:,} rollouts): {goal} ({t_rl * 1e3:.1f} ms)")
    print()
    newer_estimators(rewards, ctx, args.repeats)


if __name__ == "__main__":
    main()
