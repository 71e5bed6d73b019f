"""Rendering the executed notebooks as one self-contained HTML report (nbconvert).

The summary notebook runs last, since it needs every other's results, but is placed first;
an appendix holds the run's parameters, versions and hashes. Cell tags ``report-hide`` and
``report-details`` decide what a reader sees (docs/notebooks.md).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat
from bs4 import BeautifulSoup
from nbconvert import HTMLExporter

from calhousing import params
from calhousing.report.tables import markdown_table
from calhousing.run import manifest as manifests
from calhousing.run.artifacts import Run, project_root

REPORT_TITLE = "California Housing: float vs quantized linear regression"
SUMMARY_NOTEBOOK = f"{params.NOTEBOOKS[-1]}.ipynb"  # runs last, sums up the others, shown first
MANIFEST_FILE = manifests.MANIFEST_FILE
APPENDIX_TITLE = "Appendix"
CONTENTS_ID = "contents"
DETAILS_TAG = "report-details"
_HIDDEN_TAGS = {"parameters", "injected-parameters", "report-hide"}
# Cell metadata the template reads: a fold's summary line on its first cell, ``last`` on its last.
_FOLD_KEY = "report_fold"
_SHA256 = re.compile(r"^(sha256:)?[0-9a-f]{64}$")
_HEADING = re.compile(r"^(#{1,5})(\s)", flags=re.MULTILINE)
_HEADING_LINE = re.compile(r"^#{1,6}\s+(.*)$\n?", flags=re.MULTILINE)
_FENCE = re.compile(r"^(```|~~~)", flags=re.MULTILINE)


def git_commit(folder: str | os.PathLike[str] | None = None) -> str:
    """The checked-out commit of `folder` (the project by default), marked when it is dirty,
    or ``"unknown (not a git checkout)"`` (a report rendered from an installed copy)."""
    cwd = Path(folder) if folder is not None else project_root()
    commit = manifests.git_commit(cwd)
    if commit is None:
        return "unknown (not a git checkout)"
    return f"{commit} (with uncommitted changes)" if manifests.git_is_dirty(cwd) else commit


def manifest_hashes(manifest: Mapping[str, Any]) -> list[tuple[str, str, int | None]]:
    """Every sha256 in `manifest` as ``(artifact, sha256, size or None)``: its ``files``
    first, then any other, named by its key path."""
    rows = [
        (str(name), str(entry["sha256"]), entry.get("size"))
        for name, entry in sorted(manifest.get("files", {}).items())
        if isinstance(entry, Mapping) and "sha256" in entry
    ]
    others = {key: value for key, value in manifest.items() if key != "files"}
    return rows + [(name, digest, None) for name, digest in _hashes_in(others, ())]


def _hashes_in(value: Any, path: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping | list):
        items = value.items() if isinstance(value, Mapping) else enumerate(value)
        for key, item in items:
            yield from _hashes_in(item, (*path, str(key)))
    elif isinstance(value, str) and _SHA256.match(value):
        yield ".".join(path), value.removeprefix("sha256:")


def header_markdown(created: datetime, commit: str) -> str:
    """The report's opening: title, when and from what it was measured, a place for contents."""
    return (
        f"# {REPORT_TITLE}\n\n"
        f'<p class="report-byline">Measured by <code>calhousing run</code> on '
        f"{created:%Y-%m-%d at %H:%M} UTC (commit <code>{commit.split()[0][:12]}</code>). "
        "House values and prediction errors are in units of $100,000 throughout.</p>\n\n"
        f'<nav class="report-contents" id="{CONTENTS_ID}" aria-label="Contents"></nav>\n'
    )


