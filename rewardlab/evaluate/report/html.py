"""HTML building blocks of the report: escaping, number formatting, tables, the page.

Hand-written with the standard library's :func:`html.escape` rather than a template engine:
the page is a handful of tables and figures, and building it from small functions keeps every
piece of text taken from the data going through one escaping function (:func:`text`). The page
has no script at all, and its Content-Security-Policy forbids scripts and every network load,
so even a completion carrying ``<script>`` can only ever be shown as text.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

# nothing may load or run: only the page's own <style>, the SVGs' style attributes and the images
# matplotlib embeds in an SVG as data: URIs (a heatmap's pixels) apply
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:2rem auto;
max-width:1100px;padding:0 1rem;color:#1b1f24;line-height:1.4}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #d0d7de;padding:.25rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
.headline td.num{font-size:1.2rem;font-weight:600}
.fail{background:#ffebe9;color:#82071e;font-weight:600}.pass{background:#dafbe1;color:#116329}
.info{background:#f6f8fa;color:#57606a}
p.verdict{padding:.4rem .6rem;display:inline-block;border-radius:4px}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:.6rem}tr.example td{border-top:none;background:#fbfcfd}
pre{white-space:pre-wrap;word-break:break-word;max-height:16rem;overflow:auto;background:#f6f8fa;
padding:.4rem;margin:.2rem 0;font-size:.8rem}
figure{margin:1rem 0}figure svg{max-width:100%;height:auto}figcaption{font-size:.85rem;color:#57606a}
.note{color:#57606a;font-size:.9rem}
"""


def text(value: Any) -> str:
    """Any value as escaped HTML text: the one way data reaches the page."""
    return html.escape(str(value), quote=True)


def fmt(value: Any) -> str:
    """A cell's text: numbers to 4 significant digits (at least their integer part), null as a dash,
    booleans as yes/no."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
    return str(value)


def cell(value: Any, tag: str = "td", cls: str = "") -> str:
    """One table cell; numbers are right-aligned."""
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    classes = " ".join(c for c in (cls, "num" if numeric else "") if c)
    attr = f' class="{classes}"' if classes else ""
    return f"<{tag}{attr}>{text(fmt(value))}</{tag}>"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], cls: str = "",
          after: Sequence[str] | None = None) -> str:
    """A table of values (each escaped); a row item that is already HTML is passed as :class:`Raw`.
    ``after[i]``, HTML built by this module, follows row ``i`` (a full-width detail row)."""
    attr = f' class="{cls}"' if cls else ""
    head = "".join(cell(h, "th") for h in header)
    body = "".join("<tr>" + "".join(v.html if isinstance(v, Raw) else cell(v) for v in row) + "</tr>"
                   + (after[i] if after else "") for i, row in enumerate(rows))
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def key_values(data: Mapping[str, Any], cls: str = "") -> str:
    """A two-column table of name → value (empty when there is none)."""
    return "" if not data else table(["", "value"], [[k, v] for k, v in data.items()], cls)


def fields(data: Mapping[str, Any], skip: Iterable[str] = ()) -> str:
    """Every entry of ``data`` but ``skip`` (drawn elsewhere): single values as one table, an object
    of single values as a table of its own, a list of strings as a list, anything else as indented
    JSON; empty objects and lists are left out."""
    shown = {k: v for k, v in data.items() if k not in set(skip)}
    parts = [key_values({k: v for k, v in shown.items() if not isinstance(v, (Mapping, list, tuple))})]
    for key, value in shown.items():
        if not isinstance(value, (Mapping, list, tuple)) or not value:
            continue
        if isinstance(value, Mapping) and not any(isinstance(v, (Mapping, list, tuple)) for v in value.values()):
            parts.append(f"<h4>{text(key)}</h4>{key_values(value)}")
        elif all(isinstance(v, str) for v in value):
            parts.append(f"<h4>{text(key)}</h4><ul>{''.join(f'<li>{text(v)}</li>' for v in value)}</ul>")
        else:
            parts.append(raw_json(key, value))
    return "".join(parts)


class Raw:
    """A piece of HTML built by this module (never data), placed in a table as is."""

    def __init__(self, html_text: str) -> None:
        self.html = html_text


def section(title: str, anchor: str, *parts: str, level: int = 2) -> str:
    """A titled section (``level`` 3: a subsection, an ``h3`` in a ``div``); empty when it has no parts
    (the data had nothing for it)."""
    body = "".join(p for p in parts if p)
    tag = "section" if level == 2 else "div"
    return f'<{tag} id="{anchor}"><h{level}>{text(title)}</h{level}>{body}</{tag}>' if body else ""


def note(value: Any) -> str:
    """A paragraph of explanatory text taken from the data."""
    return f'<p class="note">{text(value)}</p>' if value not in (None, "") else ""


def verdict(passed: Any, when_pass: str, when_fail: str) -> str:
    """A pass/fail line in colour; nothing when ``passed`` is not a boolean."""
    if not isinstance(passed, bool):
        return ""
    cls, message = ("pass", when_pass) if passed else ("fail", when_fail)
    return f'<p class="verdict {cls}">{text(message)}</p>'


def page(title: str, sections: Iterable[str]) -> str:
    """The whole document: inline CSS, no script, no external resource."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{text(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{text(title)}</h1>{''.join(sections)}</body></html>\n")


def write(document: str, path: str | Path) -> Path:
    """Write the document as UTF-8, creating the parent directory."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(document, encoding="utf-8")
    return out


def figure(svg: str, caption: str = "") -> str:
    """An inline SVG figure drawn by :mod:`.plots` (its text is escaped by matplotlib's SVG writer)."""
    cap = f"<figcaption>{text(caption)}</figcaption>" if caption else ""
    return f"<figure>{svg}{cap}</figure>"


def records(rows: Iterable[Mapping[str, Any]]) -> str:
    """A table of objects, one row each, with the union of their single-value keys as columns."""
    rows = [r for r in rows if isinstance(r, Mapping)]
    columns: list[str] = []
    for row in rows:
        columns += [k for k, v in row.items() if k not in columns and not isinstance(v, (Mapping, list))]
    return table(columns, [[r.get(c) for c in columns] for r in rows]) if columns else ""


def raw_json(title: str, value: Any) -> str:
    """A value the report has no figure for, shown as indented JSON so nothing the result holds is lost."""
    body = json.dumps(value, indent=1, ensure_ascii=False, default=str)
    return f"<details><summary>{text(title)}</summary><pre>{text(body)}</pre></details>"
