"""README.md: short, current, and its results table produced by the code."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from calhousing.report import tables as formatting
from calhousing.run.artifacts import project_root

ROOT = project_root()
README = ROOT / "README.md"
MAX_LINES = 150


# A citation of this project's issue tracker: the word issue followed by a number, or a hash
# sign directly before a number (the examples below put the number in braces, so that this
# file does not itself cite one).
ISSUE_CITATION = re.compile(r"\bissues?\s*#?\d+|(?<![\w:&\"'/])#\d{1,4}\b(?![;\"'])", re.IGNORECASE)


def _text() -> str:
    return README.read_text(encoding="utf-8")


def _block(name: str) -> str:
    match = re.search(rf"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", _text(), re.DOTALL)
    assert match, f"README.md has no {name}:start/{name}:end block"
    return match.group(1)


def test_readme_is_at_most_150_lines():
    assert len(_text().splitlines()) <= MAX_LINES


def test_readme_gives_the_two_commands_the_data_note_and_how_to_activate():
    text = _text()
    for needed in (
        "make report",
        "make test",
        "make lab",
        ". .venv/bin/activate",
        "set `SCIKIT_LEARN_DATA` to a",
        "cal_housing_py3.pkz",
    ):
        assert needed in text, needed


def test_readme_has_no_machine_paths_and_no_pass_or_fail():
    text = _text()
    assert "../shared" not in text and "realpath" not in text and "/work/" not in text
    assert "this machine" not in text and "2-core" not in text
    assert not re.search(r"\b(PASS|FAIL)\b", text)


def test_each_number_has_one_spelling_the_intercept_included():
    text = _text()
    assert "-37.02327770606391" in text
    assert re.findall(r"-37\.0\d+", text) == ["-37.02327770606391"]


def test_every_linked_file_exists():
    links = re.findall(r"\]\(([^)#]+)\)", _text())
    assert links
    missing = [link for link in links if not (ROOT / link).exists()]
    assert missing == []


def test_results_markdown_writes_four_decimals_and_signed_differences():
    comparison = {
        "float": {
            "train": {"r2": 0.61255, "mse": 0.51793, "mae": 0.52863},
            "test": {"r2": 0.57579, "mse": 0.55589, "mae": 0.53320},
        },
        "quantized": {
            "train": {"r2": 0.61063, "mse": 0.52051, "mae": 0.53856},
            "test": {"r2": 0.574948, "mse": 0.55699, "mae": 0.54249},
        },
        "max_abs_prediction_diff": 0.0802365,
        "bits": 8,
    }
    lines = formatting.results_markdown(comparison).splitlines()
    assert lines[0] == "| | float64 | 8-bit quantized | difference |"
    assert lines[2] == "| test R² | 0.5758 | 0.5749 | -0.0008 |"
    assert lines[6] == "| train MSE ($100k)² | 0.5179 | 0.5205 | +0.0026 |"
    assert lines[-1] == "| largest change to a test prediction ($100k) | | 0.0802 | |"


@pytest.mark.slow
def test_readme_results_table_is_what_a_default_run_writes(pipeline_run):
    comparison = json.loads((pipeline_run["artifacts"] / "comparison.json").read_text())
    assert _block("results") == formatting.results_markdown(comparison)


@pytest.mark.parametrize(
    "page", ["results.md", "notebooks.md", "container.md", "ci.md", "benchmarks.md"]
)
def test_docs_pages_have_no_paths_of_one_machine(page):
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    assert "../shared" not in text and "realpath" not in text and "/work/" not in text
    assert re.findall(r"-37\.0\d+", text) in ([], ["-37.02327770606391"])


def test_no_file_of_the_project_cites_an_issue_number():
    # the numbers of an issue tracker mean nothing to a reader of the code or the docs
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    texts = {name: (ROOT / name).read_bytes() for name in tracked if (ROOT / name).is_file()}
    citing = [
        f"{name}: {match.group()!r}"
        for name, content in texts.items()
        if b"\0" not in content  # images and other binary files say nothing
        for match in ISSUE_CITATION.finditer(content.decode(errors="replace"))
    ]
    assert citing == []


@pytest.mark.parametrize(
    ("text", "cites"),
    [
        (f"as issue {12} found", True),
        (f"see Issue #{4}.", True),
        (f"#{7} found that", True),
        (f"(fixed in #{31})", True),
        ("color: #444;", False),
        ('REFERENCE_COLOR = "#000000"', False),
        ("https://github.com/apache/arrow/issues/36889", False),
        ("an issue with 8 bits", False),
    ],
)
def test_the_issue_citation_pattern(text, cites):
    assert bool(ISSUE_CITATION.search(text)) is cites