def appendix_markdown(
    parameters: Mapping[str, Any],
    versions: Mapping[str, str],
    created: datetime,
    commit: str,
    manifest: Mapping[str, Any] | None,
) -> str:
    """The appendix: the run's effective `parameters` with their declared defaults, library
    versions, provenance and artifact hashes."""
    defaults = {name: f"`{p.default!r}`" for name, p in params.BY_NAME.items()}
    parameter_rows = [
        [f"`{name}`", f"`{value!r}`", defaults.get(name, "")] for name, value in parameters.items()
    ]
    provenance = [["rendered", f"{created:%Y-%m-%d %H:%M:%S} UTC"], ["git commit", f"`{commit}`"]]
    rows = [] if manifest is None else manifest_hashes(manifest)
    if manifest is None:
        hashes = (
            f"This run's artifacts folder holds no `{MANIFEST_FILE}`, so there are no "
            "recorded hashes to show."
        )
    elif not rows:
        hashes = f"`{MANIFEST_FILE}` records no sha256 hashes."
    else:
        hash_rows = [
            [f"`{name}`", "" if size is None else f"{size:,}", f"`{digest}`"]
            for name, digest, size in rows
        ]
        hashes = (
            f"From `{MANIFEST_FILE}`: the sha256 of each artifact as the run wrote it.\n\n"
            f'<details class="report-details"><summary>{len(rows)} hashes</summary>\n\n'
            + markdown_table(
                ["artifact", "size (bytes)", "sha256"], hash_rows, rule="|:---|---:|:---|"
            )
            + "\n\n</details>"
        )
    return (
        f"# {APPENDIX_TITLE}\n\n## Run parameters\n\n"
        + markdown_table(["parameter", "value", "default"], parameter_rows, rule="|:---|:---|:---|")
        + "\n\n## Library versions\n\n"
        + markdown_table(["package", "version"], versions.items(), rule="|:---|:---|")
        + "\n\n## Provenance\n\n"
        + markdown_table(["", ""], provenance, rule="|:---|:---|")
        + f"\n\n## Artifact hashes\n\n{hashes}\n"
    )


def combine_notebooks(
    executed: Sequence[nbformat.NotebookNode], header: str, appendix: str = ""
) -> nbformat.NotebookNode:
    """One notebook: the header, every cell of `executed` but the hidden ones, the appendix.

    Headings move one level down, under the title. A ``report-details`` cell opens a fold
    (a collapsed ``<details>``) whose summary line is its first heading, so that heading is
    neither shown twice nor listed in the contents; the next heading or tagged cell closes it.
    """
    metadata = {**(executed[0].metadata if executed else {}), "title": REPORT_TITLE}
    report = nbformat.v4.new_notebook(metadata=metadata)
    report.cells.append(nbformat.v4.new_markdown_cell(header, id="report-header"))
    for number, notebook in enumerate(executed, start=1):
        fold: list[nbformat.NotebookNode] = []  # the cells of the open fold
        for index, cell in enumerate(notebook.cells):
            tags = set(cell.get("metadata", {}).get("tags", []))
            if _HIDDEN_TAGS & tags:
                continue
            copy = nbformat.from_dict(cell)
            copy["id"] = f"nb{number}-cell{index}"
            details = DETAILS_TAG in tags
            if copy.cell_type == "markdown" and (details or _HEADING.search(copy.source)):
                _close(fold)
                if details:
                    heading = _HEADING_LINE.search(copy.source)
                    summary = heading.group(1).strip() if heading else "Details"
                    copy.metadata[_FOLD_KEY] = {"summary": summary}
                    copy.source = _HEADING_LINE.sub("", copy.source, count=1)
                    fold.append(copy)
            elif fold:
                fold.append(copy)
            copy.source = demote_headings(copy.source)
            report.cells.append(copy)
        _close(fold)
    if appendix:
        report.cells.append(
            nbformat.v4.new_markdown_cell(demote_headings(appendix), id="report-appendix")
        )
    return report


def _close(fold: list[nbformat.NotebookNode]) -> None:
    if fold:
        fold[-1].metadata.setdefault(_FOLD_KEY, {})["last"] = True
        fold.clear()


