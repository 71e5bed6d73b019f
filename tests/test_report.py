"""The HTML report: order, contents, alt text, appendix, size; rendered for real and in pieces."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime

import nbformat
import pytest
from bs4 import BeautifulSoup

from calhousing.report import render as report

MAX_REPORT_BYTES = 3 * 2**20
CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _notebook(*markdown: str, outputs: list | None = None) -> nbformat.NotebookNode:
    cells = [nbformat.v4.new_markdown_cell(text) for text in markdown]
    if outputs is not None:
        cells.append(nbformat.v4.new_code_cell("figure", outputs=outputs))
    return nbformat.v4.new_notebook(cells=cells)


def _render(*notebooks: nbformat.NotebookNode, appendix: str = "") -> BeautifulSoup:
    header = report.header_markdown(CREATED, "0123456789abcdef")
    html = report.render_html(report.combine_notebooks(notebooks, header, appendix))
    return BeautifulSoup(report.add_table_of_contents(html), "html.parser")


def test_summary_notebook_is_placed_first_and_the_others_keep_their_order():
    paths = [
        "x/01_train.ipynb",
        "x/02_quantize.ipynb",
        f"x/{report.SUMMARY_NOTEBOOK}",
        "x/04.ipynb",
    ]
    ordered = [path.name for path in report.order_notebooks(paths)]
    assert ordered == [report.SUMMARY_NOTEBOOK, "01_train.ipynb", "02_quantize.ipynb", "04.ipynb"]


def test_headings_move_one_level_down_but_code_blocks_do_not():
    source = "# Title\n\n## Part\n\n```python\n# a comment\n```\n\n### Deep"
    assert report.demote_headings(source) == (
        "## Title\n\n### Part\n\n```python\n# a comment\n```\n\n#### Deep"
    )


def test_contents_link_every_section_and_subsection_with_unique_ids():
    soup = _render(
        _notebook("# 01 · Train\n\n## Metrics"),
        _notebook("# 03 · Compare\n\n## Metrics\n\n## Size"),
        appendix="# Appendix\n\n## Run parameters",
    )
    nav = soup.find("nav", id=report.CONTENTS_ID)
    links = [(a.get_text(), a["href"]) for a in nav.find_all("a")]
    assert [text for text, _ in links] == [
        "01 · Train",
        "Metrics",
        "03 · Compare",
        "Metrics",
        "Size",
        "Appendix",
        "Run parameters",
    ]
    targets = [href.removeprefix("#") for _, href in links]
    assert len(set(targets)) == len(targets)
    for target in targets:
        assert len(soup.find_all(id=target)) == 1
        assert soup.find(id=target).name in {"h2", "h3"}


def test_heading_anchor_links_follow_their_renamed_ids():
    soup = _render(_notebook("# A\n\n## Metrics"), _notebook("# B\n\n## Metrics"))
    for heading in soup.find_all(["h2", "h3"]):
        for link in heading.select("a.anchor-link"):
            assert link["href"] == f"#{heading['id']}"


def _tagged(source: str, *tags: str, code: bool = False) -> nbformat.NotebookNode:
    make = nbformat.v4.new_code_cell if code else nbformat.v4.new_markdown_cell
    cell = make(source)
    cell.metadata["tags"] = list(tags)
    return cell


def _render_cells(*cells: nbformat.NotebookNode) -> BeautifulSoup:
    notebook = nbformat.v4.new_notebook(cells=list(cells))
    combined = report.combine_notebooks([notebook], report.header_markdown(CREATED, "abc"))
    return BeautifulSoup(report.add_table_of_contents(report.render_html(combined)), "html.parser")


def test_cells_tagged_report_hide_are_left_out():
    soup = _render_cells(
        _tagged("# Train\n\nkept paragraph"), _tagged("## Saved\n\nhidden text", "report-hide")
    )
    assert "kept paragraph" in soup.get_text()
    assert "hidden text" not in soup.get_text() and "Saved" not in soup.get_text()


def test_a_details_tag_folds_its_section_until_the_next_heading_under_a_summary_line():
    soup = _render_cells(
        _tagged("# Train\n\nvisible intro"),
        _tagged("## Metrics\n\nfolded text", "report-details"),
        _tagged("more folded text, no heading"),
        _tagged("## Split\n\nsecond fold", "report-details"),
        _tagged("## Shown\n\nvisible again"),
    )
    folds = soup.find_all("details", class_="report-details")
    assert [fold.summary.get_text() for fold in folds] == ["Metrics", "Split"]
    assert not any(fold.has_attr("open") for fold in folds)
    assert "folded text" in folds[0].get_text() and "more folded text" in folds[0].get_text()
    assert "second fold" in folds[1].get_text() and "visible again" not in folds[1].get_text()
    assert soup.find(string=re.compile("visible intro")).find_parent("details") is None
    listed = [a.get_text() for a in soup.find("nav", id=report.CONTENTS_ID).find_all("a")]
    assert listed == ["Train", "Shown"]


def test_figure_alt_text_from_output_metadata_reaches_the_img_tag():
    alt = 'Bars match: the largest error is 0.0012 ("AveOccup") & no other'
    output = nbformat.v4.new_output(
        "display_data",
        data={"image/png": "iVBORw0KGgo=", "text/plain": alt},
        metadata={"image/png": {"alt": alt}},
    )
    soup = _render(_notebook("# Figures", outputs=[output]))
    (image,) = soup.find_all("img")
    assert image["alt"] == alt


def test_described_figure_puts_its_alt_text_in_the_png_metadata():
    from calhousing.report.plots import DescribedFigure

    fig = DescribedFigure(figsize=(2, 1), alt="A line that rises.")
    fig.subplots().plot([0, 1])
    data, metadata = fig._repr_mimebundle_()
    assert data["image/png"].startswith("iVBORw0KGgo")
    assert metadata == {"image/png": {"alt": "A line that rises."}}


def test_manifest_hashes_list_files_first_then_other_digests():
    digest = "a" * 64
    manifest = {
        "files": {"b.json": {"sha256": "b" * 64, "size": 1200}, "a.csv": {"sha256": digest}},
        "data": {"train_sha256": "c" * 64},
        "git_commit": "d" * 40,
    }
    assert report.manifest_hashes(manifest) == [
        ("a.csv", digest, None),
        ("b.json", "b" * 64, 1200),
        ("data.train_sha256", "c" * 64, None),
    ]


def test_appendix_says_so_when_the_run_wrote_no_manifest():
    text = report.appendix_markdown({"bits": 8}, {"numpy": "2"}, CREATED, "abc", None)
    assert "holds no `manifest.json`" in text
    for heading in ("# Appendix", "## Run parameters", "## Library versions", "## Provenance"):
        assert heading in text


def test_git_commit_outside_a_checkout_says_unknown(tmp_path):
    assert report.git_commit(tmp_path) == "unknown (not a git checkout)"


def test_git_commit_of_a_checkout_is_its_head(tmp_path):
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    git("init", "-q")
    (tmp_path / "f").write_text("1")
    git("add", "f")
    git("commit", "-q", "-m", "one")
    head = git("rev-parse", "HEAD")
    assert report.git_commit(tmp_path) == head
    (tmp_path / "f").write_text("2")
    assert report.git_commit(tmp_path) == f"{head} (with uncommitted changes)"


# The real report, from the session's pipeline run (tests/conftest.py).


@pytest.fixture(scope="module")
def rendered(pipeline_run):
    html = pipeline_run["report"].read_text(encoding="utf-8")
    return html, BeautifulSoup(html, "html.parser")


def test_report_is_one_file_under_3_mb(pipeline_run):
    assert pipeline_run["report"].stat().st_size < MAX_REPORT_BYTES


def test_report_sections_run_summary_first_and_appendix_last(rendered):
    _, soup = rendered
    sections = [report._heading_text(h) for h in soup.find_all("h2")]
    assert sections[0] == "Summary"
    assert sections[-1] == report.APPENDIX_TITLE
    assert any("Train" in title for title in sections)
    assert any("Compare" in title for title in sections)


def test_summary_holds_the_headline_table_and_a_computed_verdict(rendered, pipeline_run):
    html, _ = rendered
    start = html.index('<h2 id="Summary"')
    summary = html[start : html.index("<h2", start + 1)]
    assert "99th percentile |Δ prediction|" in summary
    assert "parameter bytes stored" in summary
    assert re.search(r"Verdict:</strong> the 8-bit model can replace the float one", summary)


def test_every_figure_has_its_own_alt_text_and_the_new_plots_are_there(rendered):
    _, soup = rendered
    images = soup.find_all("img")
    assert len(images) >= 4
    alts = [image.get("alt", "") for image in images]
    assert all(alts) and "No description has been provided" not in " ".join(alts)
    assert len(set(alts)) == len(alts)
    assert any(alt.startswith("Two scatter plots of predicted against true") for alt in alts)
    assert any(alt.startswith("Histogram of the residuals") for alt in alts)
    assert any(alt.startswith("Two horizontal bar charts over 15 slices") for alt in alts)
    assert any("The budgeted choice (star; budget 0.001" in alt for alt in alts)


def test_report_references_nothing_outside_the_file(rendered):
    html, soup = rendered
    assert not soup.find_all("script", src=True)
    assert not soup.find_all("link", href=re.compile(r"^(https?:)?//"))
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html)
    assert not re.search(r"@import", html)


def test_appendix_shows_the_commit_and_the_manifest_hashes(rendered, pipeline_run):
    html, _ = rendered
    appendix = html[html.index(f'id="{report.APPENDIX_TITLE}"') :]
    assert "git commit" in appendix
    if (pipeline_run["artifacts"] / report.MANIFEST_FILE).is_file():
        assert "comparison.json" in appendix
        assert re.search(r"<code>[0-9a-f]{64}</code>", appendix)
    else:
        assert "holds no" in appendix
