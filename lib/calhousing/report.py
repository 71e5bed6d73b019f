"""Rendering the executed notebooks as one self-contained HTML report (nbconvert)."""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import nbformat
from nbconvert import HTMLExporter

TEMPLATE_NAME = "calhousing_report"
TEMPLATES_DIR = Path(__file__).parent / "templates"
REPORT_TITLE = "California Housing: float vs quantized linear regression"
_HIDDEN_TAGS = {"parameters", "injected-parameters"}
_VERSIONED_PACKAGES = (
    "calhousing",
    "numpy",
    "pandas",
    "scikit-learn",
    "matplotlib",
    "papermill",
    "nbconvert",
)


def library_versions() -> dict[str, str]:
    """Python's version and those of the packages the results depend on."""
    versions = {"python": platform.python_version()}
    for package in _VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def header_markdown(
    parameters: Mapping[str, Any], versions: Mapping[str, str], created: datetime
) -> str:
    """The report's opening: title, date, run parameters and library versions."""
    parameter_rows = "\n".join(f"| `{name}` | `{value!r}` |" for name, value in parameters.items())
    version_rows = "\n".join(f"| {name} | {version} |" for name, version in versions.items())
    return (
        f"# {REPORT_TITLE}\n\n"
        f"Generated {created:%Y-%m-%d %H:%M} UTC by `calhousing run`. Targets and predictions "
        "are median house values in units of $100,000.\n\n"
        "## Run parameters\n\n| parameter | value |\n|---|---|\n"
        f"{parameter_rows}\n\n"
        "## Library versions\n\n| package | version |\n|---|---|\n"
        f"{version_rows}\n"
    )


def combine_notebooks(
    executed: Sequence[nbformat.NotebookNode], header: str
) -> nbformat.NotebookNode:
    """One notebook: the header, then every cell of `executed` but the parameter cells."""
    report = nbformat.v4.new_notebook(metadata={"title": REPORT_TITLE})
    report.metadata.update(executed[0].metadata if executed else {})
    report.metadata["title"] = REPORT_TITLE
    report.cells.append(nbformat.v4.new_markdown_cell(header, id="report-header"))
    for number, notebook in enumerate(executed, start=1):
        for index, cell in enumerate(notebook.cells):
            if _HIDDEN_TAGS & set(cell.get("metadata", {}).get("tags", [])):
                continue
            copy = nbformat.from_dict(cell)
            copy["id"] = f"nb{number}-cell{index}"
            report.cells.append(copy)
    return report


def render_html(notebook: nbformat.NotebookNode) -> str:
    """HTML of `notebook` with code hidden, images inline and nothing fetched from a network."""
    exporter = HTMLExporter(
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[str(TEMPLATES_DIR)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(notebook)
    return body


def write_report(
    executed_paths: Sequence[str | os.PathLike[str]],
    output_path: str | os.PathLike[str],
    parameters: Mapping[str, Any],
    created: datetime | None = None,
) -> Path:
    """Render the executed notebooks at `executed_paths` into `output_path`."""
    notebooks = [nbformat.read(os.fspath(path), as_version=4) for path in executed_paths]
    header = header_markdown(parameters, library_versions(), created or datetime.now(UTC))
    html = render_html(combine_notebooks(notebooks, header))
    path = Path(output_path)
    path.write_text(html, encoding="utf-8")
    return path