def demote_headings(markdown: str) -> str:
    """`markdown` with every ATX heading one level deeper (``#`` → ``##``), code left alone."""
    parts = _FENCE.split(markdown)
    # The split alternates text and fence markers: text after an even number of markers
    # (index 0, 4, 8...) is outside code.
    for index in range(0, len(parts), 4):
        parts[index] = _HEADING.sub(r"#\1\2", parts[index])
    return "".join(parts)


def render_html(notebook: nbformat.NotebookNode) -> str:
    """HTML of `notebook` with code hidden, images inline and nothing fetched from a network."""
    exporter = HTMLExporter(
        template_name="calhousing_report",
        extra_template_basedirs=[str(Path(__file__).parent / "templates")],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    return exporter.from_notebook_node(notebook)[0]


def add_table_of_contents(html: str) -> str:
    """Give every ``<h2>`` and ``<h3>`` outside a fold a unique id, listed in the contents.

    nbconvert derives ids from the heading text, so two subsections of the same name
    ("Metrics") would share one; the later gets its section's id as a prefix.
    """
    soup = BeautifulSoup(html, "html.parser")
    nav = soup.find("nav", id=CONTENTS_ID)
    if nav is None:
        raise ValueError(f"html has no <nav id={CONTENTS_ID!r}> to hold the table of contents")
    nav.clear()
    nav.append(BeautifulSoup("<strong>Contents</strong><ol></ol>", "html.parser"))
    sections, subsections = nav.ol, None
    used, section_id = {CONTENTS_ID}, ""
    for heading in soup.find_all(["h2", "h3"]):
        if heading.find_parent("details") is not None:
            continue
        text = _heading_text(heading)
        base = str(heading.get("id") or re.sub(r"[^\w-]+", "-", text).strip("-") or "section")
        nested = heading.name == "h3" and section_id
        anchor = f"{section_id}-{base}" if base in used and nested else base
        number = 2
        while anchor in used:
            anchor, number = f"{base}-{number}", number + 1
        used.add(anchor)
        heading["id"] = anchor
        for link in heading.select("a.anchor-link"):
            link["href"] = f"#{anchor}"
        item = soup.new_tag("li")
        item.append(soup.new_tag("a", href=f"#{anchor}", string=text))
        if heading.name == "h2":
            section_id, subsections = anchor, None
            sections.append(item)
        else:
            if subsections is None:
                subsections = soup.new_tag("ol")
                parent = sections.find_all("li", recursive=False)
                (parent[-1] if parent else sections).append(subsections)
            subsections.append(item)
    return str(soup)


def _heading_text(heading: Any) -> str:
    """The heading's text without its ``¶`` link, spaces collapsed."""
    parts = heading.find_all(string=lambda node: node.find_parent(class_="anchor-link") is None)
    return " ".join("".join(parts).split())


def order_notebooks(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """`paths` in report order: the summary notebook first, the others as given."""
    return sorted(map(Path, paths), key=lambda path: path.name != SUMMARY_NOTEBOOK)


def write_report(
    executed_paths: Sequence[str | os.PathLike[str]],
    output_path: str | os.PathLike[str],
    parameters: Mapping[str, Any],
    created: datetime | None = None,
    run: Run | None = None,
) -> Path:
    """Render the executed notebooks (in run order) into `output_path`, created now by default.

    Every file `run`'s manifest lists is checked first, so a report never presents outputs
    made from inputs that changed since.
    """
    notebooks = [nbformat.read(path, as_version=4) for path in order_notebooks(executed_paths)]
    created = created or datetime.now(UTC)
    commit = git_commit()
    manifest = run.manifest if run is not None else None
    if manifest is not None:
        run.require(*manifest["files"])
    versions = {name: v or "not installed" for name, v in manifests.library_versions().items()}
    appendix = appendix_markdown(parameters, versions, created, commit, manifest)
    combined = combine_notebooks(notebooks, header_markdown(created, commit), appendix)
    path = Path(output_path)
    path.write_text(add_table_of_contents(render_html(combined)), encoding="utf-8")
    return path
