"""The report as a reader sees it: opened offline in headless Chromium.

Playwright drives Debian's ``chromium`` (its own browser download cannot work
here). A freshly rendered report (the session's pipeline run, tests/conftest.py)
is opened from ``file://``; the test records every request and console message,
checks the images, headings and contents links, and saves the full-page
screenshot as ``reports/report.png``, which the README shows.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from calhousing.report import render as report
from calhousing.run.artifacts import project_root

CHROMIUM = Path(os.environ.get("CALHOUSING_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = project_root() / "reports" / "report.png"
DEFAULT_ALT = "No description has been provided for this image"
MAX_HEIGHT_PX = 6000  # the whole report, read top-down at 1280 px wide

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed: pip install -e '.[dev]'"
)
pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file() or shutil.which(str(CHROMIUM)) is None,
    reason=f"browser tests skipped: no Chromium at {CHROMIUM}; to run them, install it with "
    "`apt-get install chromium` (as .ci/run does) or set CALHOUSING_CHROMIUM to a Chromium binary",
)


@pytest.fixture(scope="module")
def opened(pipeline_run, tmp_path_factory):
    """The report loaded in Chromium, with every request and console message it caused."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    requests: list[str] = []
    console: list[tuple[str, str]] = []
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            context.on("request", lambda request: requests.append(request.url))
            page = context.new_page()
            page.on("console", lambda message: console.append((message.type, message.text)))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(pipeline_run["report"].as_uri(), wait_until="load")
            page.wait_for_load_state("networkidle")
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            yield {"page": page, "requests": requests, "console": console, "errors": errors}
        finally:
            context.close()


def test_every_image_loaded_and_has_alt_text_stating_its_point(opened):
    images = opened["page"].evaluate(
        """() => [...document.images].map(image => ({
            complete: image.complete, width: image.naturalWidth, alt: image.alt.trim()}))"""
    )
    assert len(images) >= 4
    for image in images:
        assert image["complete"] and image["width"] > 0, image
        assert image["alt"] and image["alt"] != DEFAULT_ALT, image


def test_the_whole_report_reads_in_at_most_6000_px_at_1280_px_wide(opened):
    height = opened["page"].evaluate("document.documentElement.scrollHeight")
    assert height <= MAX_HEIGHT_PX


def test_the_text_has_no_nan_no_pass_or_fail_and_no_issue_numbers(opened):
    # textContent includes what collapsed <details> blocks hold, not only what is shown.
    text = opened["page"].evaluate("document.querySelector('main').textContent")
    assert not re.search(r"\bNaN\b|\bnan\b", text)
    assert not re.search(r"\b(PASS|FAIL)\b", text)
    assert not re.search(r"\bissue\s*#?\d+|#\d+\b", text, flags=re.IGNORECASE)


def test_the_summary_comes_first_in_the_order_a_reader_needs(opened):
    order = opened["page"].evaluate(
        """() => {
            const main = document.querySelector('main');
            const at = (node) => node ? node.getBoundingClientRect().top + window.scrollY : null;
            const summary = document.getElementById('Summary');
            const alt = (start) => [...document.images].find(i => i.alt.startsWith(start));
            return {
                summary: at(summary),
                verdict: at([...main.querySelectorAll('strong')]
                    .find(s => s.textContent === 'Verdict:')),
                headline: at([...main.querySelectorAll('th')]
                    .find(th => th.textContent === 'parameter bytes stored')),
                errors: at([...main.querySelectorAll('th')]
                    .find(th => th.textContent.startsWith('true value'))),
                coefficients: at(alt('Bar chart of the 8 coefficients')),
                heatmap: at(alt('Two heatmaps over code width')),
                pareto: at(alt('Scatter plot of the 180 configurations')),
                train: at([...main.querySelectorAll('h2')]
                    .find(h => h.textContent.includes('Train'))),
            };
        }"""
    )
    assert None not in order.values(), order
    steps = ["summary", "verdict", "headline", "errors", "coefficients", "heatmap", "pareto"]
    tops = [order[step] for step in [*steps, "train"]]
    assert tops == sorted(tops), order


def test_nothing_was_fetched_but_the_file_itself_and_inline_data(opened):
    elsewhere = [url for url in opened["requests"] if not url.startswith(("file:", "data:"))]
    assert elsewhere == []


def test_the_page_logged_no_console_errors_and_threw_nothing(opened):
    assert [text for kind, text in opened["console"] if kind == "error"] == []
    assert opened["errors"] == []


def test_every_section_heading_is_there_and_listed_in_the_contents(opened):
    page = opened["page"]
    sections = page.eval_on_selector_all("main h2", "headings => headings.map(h => h.id)")
    listed = page.eval_on_selector_all(
        f"nav#{report.CONTENTS_ID} > ol > li > a",
        "links => links.map(a => a.getAttribute('href').slice(1))",
    )
    assert listed == sections
    titles = page.eval_on_selector_all(
        f"nav#{report.CONTENTS_ID} > ol > li > a", "links => links.map(a => a.textContent)"
    )
    assert titles[0] == "Summary" and titles[-1] == report.APPENDIX_TITLE
    for needed in ("Train", "Quantize", "Compare"):
        assert any(needed in title for title in titles), (needed, titles)


def test_every_contents_link_scrolls_to_its_heading(opened):
    page = opened["page"]
    hrefs = page.eval_on_selector_all(
        f"nav#{report.CONTENTS_ID} a", "links => links.map(a => a.getAttribute('href'))"
    )
    assert len(hrefs) >= 6
    for href in hrefs:
        page.click(f'nav#{report.CONTENTS_ID} a[href="{href}"]')
        landed = page.evaluate(
            """(id) => {
                const target = document.getElementById(id);
                return {hash: location.hash, exists: target !== null,
                        top: target ? target.getBoundingClientRect().top : null};
            }""",
            href[1:],
        )
        assert landed["exists"] and landed["hash"] == href, (href, landed)
        # The heading is at the top of the view, unless the page ends before it could be.
        assert abs(landed["top"]) < 5 or page.evaluate(
            "window.innerHeight + window.scrollY >= document.body.scrollHeight - 2"
        ), (href, landed)


def test_no_table_is_wider_than_the_text_column(opened):
    overflowing = opened["page"].evaluate(
        """() => {
            const column = document.querySelector('main .jp-Cell').getBoundingClientRect();
            return [...document.querySelectorAll('table')]
                .filter(table => table.getBoundingClientRect().right > column.right + 1)
                .map(table => table.outerHTML.slice(0, 120));
        }"""
    )
    assert overflowing == []
    assert opened["page"].evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def test_full_page_screenshot_was_saved(opened):
    assert SCREENSHOT.is_file() and SCREENSHOT.stat().st_size > 10_000
