"""The eval and audit HTML reports: contents, escaping, tolerance of missing keys, bad input."""

from __future__ import annotations

import json
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from rewardlab.errors import InputError, MissingExtra
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
        self.chunks: list[str] = []
        self.feed(document)
        self.text = "".join(self.chunks)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs
        self.ids += [v for k, v in attrs if k == "id" and v]

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


def render(kind: str, result: dict[str, Any], tmp_path: Path) -> Parsed:
    out = (render_eval if kind == "eval" else render_audit)(result, tmp_path / f"{kind}.html")
    return Parsed(out.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def full_eval(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Parsed]:
    """The report of the full eval fixture, drawn once for the tests that only read it."""
    out = render_eval(load("eval.json"), tmp_path_factory.mktemp("report") / "eval.html")
    return out, Parsed(out.read_text(encoding="utf-8"))


def test_eval_report_has_every_part_of_a_full_result(full_eval: tuple[Path, Parsed]) -> None:
    page = full_eval[1]
    for part in ("headline", "sections", "subsets", "extra", "checks", "timing"):
        assert part in page.ids
    text = page.text
    assert "0.7123" in text and "rewardbench" in text and "Prior Sets at half weight" in text


def test_eval_report_needs_only_the_headline_keys(tmp_path: Path) -> None:
    page = render("eval", {"benchmark": "preference", "overall": None}, tmp_path)
    assert page.ids == ["headline"]
    assert "—" in page.text  # a null overall is shown as missing, not as 0


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
    assert "<script>document.title='pwned';window.pwned=1</script>" in page.text


def test_audit_report_needs_only_results(tmp_path: Path) -> None:
    page = render("audit", {"results": []}, tmp_path)
    assert "headline" in page.ids and "no probe results" in page.text
    with pytest.raises(InputError, match="'results' must be a list"):
        render_audit({"results": {"a": 1}}, tmp_path / "x.html")


def test_reports_load_nothing_from_the_network(full_eval: tuple[Path, Parsed], tmp_path: Path) -> None:
    for page in (full_eval[1], render("audit", load("audit.json"), tmp_path)):
        assert "script" not in page.tags and "link" not in page.tags
        assert not any(v and "http" in v for k, v in page.attrs if k in ("src", "href"))


FIGURES = ["sections", "subsets", "extra", "calibration", "length-bias", "pair-length-bias", "overoptimisation"]


def test_eval_report_draws_each_figure_of_a_full_result(full_eval: tuple[Path, Parsed], tmp_path: Path) -> None:
    result, page = load("eval.json"), full_eval[1]
    # sections, subsets, rm-bench matrix, best-of-n, reliability, length scatter, pair bars + scatter, over-opt.
    assert page.tags.count("svg") == 9
    for part in [*FIGURES, "extra-best-of-n", "agreement", "classification"]:
        assert part in page.ids
    assert "diag-best-of-n" not in page.ids  # the same curve as the benchmark's: drawn once
    alone = {"benchmark": "b", "overall": None, "diagnostics": {"best_of_n": result["extra"]["curve"]}}
    assert "diag-best-of-n" in render("eval", alone, tmp_path).ids


def test_data_text_inside_figures_is_text(full_eval: tuple[Path, Parsed]) -> None:
    page = full_eval[1]
    name = '<b>odd & "name"</b> $x$'  # a subset name with markup and matplotlib's math delimiters
    assert "b" not in page.tags
    assert page.text.count(name) == 2  # the subsets table and the bar chart's tick label, literally


def test_null_scores_are_shown_as_missing_not_zero(tmp_path: Path) -> None:
    page = render("eval", {"benchmark": "b", "overall": 0.5, "subsets": {"a": None, "b": float("nan")}}, tmp_path)
    text = page.text
    assert "n/a" in text  # NaN in the table, and both bars' labels
    assert text.count("n/a") == 3 and "—" in text


def test_same_result_gives_the_same_bytes(full_eval: tuple[Path, Parsed], tmp_path: Path) -> None:
    assert render_eval(load("eval.json"), tmp_path / "again.html").read_bytes() == full_eval[0].read_bytes()


def test_a_diagnostic_of_the_wrong_type_is_named(tmp_path: Path) -> None:
    result = {"benchmark": "b", "overall": 0.5, "diagnostics": {"calibration": [0.1]}}
    with pytest.raises(InputError, match="diagnostics: 'calibration' must be an object"):
        render_eval(result, tmp_path / "x.html")


def test_without_matplotlib_the_report_names_its_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # find_spec then reports it as not installed
    with pytest.raises(MissingExtra, match=r"the HTML report needs the 'eval' extra .*pip install -e '\.\[eval\]'"):
        render_audit({"results": []}, tmp_path / "x.html")


def test_audit_map_frames_the_failing_cells(tmp_path: Path) -> None:
    result = load("audit.json")
    page = render("audit", result, tmp_path)
    assert "audit-map" in page.ids and page.tags.count("svg") == 1
    assert "Failed: a probe that should never help raised a reward." in page.text
    for row in result["results"]:
        row["verdict"] = "pass"
    result["failed"] = False
    svg_passing = render_audit(result, tmp_path / "p.html").read_text()
    svg_failing = render_audit(load("audit.json"), tmp_path / "f.html").read_text()
    assert svg_failing.count("#cf222e") == 2 and "#cf222e" not in svg_passing


def test_keys_outside_the_contract_are_shown_not_dropped(tmp_path: Path) -> None:
    result = {"benchmark": "judgebench", "overall": 0.6, "inconsistent_pairs": 7,
              "per_source": {"<i>livebench</i>": 0.5}, "games": [{"order": ["a", "b"]}], "nothing": None}
    page = render("eval", result, tmp_path)
    assert "other" in page.ids and "i" not in page.tags
    assert "inconsistent_pairs" in page.text and "<i>livebench</i>" in page.text
    assert '"order": [' in page.text  # a nested value as indented JSON
    assert "nothing" not in page.text


def test_nested_details_of_known_parts_are_shown(tmp_path: Path) -> None:
    result = {"benchmark": "rewardbench2", "overall": 0.5,
              "extra": {"ties": {"score": 0.54, "ref_accuracy": 0.5}},
              "unscorable": {"candidates": 1, "statuses": {"timeout": 1}},
              "diagnostics": {"notes": ["calibration skipped: labels are all one class"]}}
    page = render("eval", result, tmp_path)
    for shown in ("ref_accuracy", "0.54", "statuses", "timeout", "calibration skipped: labels are all one class"):
        assert shown in page.text


def test_numbers_keep_four_significant_digits_and_their_integer_part(tmp_path: Path) -> None:
    page = render("eval", {"benchmark": "b", "overall": 0.712345, "timing": {"total_s": 123456.7}}, tmp_path)
    assert "0.7123" in page.text and "123457" in page.text and "e+" not in page.text


def test_audit_shows_its_other_keys_and_each_examples_scores(tmp_path: Path) -> None:
    page = render("audit", load("audit.json"), tmp_path)
    for shown in ("tolerance", "original_unscorable", "judge", "example wrong-box", "original (reward 0)",
                  "probed (reward 1)"):
        assert shown in page.text
