"""`calhousing export --format c`: a C99 integer model equal bit for bit to `calhousing predict`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from calhousing.core import data, integer_inference
from calhousing.export import c as c_export
from calhousing.predict import PREDICTION_COLUMN

from conftest import run_cli

FEATURES = data.FEATURE_NAMES
ARM_MISSING = c_export.missing_tools("ARM")
needs_arm = pytest.mark.skipif(bool(ARM_MISSING), reason=f"ARM check skipped: {ARM_MISSING}")
# Rows whose codes are all 0 or all 255 where the weight codes [42, 3, -111, 127, 0, -28,
# -25, -28] make the sum largest and smallest: the accumulator's extremes.
LOW = [-1e308, -1e308, -1e308, -1e308, -1e308, -1e308, -1e308, -1e308]
HIGH = [1e308] * 8
LARGEST = [1e308, 1e308, -1e308, 1e308, 0.0, -1e308, -1e308, -1e308]
SMALLEST = [-1e308, -1e308, 1e308, -1e308, 0.0, 1e308, 1e308, 1e308]


@pytest.fixture(scope="module")
def c_dir(library_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("c") / "out"
    result = run_cli(
        "export", "--model", "integer", "--format", "c", "-o", f"{out}/",
        "--artifacts-dir", str(library_run),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout
        == f"Wrote the integer model as C to {out}: calhousing_model.h, score.c and MODEL_CARD.md\n"
    )
    return out


@pytest.fixture(scope="module")
def rows(default_split) -> pd.DataFrame:
    """Every test row (7 put Latitude on a rounding tie), then rows outside the training ranges
    and at the accumulator's extremes."""
    odd = pd.DataFrame([LOW, HIGH, LARGEST, SMALLEST, [0.0] * 8], columns=list(FEATURES))
    return pd.concat([default_split.X_test[list(FEATURES)], odd], ignore_index=True)


