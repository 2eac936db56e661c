"""The eval and audit reports opened in headless Chromium: no console errors, no network
request, every figure drawn with a size, data text never run as script; a full-page screenshot
of each is kept as an artifact of the test run.

Chromium is Debian's package (``apt-get install chromium``), driven by playwright with
``executable_path`` (playwright's own browser download needs the network). Without chromium or
playwright the tests skip, unless ``REWARDLAB_REQUIRE_CHROMIUM=1`` (as in ``.ci/run``) makes
them fail. Screenshots go to ``$REWARDLAB_ARTIFACTS/report`` (default: a pytest temporary
directory); the path is printed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rewardlab.evaluate.report import render_audit, render_eval

DATA = Path(__file__).parent / "data" / "report"
REQUIRED = os.environ.get("REWARDLAB_REQUIRE_CHROMIUM") == "1"


def _chromium() -> str:
    path = os.environ.get("REWARDLAB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    missing = "chromium (apt-get install chromium)" if path is None else None
    if importlib.util.find_spec("playwright") is None:
        missing = "playwright (pip install -e '.[dev]')"
    if missing:
        if REQUIRED:
            pytest.fail(f"REWARDLAB_REQUIRE_CHROMIUM=1 but {missing} is not installed")
        pytest.skip(f"{missing} is not installed")
    assert path is not None
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=path, args=["--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = os.environ.get("REWARDLAB_ARTIFACTS")
    out = Path(root) / "report" if root else tmp_path_factory.mktemp("report-artifacts")
    out.mkdir(parents=True, exist_ok=True)
    return out


class Opened:
    """A report loaded in a fresh page, with what the page logged and requested."""

    def __init__(self, browser: Any, html: Path) -> None:
        self.page = browser.new_page(viewport={"width": 1200, "height": 900})
        self.problems: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(html.as_uri(), wait_until="load")

    def figures(self) -> list[dict[str, float]]:
        """Width and height of each inline SVG figure as laid out."""
        return list(self.page.evaluate(
            "[...document.querySelectorAll('figure svg')].map(s => {const r = s.getBoundingClientRect();"
            " return {w: r.width, h: r.height}})"))

    def shoot(self, out: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.page.screenshot(path=str(out), full_page=True)
        with capsys.disabled():
            print(f"\nreport screenshot: {out}")


def test_eval_report_renders_in_chromium(browser: Any, artifacts: Path, capsys: pytest.CaptureFixture[str]) -> None:
    html = render_eval(json.loads((DATA / "eval.json").read_text()), artifacts / "eval.html")
    opened = Opened(browser, html)
    assert opened.problems == []
    assert opened.requests == [html.as_uri()]  # the file itself, nothing else
    figures = opened.figures()
    assert len(figures) == 9 and all(f["w"] > 300 and f["h"] > 100 for f in figures)
    for anchor in ("headline", "subsets", "calibration", "length-bias", "overoptimisation", "extra-best-of-n"):
        assert opened.page.locator(f"#{anchor}").is_visible()
    assert "0.7123" in opened.page.locator("#headline").inner_text()
    opened.shoot(artifacts / "eval.png", capsys)
    assert (artifacts / "eval.png").stat().st_size > 10_000


def test_audit_report_shows_a_script_in_a_completion_as_text(browser: Any, artifacts: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    html = render_audit(json.loads((DATA / "audit.json").read_text()), artifacts / "audit.html")
    opened = Opened(browser, html)
    for summary in opened.page.locator("details summary").all():
        summary.click()
    probes = opened.page.locator("#probes").inner_text()
    assert "<script>document.title='pwned';window.pwned=1</script>" in probes
    assert opened.page.evaluate("window.pwned === undefined && document.scripts.length === 0")
    assert opened.page.title() == "rewardlab audit"
    assert opened.problems == [] and opened.requests == [html.as_uri()]
    assert len(opened.figures()) == 1
    opened.shoot(artifacts / "audit.png", capsys)
