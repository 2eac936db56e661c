"""Several calls against several ground-truth calls: order-free verdict and ToolRL's decomposition.

Verdict: the candidate must make exactly the ground truth's number of calls and a one-to-one
assignment must accept every pair (a perfect matching, found with scipy's
``linear_sum_assignment``; BFCL's ``parallel_function_checker_no_order`` assigns greedily in
ground-truth order, which can miss an assignment that exists).

ToolRL (Qian et al. 2025, "ToolRL: Reward is All Tool Learning Needs", arXiv 2504.13958, Sec. 3.3):
``r_name = |N_G ∩ N_P| / |N_G ∪ N_P|`` over the call names (multisets, as the authors' code counts
them); for each matched pair ``r_param = |keys(G_j) ∩ keys(P_i)| / |keys(G_j) ∪ keys(P_i)|`` and
``r_value = Σ_{k ∈ keys(G_j)} 1[P_i[k] accepted]``; ``S_max = 1 + Σ_j (1 + |keys(G_j)|)``;
``R_correct = 6 · (r_name + Σ (r_param + r_value)) / S_max − 3 ∈ [−3, 3]``. Pairs are same-name
calls, matched to maximise the total (the paper's optimal matching; the released code matches
greedily). With possible answers, ``keys(G_j)`` are the required parameters plus the optional ones
the matched call passes, and "accepted" is BFCL's verdict on that argument, so ``R_correct = 3``
exactly when the verdict is "correct".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from rewardlab.rewards.tools.answers import CallReference, ExpectedCall
from rewardlab.rewards.tools.check import CallCheck, check_call
from rewardlab.rewards.tools.parse import ToolCall


@dataclass
class Match:
    """Outcome of matching a candidate's calls with the reference."""

    correct: bool
    errors: list[str]
    checks: dict[tuple[int, int], CallCheck]  # (candidate index, expected index) for same-name pairs


def match_calls(calls: list[ToolCall], ref: CallReference) -> Match:
    """Check every same-name pair, then look for a one-to-one assignment accepting all."""
    from scipy.optimize import linear_sum_assignment  # the 'tools' extra

    checks = {
        (i, j): check_call(call, expected, ref.doc(expected.name))
        for i, call in enumerate(calls)
        for j, expected in enumerate(ref.calls)
        if call.name == expected.name
    }
    if len(calls) != len(ref.calls):
        return Match(False, [f"made {len(calls)} call(s), expected {len(ref.calls)}"], checks)
    if not calls:
        return Match(True, [], checks)
    accepted = np.zeros((len(calls), len(ref.calls)))
    for (i, j), check in checks.items():
        accepted[i, j] = float(check.ok)
    rows, cols = linear_sum_assignment(accepted, maximize=True)
    if accepted[rows, cols].sum() == len(calls):
        return Match(True, [], checks)
    return Match(False, _unmatched_errors(calls, ref.calls, checks, set(cols[accepted[rows, cols] > 0])), checks)


def _unmatched_errors(
    calls: list[ToolCall], expected: list[ExpectedCall], checks: dict[tuple[int, int], CallCheck], done: set[Any]
) -> list[str]:
    errors = []
    for j, exp in enumerate(expected):
        if j in done:
            continue
        same_name = [checks[i, j] for i in range(len(calls)) if (i, j) in checks]
        if not same_name:
            errors.append(f"no call to {exp.name!r}")
        else:
            best = min(same_name, key=lambda c: len(c.errors))
            errors.extend(best.errors or [f"{exp.name}: accepted, but only by a call needed elsewhere"])
    return errors[:10]


def _jaccard(a: Counter[str], b: Counter[str]) -> float:
    union = sum((a | b).values())
    return sum((a & b).values()) / union if union else 1.0


def toolrl(calls: list[ToolCall], ref: CallReference, checks: dict[tuple[int, int], CallCheck]) -> dict[str, float]:
    """ToolRL's correctness terms and ``R_correct`` (see the module docstring)."""
    from scipy.optimize import linear_sum_assignment  # the 'tools' extra

    names = _jaccard(Counter(c.name for c in ref.calls), Counter(c.name for c in calls))
    if not ref.calls and not calls:
        return {"name": 1.0, "param_names": 0.0, "param_values": 0.0, "s_max": 1.0, "correct": 3.0}
    pair: dict[tuple[int, int], tuple[float, float, int]] = {}
    for (i, j), check in checks.items():
        exp = ref.calls[j]
        given = set(calls[i].arguments)
        keys = set(exp.required(ref.doc(exp.name))) | {k for k in given if exp.optional(k)}
        param = _jaccard(Counter(keys), Counter(given))
        value = sum(1.0 for k in keys & given if check.arg_ok.get(k))
        pair[i, j] = (param, value, len(keys))
    weights = np.zeros((max(len(calls), 1), max(len(ref.calls), 1)))
    for (i, j), (param, value, _) in pair.items():
        weights[i, j] = param + value + 1e-9  # a same-name pair is preferred even when it scores 0
    rows, cols = linear_sum_assignment(weights, maximize=True)
    chosen = {int(j): (int(i), j) for i, j in zip(rows, cols, strict=True) if (int(i), int(j)) in pair}
    param_total = value_total = 0.0
    s_max = 1.0
    for j, exp in enumerate(ref.calls):
        if j in chosen:
            param, value, n_keys = pair[chosen[j][0], j]
            param_total, value_total = param_total + param, value_total + value
            s_max += 1 + n_keys
        else:
            s_max += 1 + len(exp.required(ref.doc(exp.name)))
    total = names + param_total + value_total
    return {
        "name": round(names, 6), "param_names": round(param_total, 6), "param_values": value_total,
        "s_max": s_max, "correct": round(6 * total / s_max - 3, 6),
    }
