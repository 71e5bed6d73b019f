"""Lineage: every reader refuses an output made from an input that has changed since,
naming it and the command that refreshes it; a run's labels follow its parameters."""

from __future__ import annotations

import json
import re
from pathlib import Path

import papermill
import pytest

from calhousing import cli, errors, pipeline
from calhousing.core import evaluation, integer_inference
from calhousing.core.quantization import quantize_model
from calhousing.run import artifacts, manifest

NOTEBOOKS = pipeline.notebooks_dir()


def _cli(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as stop:
        return int(stop.code or 0)


def _sha(folder: Path, name: str) -> str:
    return json.loads((folder / "manifest.json").read_text())["files"][name]["sha256"]


def _requantize(folder: Path, bits: int) -> None:
    """What `papermill notebooks/02_quantize.ipynb out.ipynb -p bits 4` does to the folder."""
    params = artifacts.Run.open(folder).float_params()
    split = artifacts.Run.open(folder).split()
    quantized = quantize_model(params, bits)
    integer = integer_inference.build_integer_model(params, split.X_train, bits=bits)
    artifacts.Run.open(folder).save_quantized(quantized, integer)


@pytest.fixture
def requantized(finished_run) -> Path:
    """A finished run whose 02_quantize alone was run again with bits=4."""
    folder = finished_run / "artifacts"
    _requantize(folder, 4)
    return folder


def test_comparison_made_from_a_rewritten_model_is_named_stale(requantized):
    before = json.loads((requantized / "manifest.json").read_text())["steps"]["03_compare"]
    now = _sha(requantized, "quantized_params.json")
    with pytest.raises(errors.StaleArtifactError) as refused:
        artifacts.Run.open(requantized).comparison()
    assert str(refused.value) == (
        f"comparison.json is stale: 03_compare made it from quantized_params.json sha "
        f"{before['inputs']['quantized_params.json'][:8]}…, but that file is now {now[:8]}… "
        "(rewritten by 02_quantize with bits=4); re-run 03_compare and every notebook after "
        f"it: `calhousing run --artifacts-dir {requantized} -p bits 4`, or `papermill "
        f"notebooks/03_compare.ipynb out.ipynb -p artifacts_dir {requantized}` and the later "
        "notebooks"
    )


def test_the_recorded_input_is_the_8_bit_model_and_the_new_one_differs(requantized):
    steps = json.loads((requantized / "manifest.json").read_text())["steps"]
    assert steps["02_quantize"]["parameters"]["bits"] == 4
    assert steps["03_compare"]["inputs"]["quantized_params.json"] != _sha(
        requantized, "quantized_params.json"
    )


def test_what_the_rewritten_step_did_not_touch_stays_readable(requantized):
    assert artifacts.Run.open(requantized).quantized().coef.bits == 4
    assert artifacts.Run.open(requantized).integer_model().bits == 4
    assert artifacts.Run.open(requantized).float_params().coef.shape == (8,)


def test_the_sweep_which_read_the_run_model_is_stale_too(requantized):
    with pytest.raises(errors.StaleArtifactError, match=r"^sweep\.csv is stale: 04_sweep"):
        artifacts.Run.open(requantized).sweep()


def test_summary_names_the_stale_comparison_instead_of_presenting_it(requantized, capsys):
    code = _cli(
        [
            "summary",
            "--artifacts-dir",
            str(requantized),
            "--reports-dir",
            str(requantized.parent / "reports"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert captured.err.startswith("calhousing summary: error: comparison.json is stale: ")
    assert "(rewritten by 02_quantize with bits=4)" in captured.err
    assert len(captured.err.splitlines()) == 1


def test_running_the_stale_step_again_makes_it_current(requantized):
    run = artifacts.Run.open(requantized)
    comparison = evaluation.compare_models(run.float_params(), run.quantized(), run.split())
    run.save_comparison(comparison.predictions, comparison.summary(), n_samples=10)
    summary, _ = artifacts.Run.open(requantized).comparison()
    assert summary["bits"] == 4


def test_training_again_makes_every_later_output_stale(finished_run, default_split, capsys):
    folder = finished_run / "artifacts"
    model = artifacts.Run.open(folder).model()
    params = artifacts.Run.open(folder).float_params()
    split = artifacts.Run.open(folder).split()
    old = _sha(folder, "split.json")
    artifacts.save_training(
        folder,
        model,
        params,
        evaluation.split_metrics(params, split),
        split,
        test_size=0.2,
        random_state=1,
    )
    with pytest.raises(errors.StaleArtifactError) as refused:
        artifacts.Run.open(folder).quantized()
    assert str(refused.value).startswith(
        f"quantized_params.json is stale: 02_quantize made it from split.json sha {old[:8]}…, "
        f"but that file is now {_sha(folder, 'split.json')[:8]}… (rewritten by 01_train with "
        f"random_state=1); re-run 02_quantize and every notebook after it: `calhousing run "
        f"--artifacts-dir {folder} -p random_state 1`"
    )
    source = finished_run / "input.csv"
    source.write_text("MedInc,HouseAge,AveRooms,AveBedrms,Population,AveOccup,Latitude,Longitude\n")
    code = _cli(["predict", str(source), "--artifacts-dir", str(folder), "--model", "integer"])
    assert code == 1
    assert "integer_model.json is stale: 02_quantize" in capsys.readouterr().err


def test_stale_is_found_through_the_chain_not_only_next_door(finished_run):
    folder = finished_run / "artifacts"
    recorded = json.loads((folder / "manifest.json").read_text())
    # 03 read today's model, but that model was made from a split 01 has since replaced
    recorded["steps"]["02_quantize"]["inputs"]["split.json"] = "1" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest.seal(recorded)))
    with pytest.raises(errors.StaleArtifactError) as refused:
        artifacts.Run.open(folder).comparison()
    assert str(refused.value).startswith(
        "quantized_params.json is stale: 02_quantize made it from split.json sha 11111111…"
    )


def test_a_report_older_than_the_comparison_is_refused(finished_run, capsys):
    folder = finished_run / "artifacts"
    _requantize(folder, 4)
    run = artifacts.Run.open(folder)
    comparison = evaluation.compare_models(run.float_params(), run.quantized(), run.split())
    run.save_comparison(comparison.predictions, comparison.summary(), n_samples=10)
    report = finished_run / "reports" / "report.html"
    code = _cli(["summary", "--artifacts-dir", str(folder), "--reports-dir", str(report.parent)])
    assert code == 1
    assert capsys.readouterr().err == (
        f"calhousing summary: error: {report} is stale: it does not show the current "
        f"comparison.json (sha {_sha(folder, 'comparison.json')[:8]}…), which was rewritten "
        "after it was rendered; re-render it with `calhousing run`\n"
    )


@pytest.mark.slow
def test_quantize_notebook_alone_then_summary_names_the_stale_comparison(finished_run, capsys):
    """The README's papermill example, run into a complete folder."""
    folder = finished_run / "artifacts"
    papermill.execute_notebook(
        str(NOTEBOOKS / "02_quantize.ipynb"),
        str(finished_run / "out.ipynb"),
        parameters={"bits": 4, "artifacts_dir": str(folder)},
        progress_bar=False,
        cwd=str(NOTEBOOKS),
    )
    code = _cli(
        ["summary", "--artifacts-dir", str(folder), "--reports-dir", str(finished_run / "reports")]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "Test R²" not in captured.out
    assert re.match(
        r"calhousing summary: error: comparison\.json is stale: 03_compare made it from "
        r"quantized_params\.json sha [0-9a-f]{8}…, but that file is now [0-9a-f]{8}… "
        r"\(rewritten by 02_quantize with bits=4\)",
        captured.err,
    )


# --- a run with parameters (4 bits, 3 rows) shows them everywhere it speaks of its model ------


@pytest.fixture(scope="module")
def custom_run(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("four-bit")
    report = pipeline.run_pipeline(
        root / "artifacts",
        root / "reports",
        parameters={"bits": 4, "n_samples": 3},
        progress_bar=False,
    )
    return {"artifacts": root / "artifacts", "reports": root / "reports", "report": report}


def _html_text(path: Path) -> str:
    from bs4 import BeautifulSoup

    return " ".join(
        BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser").get_text().split()
    )


@pytest.mark.slow
def test_four_bit_run_records_every_effective_parameter(custom_run):
    assert artifacts.Run.open(custom_run["artifacts"]).parameters() == {
        "test_size": 0.2,
        "random_state": 42,
        "bits": 4,
        "scheme": "asymmetric",
        "granularity": "per_tensor",
        "space": "raw",
        "rounding": "nearest",
        "n_samples": 3,
        "max_r2_loss": 0.001,
    }


@pytest.mark.slow
def test_custom_runs_appendix_lists_every_parameter_with_its_default(custom_run):
    text = _html_text(custom_run["report"])
    appendix = text[text.rindex("Run parameters") :]
    for row in (
        "test_size 0.2 0.2",
        "random_state 42 42",
        "bits 4 8",
        "scheme 'asymmetric' 'asymmetric'",
        "granularity 'per_tensor' 'per_tensor'",
        "space 'raw' 'raw'",
        "rounding 'nearest' 'nearest'",
        "n_samples 3 10",
    ):
        assert row in appendix
    assert f"artifacts_dir '{custom_run['artifacts']}' ''" in appendix


@pytest.mark.slow
def test_custom_runs_error_tables_show_n_samples_rows(custom_run):
    from bs4 import BeautifulSoup

    page = BeautifulSoup(custom_run["report"].read_text(encoding="utf-8"), "html.parser")
    headings = [
        h for h in page.find_all(["h2", "h3"]) if h.get_text(strip=True).startswith("Error table")
    ]
    assert headings, "the report has no error table"
    for heading in headings:
        table = heading.find_next("table")
        assert [tr.th.get_text() for tr in table.tbody.find_all("tr")] == ["20046", "3024", "15663"]
    text = _html_text(custom_run["report"])
    assert "The first 3 test rows: the true value, both predictions and their errors." in text
    assert "The first 10" not in text


@pytest.mark.slow
def test_four_bit_run_calls_its_model_4_bit_in_the_report_and_the_summary(custom_run, capsys):
    text = _html_text(custom_run["report"])
    assert "Verdict: the 4-bit model cannot replace the float one" in text
    assert "this run's 4-bit model, dequantized weights" in text
    assert "this run's 4-bit integer-only" in text
    assert "8-bit dequantized weights (default)" not in text
    code = _cli(
        [
            "summary",
            "--artifacts-dir",
            str(custom_run["artifacts"]),
            "--reports-dir",
            str(custom_run["reports"]),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "Test R²: float 0.5758, 4-bit quantized " in out
    assert out.startswith("Run parameters: test_size=0.2, random_state=42, bits=4, scheme=")


@pytest.mark.parametrize("notebook", ["02_quantize", "03_compare", "04_sweep", "05_summary"])
def test_no_later_notebook_splits_the_data_again(notebook):
    import nbformat

    nb = nbformat.read(NOTEBOOKS / f"{notebook}.ipynb", as_version=4)
    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    assert "run = artifacts.Run.open(artifacts_dir)" in code and "run.split()" in code
    for resplit in ("data.load_split", "split_data", "train_test_split", "load_housing"):
        assert resplit not in code
