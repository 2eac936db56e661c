"""The eval and audit HTML reports: contents, escaping, tolerance of missing keys, bad input."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from rewardlab.errors import InputError
from rewardlab.evaluate.report import render_audit, render_eval

DATA = Path(__file__).parent / "data" / "report"


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


class Parsed(HTMLParser):
    """Tags, ids and visible text of a page, as a browser's parser sees them."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.ids: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self.feed(document)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs
        self.ids += [v for k, v in attrs if k == "id" and v]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def render(kind: str, result: dict[str, Any], tmp_path: Path) -> Parsed:
    out = (render_eval if kind == "eval" else render_audit)(result, tmp_path / f"{kind}.html")
    return Parsed(out.read_text(encoding="utf-8"))


def test_eval_report_has_every_part_of_a_full_result(tmp_path: Path) -> None:
    page = render("eval", load("eval.json"), tmp_path)
    for part in ("headline", "sections", "subsets", "extra", "checks", "timing"):
        assert part in page.ids
    text = "".join(page.text)
    assert "0.7123" in text and "rewardbench" in text and "Prior Sets at half weight" in text


def test_eval_report_needs_only_the_headline_keys(tmp_path: Path) -> None:
    page = render("eval", {"benchmark": "preference", "overall": None}, tmp_path)
    assert page.ids == ["headline"]
    assert "—" in "".join(page.text)  # a null overall is shown as missing, not as 0


def test_eval_report_names_a_missing_headline_key(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="missing 'overall'"):
        render_eval({"benchmark": "rewardbench"}, tmp_path / "x.html")


def test_eval_report_names_a_key_of_the_wrong_type(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="'subsets' must be an object"):
        render_eval({"benchmark": "b", "overall": 0.5, "subsets": [0.5]}, tmp_path / "x.html")


def test_audit_completion_with_script_is_text_not_markup(tmp_path: Path) -> None:
    page = render("audit", load("audit.json"), tmp_path)
    assert "script" not in page.tags and "img" not in page.tags
    assert not any(k.startswith("on") for k, _ in page.attrs)
    assert "<script>document.title='pwned';window.pwned=1</script>" in "".join(page.text)


def test_audit_report_needs_only_results(tmp_path: Path) -> None:
    page = render("audit", {"results": []}, tmp_path)
    assert "headline" in page.ids and "no probe results" in "".join(page.text)
    with pytest.raises(InputError, match="'results' must be a list"):
        render_audit({"results": {"a": 1}}, tmp_path / "x.html")


def test_reports_load_nothing_from_the_network(tmp_path: Path) -> None:
    for kind in ("eval", "audit"):
        page = render(kind, load(f"{kind}.json"), tmp_path)
        assert "script" not in page.tags and "link" not in page.tags
        assert not any(v and "http" in v for k, v in page.attrs if k in ("src", "href"))
