"""The diagnostics part of the eval report: calibration, length bias, agreement, best-of-n,
over-optimisation and classification, each from its ``to_json()`` in ``result["diagnostics"]``."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from rewardlab.evaluate.report import html as h
from rewardlab.evaluate.report import plots
from rewardlab.evaluate.report.fields import mapping, sequence

WHERE = "eval report: diagnostics: "
_sub = partial(h.section, level=3)  # each diagnostic is a subsection of Diagnostics
CURVE_KEYS = ("n", "reward", "oracle", "random")
BON_TITLE = "Best-of-n: accuracy of the reward's pick, the oracle's and a random pick"
BON_CAPTION = ("Expected accuracy over all size-n subsets of each prompt's candidates "
               "(reward: the highest-scored candidate, ties averaged; oracle: any correct; random: a uniform pick).")


def diagnostics(result: Mapping[str, Any]) -> str:
    """The diagnostics section; empty when the result has none."""
    diag = mapping(result, "diagnostics", "eval report: ")
    if not diag:
        return ""
    notes = [h.note(n) for n in sequence(diag, "notes", WHERE) or []]
    parts = [*notes, _calibration(diag), _length(diag), _pairs(diag), _agreement(diag),
             _best_of_n(diag, result),
             _overoptimisation(diag), _classification(diag)]
    return h.section("Diagnostics", "diagnostics", *parts)


def _calibration(diag: Mapping[str, Any]) -> str:
    cal = mapping(diag, "calibration", WHERE)
    if not cal:
        return ""
    curve = [b for b in sequence(cal, "curve", WHERE) or [] if isinstance(b, Mapping)]
    fig = h.figure(plots.reliability("reliability", curve, "Reliability diagram"),
                   f"Bars: fraction correct per bin; dots: (mean confidence, fraction correct) of the bin. "
                   f"Binning: {cal.get('binning', 'not given')}; probability: {cal.get('probability', 'not given')}."
                   ) if curve else ""
    return _sub("Calibration", "calibration", h.fields(cal, ["curve"]), fig)


def _length(diag: Mapping[str, Any]) -> str:
    bias = mapping(diag, "length_bias", WHERE)
    if not bias:
        return ""
    points = sequence(bias, "points", WHERE)
    fig = h.figure(plots.scatter("length-bias", points, "Reward against length", "length", "reward"),
                   f"{len(points)} points (a fixed sample when there are more).") if points else ""
    return _sub("Length bias", "length-bias", h.fields(bias, ["points"]), fig)


def _pairs(diag: Mapping[str, Any]) -> str:
    bias = mapping(diag, "pair_length_bias", WHERE)
    if not bias:
        return ""
    acc = {k.removesuffix("_accuracy").replace("_", " "): v for k, v in bias.items() if k.endswith("_accuracy")}
    fig = h.figure(plots.bars("pair-length", acc, "Preference accuracy by which answer is longer")) if acc else ""
    points = sequence(bias, "points", WHERE)
    diff = h.figure(plots.scatter("pair-length-points", points, "Reward margin against length margin",
                                  "len(chosen) - len(rejected)", "r(chosen) - r(rejected)")) if points else ""
    return _sub("Pair length bias", "pair-length-bias", h.fields(bias, ["points"]), fig, diff)


def _agreement(diag: Mapping[str, Any]) -> str:
    rows = diag.get("agreement")
    rows = [rows] if isinstance(rows, Mapping) else sequence(diag, "agreement", WHERE)
    return _sub("Agreement between rewards", "agreement", h.records(rows)) if rows else ""


def best_of_n(curve: Mapping[str, Any] | None, anchor: str) -> str:
    """The best-of-n curve and its table (from diagnostics or a best-of-n benchmark's extra)."""
    if not curve or not sequence(curve, "n", WHERE):
        return ""
    ns = curve["n"]
    series = {k: curve[k] for k in CURVE_KEYS[1:] if isinstance(curve.get(k), list)}
    fig = h.figure(plots.lines(anchor, ns, series, BON_TITLE, "n (candidates)", "accuracy", log2_x=True),
                   BON_CAPTION)
    rows = [[n, *(series[k][i] if i < len(series[k]) else None for k in series)] for i, n in enumerate(ns)]
    return _sub("Best-of-n", anchor, fig, h.table(["n", *series], rows), h.fields(curve, ["n", *series]))


def _best_of_n(diag: Mapping[str, Any], result: Mapping[str, Any]) -> str:
    """The diagnostics' best-of-n curve, unless it is the one a best-of-n benchmark already shows."""
    curve = mapping(diag, "best_of_n", WHERE)
    extra = result.get("extra")
    shown = extra.get("curve") if isinstance(extra, Mapping) else None
    if curve and isinstance(shown, Mapping) and all(shown.get(k) == curve.get(k) for k in CURVE_KEYS):
        return h.note("Best-of-n: the same curve as in the benchmark details above.")
    return best_of_n(curve, "diag-best-of-n")


def _overoptimisation(diag: Mapping[str, Any]) -> str:
    over = mapping(diag, "overoptimisation", WHERE)
    if not over or not sequence(over, "kl", WHERE):
        return ""
    series = {k: over[k] for k in ("gold", "proxy") if isinstance(over.get(k), list)}
    fig = h.figure(plots.lines("overoptimisation", over["kl"], series, "Gold and proxy reward of best-of-n by proxy",
                               "KL_bon = log n - (n - 1)/n (nats)", "expected reward"),
                   "Gao et al. 2022 (arXiv 2210.10760): the proxy keeps rising with n; "
                   "where gold falls, selection is over-optimising the proxy.")
    kls = over["kl"]
    ns = over["n"] if isinstance(over.get("n"), list) else []
    rows = [[ns[i] if i < len(ns) else None, kl, *(series[k][i] if i < len(series[k]) else None for k in series)]
            for i, kl in enumerate(kls)]
    return _sub("Over-optimisation", "overoptimisation", fig, h.table(["n", "KL_bon", *series], rows),
                h.fields(over, ["n", "kl", *series]))


def _classification(diag: Mapping[str, Any]) -> str:
    cls = mapping(diag, "classification", WHERE)
    return _sub("Classification", "classification", h.fields(cls)) if cls else ""