@pytest.fixture(scope="module")
def python_predictions(library_run, rows, tmp_path_factory) -> np.ndarray:
    """`calhousing predict --model integer` on `rows`, read back exactly."""
    folder = tmp_path_factory.mktemp("predict")
    rows.to_csv(folder / "rows.csv", index=False, float_format="%.17g")
    result = run_cli(
        "predict", str(folder / "rows.csv"), "-o", str(folder / "scored.csv"), "--model",
        "integer", "--artifacts-dir", str(library_run), "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    scored = pd.read_csv(folder / "scored.csv", dtype=str)  # parsed by float(), exactly
    return scored[PREDICTION_COLUMN].map(float).to_numpy()


def test_export_writes_the_header_the_scorer_and_the_model_card_only(c_dir):
    assert sorted(path.name for path in c_dir.iterdir()) == [
        "MODEL_CARD.md", "calhousing_model.h", "score.c",
    ]  # fmt: skip
    card = (c_dir / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert card.startswith("---\nlibrary_name: c\n")
    assert "\n# calhousing-integer: calhousing_model.h\n" in card


def test_header_holds_the_codes_the_proof_and_no_heap_or_libm(c_dir):
    header = (c_dir / "calhousing_model.h").read_text()
    assert "    42,\n    3,\n    -111,\n    127,\n    0,\n    -28,\n    -25,\n    -28,\n" in header
    assert "calhousing_bias_code = 5909;" in header
    assert "sum_j |q_j| x 255 + |B| = 364 x 255 + 5909 = 98729\n * <= 2147483647" in header
    assert "#define CALHOUSING_SCALE_MULTIPLIER INT32_C(1345552304)" in header
    assert "#define CALHOUSING_SCALE_SHIFT 41" in header
    assert 1345552304 * 2.0**-41 == pytest.approx(0.000611886345784977, rel=2**-31)
    includes = [line for line in header.splitlines() if line.startswith("#include")]
    assert includes == ["#include <float.h>", "#include <stdint.h>"]
    assert "malloc" not in header and "math.h" not in header


def _compile_unit(c_dir: Path, compiler: str, tmp_path: Path, *flags: str):
    return subprocess.run(
        [compiler, *c_export.C_FLAGS, *flags, "-c", str(c_dir / "score.c"), "-o",
         str(tmp_path / "score.o")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    "flags",
    [
        ["-ffast-math"],
        ["-fassociative-math", "-fno-signed-zeros", "-fno-trapping-math"],
        ["-freciprocal-math"],
        ["-ffinite-math-only"],
    ],
    ids=["fast-math", "associative", "reciprocal", "finite-only"],
)
def test_header_refuses_flags_that_would_change_the_rounding(c_dir, tmp_path, flags):
    result = _compile_unit(c_dir, "gcc", tmp_path, *flags)
    assert result.returncode != 0
    assert "build it without -ffast-math" in result.stderr


def test_input_codes_round_half_to_even_and_saturate_like_python(code_echo_model, tmp_path):
    model = code_echo_model
    for name, text in c_export.c_sources(model, {"a": (0.0, 255.0), "b": (0.0, 255.0)}).items():
        (tmp_path / name).write_text(text)
    x = np.array([0.5, 1.5, 2.5, 3.49999, 254.5, 255.5, -3.0, 1e300, -0.5, 7.0])
    rows = np.column_stack([x, np.zeros_like(x)])
    actual = c_export.run_scorer(c_export.build_scorer(tmp_path), rows, ("a", "b"))
    expected = [0, 2, 2, 3, 254, 255, 0, 255, 0, 7]
    assert actual.tolist() == expected
    assert integer_inference.predict_integer(model, rows).tolist() == expected


def test_scorer_builds_with_gcc_without_a_warning_and_scores_exactly(
    c_dir, tmp_path, rows, python_predictions
):
    result = subprocess.run(
        ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", str(c_dir / "score.c"),
         "-o", str(tmp_path / "score")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0 and result.stdout == result.stderr == ""
    actual = c_export.run_scorer(tmp_path / "score", rows, FEATURES)  # built without -O2
    np.testing.assert_array_equal(actual, python_predictions)


def _scored(c_dir: Path, target: str, rows: pd.DataFrame, tmp_path: Path) -> np.ndarray:
    for name in ("calhousing_model.h", "score.c"):
        (tmp_path / name).write_bytes((c_dir / name).read_bytes())
    binary = c_export.build_scorer(tmp_path, target)
    return c_export.run_scorer(binary, rows, FEATURES, target)


def test_x86_scorer_equals_calhousing_predict_bit_for_bit(
    c_dir, rows, python_predictions, tmp_path
):
    actual = _scored(c_dir, "x86-64", rows, tmp_path)
    assert len(actual) == 4128 + 5
    np.testing.assert_array_equal(actual, python_predictions)


@needs_arm
def test_arm_scorer_under_qemu_equals_calhousing_predict_bit_for_bit(
    c_dir, rows, python_predictions, tmp_path
):
    actual = _scored(c_dir, "ARM", rows, tmp_path)
    np.testing.assert_array_equal(actual, python_predictions)


@needs_arm
def test_header_builds_for_arm_without_a_warning(c_dir, tmp_path):
    result = _compile_unit(c_dir, "arm-linux-gnueabihf-gcc", tmp_path)
    assert result.returncode == 0 and result.stderr == ""


def test_saturated_rows_reach_the_accumulators_extremes(c_dir, tmp_path):
    actual = _scored(c_dir, "x86-64", np.array([LARGEST, SMALLEST, LOW, HIGH]), tmp_path)
    scale = 0.000611886345784977
    # 5909 + (42 + 3 + 127) x 255 = 49769; 5909 - (111 + 28 + 25 + 28) x 255 = -43051
    assert actual.tolist() == [
        49769 * scale,
        -43051 * scale,
        5909 * scale,
        (5909 - 20 * 255) * scale,
    ]


def test_scorer_reads_columns_by_name_after_a_bom_and_ignores_others(
    c_dir, tmp_path, default_split
):
    row = default_split.X_test[list(FEATURES)].iloc[:2]
    shuffled = row[list(reversed(FEATURES))].assign(note=["a", "b"])
    binary = c_export.build_scorer(_copy(c_dir, tmp_path))
    text = "\ufeff" + shuffled.to_csv(index=False, float_format="%.17g", lineterminator="\r\n")
    result = subprocess.run([str(binary)], input=text, capture_output=True, text=True, check=True)
    expected = c_export.run_scorer(binary, row, FEATURES)
    assert [float(line) for line in result.stdout.split()] == expected.tolist()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "score: line 1: no header line\n"),
        ("MedInc,HouseAge\n1,2\n", "score: line 1: the header has no column AveRooms\n"),
        (",".join(FEATURES) + "\n1,2,3,4,5,6,7\n",
         "score: line 2: the number of fields differs from the header's\n"),
        (",".join(FEATURES) + "\n1,2,3,4,5,6,7,x\n",
         "score: line 2: Longitude is not a finite number: 'x'\n"),
        (",".join(FEATURES) + "\n1,2,3,4,5,6,7,8\nnan,2,3,4,5,6,7,8\n",
         "score: line 3: MedInc is not a finite number: 'nan'\n"),
    ],
    ids=["empty", "missing-column", "short-row", "not-a-number", "nan"],
)  # fmt: skip
def test_scorer_refuses_bad_input_in_one_line_with_exit_1(c_dir, tmp_path, text, message):
    binary = c_export.build_scorer(_copy(c_dir, tmp_path))
    result = subprocess.run([str(binary)], input=text, capture_output=True, text=True, check=False)
    assert (result.returncode, result.stderr) == (1, message)


def _copy(c_dir: Path, folder: Path) -> Path:
    for name in ("calhousing_model.h", "score.c"):
        (folder / name).write_bytes((c_dir / name).read_bytes())
    return folder


# --- bad usage ---------------------------------------------------------------------------


@pytest.fixture
def read_only(tmp_path):
    """A read-only tmpfs: root writes in a 0555 folder, but not on a read-only mount."""
    folder = tmp_path / "ro"
    folder.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)]
    if os.geteuid() != 0 or subprocess.run(command, capture_output=True).returncode != 0:
        folder.chmod(0o555)
        if os.geteuid() == 0:
            pytest.skip("a read-only folder needs a tmpfs mount, which failed")
        yield folder
        return
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("file", "it is a file; --format c writes a folder"),
        ("missing/out", "No such file or directory"),
        ("ro", "Read-only file system|Permission denied"),
        ("ro/out", "Read-only file system|Permission denied"),
    ],
)
def test_an_output_that_cannot_be_written_fails_in_one_line_and_leaves_nothing(
    library_run, tmp_path, read_only, target, reason
):
    (tmp_path / "file").write_text("x")
    before = sorted(str(path) for path in tmp_path.rglob("*"))
    result = run_cli(
        "export", "--model", "integer", "--format", "c", "-o", str(tmp_path / target),
        "--artifacts-dir", str(library_run),
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert re.search(reason, result.stderr)
    assert result.stderr.endswith("; nothing was written\n")
    assert sorted(str(path) for path in tmp_path.rglob("*")) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "integer", "--format", "cpp"], "--format must be onnx or c, got 'cpp'"),
        (["--model", "float", "--format", "c"], "--format c writes the integer-only model, not"),
        (["--model", "integer", "--format", "c", "-o", ""], "-o is empty: give the folder"),
    ],
    ids=["unknown-format", "float-model", "empty-output"],
)
def test_bad_usage_is_one_line_and_exit_2(tmp_path, args, message):
    output = [] if "-o" in args else ["-o", str(tmp_path / "out")]
    result = run_cli("export", *args, *output)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_keeps_its_other_files_and_gets_new_ones(library_run, c_dir, tmp_path):
    (tmp_path / "main.c").write_text("int main(void) { return 0; }\n")
    (tmp_path / "score.c").write_text("old")
    result = run_cli(
        "export", "--model", "integer", "--format", "c", "-o", str(tmp_path),
        "--artifacts-dir", str(library_run),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "MODEL_CARD.md", "calhousing_model.h", "main.c", "score.c",
    ]  # fmt: skip
    assert (tmp_path / "score.c").read_bytes() == (c_dir / "score.c").read_bytes()


