"""The report's figures, drawn with matplotlib and inlined as SVG.

Why matplotlib's SVG and not plotly: a self-contained plotly page inlines plotly.min.js (4.8 MB
in plotly 7.1) and draws its figures only when that script runs. An SVG written by matplotlib is
a few to a few tens of kilobytes per figure (the tests' full eval report, 9 figures, is about
200 kB), is drawn by the browser with no script at all (so the page can forbid scripts outright,
see :mod:`.html`), prints, and opens the same in any browser, offline or not. The figures are
static, which is all a report needs. They are drawn on a bare :class:`matplotlib.figure.Figure`
(no pyplot: no global state, no GUI backend), with text kept as SVG text, and with fixed ids and
no date, so the same result gives the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rewardlab.errors import import_extra
from rewardlab.evaluate.report.fields import number

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WIDTH = 7.0  # inches; the SVG scales to the page
LABEL_CHARS = 40
PALETTE = {"reward": "#0969da", "oracle": "#1a7f37", "random": "#8c959f", "gold": "#bf8700", "proxy": "#0969da"}


def label(value: Any, limit: int | None = LABEL_CHARS) -> str:
    """Data text as a matplotlib label: shortened to ``limit`` characters (tick labels; the tables
    beside each figure have the full names), with ``$`` escaped so it is never read as math."""
    s = str(value)
    s = s if limit is None or len(s) <= limit else s[: limit - 1] + "…"
    return s.replace("$", r"\$")


def figure(height: float, rows: int = 1, ratios: Sequence[float] | None = None) -> tuple[Figure, list[Axes]]:
    """A new figure with ``rows`` stacked axes."""
    mfig = import_extra("matplotlib.figure", "eval", "the HTML report")
    fig = mfig.Figure(figsize=(WIDTH, height), layout="constrained")
    axes = fig.subplots(rows, 1, squeeze=False, height_ratios=ratios)[:, 0]
    return fig, list(axes)


def svg(fig: Figure, name: str) -> str:
    """The figure as an ``<svg>`` element to inline in HTML (XML prolog and doctype removed)."""
    rc = import_extra("matplotlib", "eval", "the HTML report").rc_context
    buf = io.StringIO()
    with rc({"svg.fonttype": "none", "svg.hashsalt": name}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _finite(pairs: Iterable[Sequence[Any]]) -> list[tuple[float, float]]:
    """The (x, y) pairs whose two values are finite numbers (nulls and NaN are not drawn)."""
    out = [(number(p[0]), number(p[1])) for p in pairs]
    return [(a, b) for a, b in out if a is not None and b is not None]


def bars(name: str, scores: Mapping[str, Any], title: str, counts: Mapping[str, Any] | None = None) -> str:
    """Horizontal bars of name → score (a null score has no bar and reads n/a)."""
    names = list(scores)
    values = [number(scores[k]) for k in names]
    fig, (ax,) = figure(0.8 + 0.28 * len(names))
    ys = range(len(names))
    ax.barh(ys, [v or 0.0 for v in values], color=PALETTE["reward"], height=0.7)
    top = max([1.0, *(v for v in values if v is not None)])
    for y, v, k in zip(ys, values, names, strict=True):
        n = "" if counts is None or number(counts.get(k)) is None else f"  (n={counts[k]})"
        ax.text((v or 0.0) + 0.01 * top, y, ("n/a" if v is None else f"{v:.3g}") + n, va="center", fontsize=8)
    ax.set_yticks(list(ys), [label(k) for k in names], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(min(0.0, *(v or 0.0 for v in values)), top * 1.25)
    ax.set_title(label(title, None), fontsize=10)
    return svg(fig, name)


def reliability(name: str, curve: Sequence[Mapping[str, Any]], title: str) -> str:
    """Reliability diagram: accuracy per confidence bin against the diagonal, counts below."""
    fig, (ax, hist) = figure(5.0, 2, [3, 1])
    for b in curve:
        lo, hi = number(b.get("lo")), number(b.get("hi"))
        if lo is None or hi is None:
            continue
        acc, conf = number(b.get("accuracy")), number(b.get("confidence"))
        if acc is not None:
            ax.bar(lo, acc, width=hi - lo, align="edge", color=PALETTE["reward"], edgecolor="white", alpha=0.85)
            if conf is not None:
                ax.plot([conf], [acc], "o", color="black", markersize=3)
        hist.bar(lo, number(b.get("count")) or 0.0, width=hi - lo, align="edge", color=PALETTE["random"],
                 edgecolor="white")
    ax.plot([0, 1], [0, 1], "--", color="black", linewidth=1, label="perfect calibration")
    ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy (fraction correct)")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(label(title, None), fontsize=10)
    hist.set(xlim=(0, 1), xlabel="confidence (bin of predicted probability)", ylabel="count")
    return svg(fig, name)


def lines(name: str, x: Sequence[Any], series: Mapping[str, Sequence[Any]], title: str, xlabel: str,
          ylabel: str, log2_x: bool = False) -> str:
    """Curves sharing one x axis (best-of-n accuracy against n, gold and proxy against KL)."""
    fig, (ax,) = figure(3.6)
    xs = [number(v) for v in x]
    for key, ys in series.items():
        pts = _finite(zip(xs, ys, strict=False))  # a series shorter than x is drawn as far as it goes
        if pts:
            ax.plot([a for a, _ in pts], [b for _, b in pts], "o-", label=label(key), color=PALETTE.get(key),
                    markersize=4)
    if log2_x:  # n = 1, 2, 4, ...: even spacing, ticks at the n measured
        ax.set_xscale("log", base=2)
        ticks = sorted({v for v in xs if v is not None and v > 0})
        ax.set_xticks(ticks, [f"{v:g}" for v in ticks])
        ax.minorticks_off()
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(label(title, None), fontsize=10)
    return svg(fig, name)


def scatter(name: str, points: Sequence[Sequence[Any]], title: str, xlabel: str, ylabel: str) -> str:
    """A scatter of (x, y) pairs (length against reward)."""
    fig, (ax,) = figure(3.6)
    xy = _finite(p for p in points if isinstance(p, Sequence) and len(p) == 2)
    if xy:
        ax.scatter([a for a, _ in xy], [b for _, b in xy], s=6, alpha=0.5, color=PALETTE["reward"], linewidths=0)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.set_title(label(title, None), fontsize=10)
    return svg(fig, name)


def heatmap(name: str, matrix: Sequence[Sequence[Any]], rows: Sequence[Any], cols: Sequence[Any], title: str,
            vmax: float = 1.0, flagged: frozenset[tuple[int, int]] = frozenset()) -> str:
    """A matrix of scores with each value written in its cell (n/a for null); ``flagged`` cells
    (row, column) get a red frame."""
    values = [[number(v) for v in row] for row in matrix]
    grid = [[float("nan") if v is None else v for v in row] for row in values]
    patches = import_extra("matplotlib.patches", "eval", "the HTML report")
    fig, (ax,) = figure(1.4 + 0.4 * len(rows))
    ax.imshow(grid, cmap="Blues", vmin=0.0, vmax=vmax, aspect="auto")
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            dark = v is not None and v > 0.6 * vmax
            ax.text(j, i, "n/a" if v is None else f"{v:.3g}", ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")
    for i, j in flagged:
        ax.add_patch(patches.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#cf222e", linewidth=2.5))
    ax.set_xticks(range(len(cols)), [label(c) for c in cols], fontsize=8, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), [label(r) for r in rows], fontsize=8)
    ax.set_title(label(title, None), fontsize=10)
    return svg(fig, name)