def test_measure_gives_the_sizes_and_every_test_row_equal(library_run, default_split):
    table = c_export.measure(library_run, default_split)
    assert list(table.index) == ["x86-64", "ARM"]
    x86 = table.loc["x86-64"]
    assert x86["rows equal"] == "4,128 of 4,128"
    # docs/deploy.md gives these sizes, measured with Debian 12's gcc 12.2 at -O2; another
    # compiler lays the code out differently
    if _gcc_version("gcc") == "12.2.0":
        assert [x86[".rodata bytes"], x86[".text bytes"]] == [184, 208]
    arm = table.loc["ARM"]
    if ARM_MISSING:
        assert arm["rows equal"] == f"skipped: {ARM_MISSING}"
        return
    assert arm["rows equal"] == "4,128 of 4,128"
    # .rodata: 8 input offsets and 8 scales (float64) and 8 int8 weight codes, whatever the compiler
    assert arm[".rodata bytes"] == 136
    if _gcc_version("arm-linux-gnueabihf-gcc") == "12.2.0":
        assert arm[".text bytes"] == 204


def _gcc_version(compiler: str) -> str:
    command = [compiler, "-dumpfullversion"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.parametrize(("bits", "input_bits"), [(4, 8), (16, 8), (8, 12), (16, 16)])
def test_other_code_widths_equal_the_library_bit_for_bit(
    float_params, default_split, tmp_path, bits, input_bits
):
    model = integer_inference.build_integer_model(
        float_params, default_split.X_train, bits=bits, input_bits=input_bits
    )
    x_train = default_split.X_train[list(FEATURES)]
    ranges = {name: (x_train[name].min(), x_train[name].max()) for name in FEATURES}
    for name, text in c_export.c_sources(model, ranges).items():
        (tmp_path / name).write_text(text)
    actual = c_export.run_scorer(c_export.build_scorer(tmp_path), default_split.X_test, FEATURES)
    np.testing.assert_array_equal(
        actual, integer_inference.predict_integer(model, default_split.X_test)
    )


def test_a_tampered_artifact_is_refused_before_anything_is_written(library_run, tmp_path):
    copy = tmp_path / "artifacts"
    shutil.copytree(library_run, copy)
    with (copy / "integer_model.json").open("a") as stream:
        stream.write(" ")
    result = run_cli(
        "export", "--model", "integer", "--format", "c", "-o", str(tmp_path / "out"),
        "--artifacts-dir", str(copy),
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "integer_model.json has" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_target_without_its_tools_is_a_row_that_says_so(library_run, default_split, monkeypatch):
    from calhousing.report import tables

    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda tool: None if "arm" in tool else real_which(tool))
    hint = "to run it: apt-get install gcc-arm-linux-gnueabihf qemu-user"
    assert c_export.missing_tools("ARM") == (
        f"no arm-linux-gnueabihf-gcc or arm-linux-gnueabihf-size or qemu-arm; {hint}"
    )
    shown = tables.readable(c_export.measure(library_run, default_split), c_export.COLUMNS)
    assert shown.loc["ARM"].tolist() == [
        "arm-linux-gnueabihf-gcc", "—", "—", f"skipped: {c_export.missing_tools('ARM')}",
    ]  # fmt: skip
    assert shown.loc["x86-64", "equal to Python"] == "4,128 of 4,128"
