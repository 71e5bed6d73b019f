"""Hostile input and output mistakes, one row of docs/scoring.md's table each; and the promises
that have no row: long lines, deterministic digits, no Dask for a single file.

Every case asserts: exit code 1, one line on stderr holding the table's text, no output, and
the input byte for byte as it was.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from calhousing import cli
from calhousing.core import data
from calhousing.predict import PREDICTION_COLUMN, load_model, predict_file

DOC = Path(__file__).resolve().parents[1] / "docs" / "scoring.md"
HEADER = "id," + ",".join(data.FEATURE_NAMES)
GOOD = "r1,8.3252,41,6.98,1.02,322,2.55,37.88,-122.23"


def _table() -> dict[str, str]:
    """case -> the message text, from the bad-input table of docs/scoring.md."""
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        found = re.match(r"^\| ([^|`]+?) \| `([^`]+)`", line)
        if found and found.group(1) != "case":
            rows[found.group(1)] = found.group(2)
    return rows


TABLE = _table()


def _row(**changes: str) -> str:
    values = dict(zip(HEADER.split(","), GOOD.split(","), strict=True)) | changes
    return ",".join(values.values())


def _csv(text: str | bytes) -> Callable[[Path], tuple[Path, Path]]:
    def make(folder: Path) -> tuple[Path, Path]:
        source = folder / "in.csv"
        source.write_bytes(text if isinstance(text, bytes) else text.encode())
        return source, folder / "out.csv"

    return make


def _parquet(table: pa.Table, output: str = "out.parquet") -> Callable[[Path], tuple[Path, Path]]:
    def make(folder: Path) -> tuple[Path, Path]:
        source = folder / "in.parquet"
        pq.write_table(table, source)
        return source, folder / output

    return make


def _parquet_rows(column: str, values: list, kind: pa.DataType) -> pa.Table:
    frame = {name: [1.0, 2.0] for name in data.FEATURE_NAMES}
    table = pa.table(frame)
    index = table.schema.get_field_index(column)
    return table.set_column(index, column, pa.array(values, type=kind))


def _output(kind: str) -> Callable[[Path], tuple[Path, Path]]:
    def make(folder: Path) -> tuple[Path, Path]:
        source = folder / "in.csv"
        source.write_text(f"{HEADER}\n{GOOD}\n")
        if kind == "same":
            return source, source
        if kind == "symlink":
            (folder / "link.csv").symlink_to(source)
            return source, folder / "link.csv"
        if kind == "hardlink":
            os.link(source, folder / "hard.csv")
            return source, folder / "hard.csv"
        if kind == "folder":
            (folder / "out").mkdir()
            return source, folder / "out"
        if kind == "missing folder":
            return source, folder / "nowhere" / "out.csv"
        return source, Path("/dev/full")

    return make


NESTED = pa.table({**{name: [1.0] for name in data.FEATURE_NAMES}, "extra": [{"a": 1}]})

CASES: dict[str, Callable[[Path], tuple[Path, Path]]] = {
    "missing column": _csv(f"{HEADER.removesuffix(',Longitude')}\n{GOOD.rsplit(',', 1)[0]}\n"),
    "non-numeric value": _csv(f"{HEADER}\n{_row(HouseAge='forty')}\n"),
    "empty value": _csv(f"{HEADER}\n{_row(HouseAge='')}\n"),
    "NaN": _csv(f"{HEADER}\n{_row(HouseAge='nan')}\n"),
    "inf": _csv(f"{HEADER}\n{_row(Population='inf')}\n"),
    "beyond float64": _csv(f"{HEADER}\n{_row(MedInc='1e400')}\n"),
    "prediction overflows": _csv(f"{HEADER}\n{_row(MedInc='1.7e308', AveBedrms='1.7e308')}\n"),
    "too many fields": _csv(f"{HEADER}\n{GOOD},extra\n"),
    "wrong delimiter": _csv(f"{HEADER.replace(',', ';')}\n{GOOD.replace(',', ';')}\n"),
    "not UTF-8": _csv(
        f"{HEADER}\n".encode() + b"r1,\xff\xfe,41,6.98,1.02,322,2.55,37.88,-122.23\n"
    ),
    "quoted value spans lines": _csv(f'{HEADER}\n"r\n1"{GOOD[2:]}\n{GOOD}\n'),
    "quote never closed": _csv(f'{HEADER}\n"r1{GOOD[2:]}\n{GOOD}\n'),
    "empty file": _csv(""),
    "header not UTF-8": _csv(HEADER.replace("MedInc", "Med\xe9Inc").encode("latin-1") + b"\n"),
    "lone CR line ends": _csv(f"{HEADER}\r{GOOD}\r"),
    "column named twice": _csv(f"{HEADER.replace('id', 'MedInc')}\n{GOOD}\n"),
    "prediction column present": _csv(f"{HEADER},{PREDICTION_COLUMN}\n{GOOD},1\n"),
    "output is the input": _output("same"),
    "output is a symlink to the input": _output("symlink"),
    "output is a hard link to the input": _output("hardlink"),
    "output is a folder": _output("folder"),
    "output folder missing": _output("missing folder"),
    "output on a full device": _output("full"),
    "Parquet text feature": _parquet(_parquet_rows("HouseAge", ["1", "2"], pa.string())),
    "Parquet null feature": _parquet(_parquet_rows("Population", [1.0, None], pa.float64())),
    "Parquet integer beyond 2^53": _parquet(
        _parquet_rows("Population", [1, 2**53 + 1], pa.int64())
    ),
    "Parquet uint64 maximum": _parquet(_parquet_rows("Population", [1, 2**64 - 1], pa.uint64())),
    "Parquet nested column to CSV": _parquet(NESTED, output="out.csv"),
    "not a Parquet file": _csv(b""),
}


def test_every_row_of_the_table_is_a_case():
    assert sorted(TABLE) == sorted(CASES)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


@pytest.mark.parametrize("case", sorted(TABLE))
def test_bad_input_gives_one_line_and_touches_nothing(tmp_path, artifacts_dir, capsys, case):
    source, output = CASES[case](tmp_path)
    if case == "not a Parquet file":
        source = source.rename(tmp_path / "in.parquet")
        source.write_bytes(b"PAR1 not really")
    before = _snapshot(tmp_path)
    argv = ["predict", str(source), "-o", str(output), "--artifacts-dir", str(artifacts_dir)]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert TABLE[case] in err
    assert err.count("\n") == 1, err
    assert err.startswith("calhousing predict: error: ")
    assert _snapshot(tmp_path) == before


@pytest.fixture(scope="module")
def artifacts_dir(library_run) -> Path:
    return library_run


@pytest.fixture(scope="module")
def float_model(artifacts_dir):
    return load_model(artifacts_dir, "float")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-o", ""], "-o is empty: give an output file name, or - for stdout"),
        (
            ["--skip-invalid"],
            "--skip-invalid writes the rejected rows to OUTPUT.rejects.csv, so it needs -o OUTPUT",
        ),
        (["--workers", "0"], "--workers must be at least 1, got 0"),
        (
            ["--scheduler", "host:8786"],
            "--scheduler must look like tcp://HOST:PORT, got 'host:8786'",
        ),
    ],
    ids=["empty output name", "skip-invalid to stdout", "no workers", "scheduler not tcp"],
)
def test_usage_mistakes_exit_2(tmp_path, artifacts_dir, capsys, argv, message):
    source = tmp_path / "in.csv"
    source.write_text(f"{HEADER}\n{GOOD}\n")
    assert cli.main(["predict", str(source), *argv, "--artifacts-dir", str(artifacts_dir)]) == 2
    assert capsys.readouterr().err == f"calhousing predict: error: {message}\n"


def test_a_read_only_folder_fails_before_reading(tmp_path, artifacts_dir, capsys):
    source = tmp_path / "in.csv"
    source.write_text(f"{HEADER}\n{GOOD}\n")
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    # root may write in a 0555 folder; sysfs refuses even root
    target = Path("/sys/calhousing-out.csv") if os.geteuid() == 0 else folder / "out.csv"
    argv = ["predict", str(source), "-o", str(target), "--artifacts-dir", str(artifacts_dir)]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "cannot write in" in err and "Permission denied" in err
    assert not target.exists()
    assert list(folder.iterdir()) == []


def test_a_disk_that_fills_while_writing_leaves_nothing(tmp_path, float_model, monkeypatch):
    """ENOSPC from the writer (as a full disk raises it) ends in an OutputError, no file left."""
    import errno

    from calhousing.errors import OutputError

    source = tmp_path / "in.csv"
    source.write_text(f"{HEADER}\n{GOOD}\n")

    def full(source, target) -> None:  # moving the finished output into place fails
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OutputError, match="No space left on device"):
        predict_file(source, tmp_path / "out.csv", float_model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_a_10_mb_line_is_scored(tmp_path, float_model):
    note = "x" * 10_000_000
    source = tmp_path / "in.csv"
    source.write_text(f"note,{HEADER}\n{note},{GOOD}\n")
    summary = predict_file(source, tmp_path / "out.csv", float_model)
    assert summary.rows_scored == 1
    out = pl.read_csv(tmp_path / "out.csv", infer_schema=False)
    assert len(out["note"][0]) == 10_000_000


def test_a_header_field_over_128_kib_is_read(tmp_path, float_model, capsys):
    name = "n" * 200_000
    source = tmp_path / "in.csv"
    source.write_text(f"{name},{HEADER}\nv,{GOOD}\n")
    predict_file(source, tmp_path / "out.csv", float_model)
    assert pl.read_csv(tmp_path / "out.csv").columns == [name, "id", PREDICTION_COLUMN]


def test_a_long_header_name_is_cut_short_in_messages(tmp_path, artifacts_dir, capsys):
    source = tmp_path / "in.csv"
    source.write_text("n" * 200_000 + ",x\n1,2\n")
    cli.main(
        [
            "predict",
            str(source),
            "-o",
            str(tmp_path / "o.csv"),
            "--artifacts-dir",
            str(artifacts_dir),
        ]
    )
    err = capsys.readouterr().err
    assert len(err) < 1000
    assert "(200,000 characters)" in err


def test_a_spanning_quoted_value_is_one_reject(tmp_path, float_model):
    source = tmp_path / "in.csv"
    source.write_text(f'{HEADER}\n{GOOD}\n"r\n2"{GOOD[2:]}\n{GOOD}\n')
    summary = predict_file(source, tmp_path / "out.csv", float_model, skip_invalid=True)
    assert (summary.rows_scored, summary.rows_rejected) == (2, 1)
    rejects = pl.read_csv(summary.rejects)
    assert rejects["line"].to_list() == [3]


@pytest.mark.parametrize("output", ["out.csv", "out.parquet"])
def test_a_line_break_quoted_in_a_last_text_column_is_found_on_the_fast_path(
    tmp_path, float_model, output
):
    # the record parses whole (every feature is a number), so only counting lines shows it
    source = tmp_path / "in.csv"
    source.write_text(f'{HEADER},note\n{GOOD},"a\nb"\n{GOOD},c\n')
    summary = predict_file(source, tmp_path / output, float_model, skip_invalid=True)
    assert (summary.rows_scored, summary.rows_rejected) == (1, 1)
    rejects = pl.read_csv(summary.rejects)
    assert rejects["line"].to_list() == [2]
    assert "runs from line 2 to line 3" in rejects["reason"][0]


def test_a_carriage_return_quoted_in_a_value_passes_through(tmp_path, float_model):
    source = tmp_path / "in.csv"
    source.write_bytes(f'{HEADER},note\n{GOOD},"a\rb"\n'.encode())
    predict_file(source, tmp_path / "fast.csv", float_model)
    predict_file(source, tmp_path / "careful.csv", float_model, block_bytes=4096)
    fast = (tmp_path / "fast.csv").read_bytes()
    assert fast == (tmp_path / "careful.csv").read_bytes()
    assert pl.read_csv(fast)["note"].to_list() == ["a\rb"]


def test_a_nested_column_passes_through_to_parquet(tmp_path, float_model):
    pq.write_table(NESTED, tmp_path / "in.parquet")
    predict_file(tmp_path / "in.parquet", tmp_path / "out.parquet", float_model)
    out = pq.read_table(tmp_path / "out.parquet")
    assert out["extra"].to_pylist() == [{"a": 1}]


def test_a_rows_digits_do_not_depend_on_its_neighbours_or_the_path(tmp_path, housing, float_model):
    """The same row alone, among 200,000 others, on the careful path and from Parquet."""
    rows = housing[list(data.FEATURE_NAMES)].sample(200_000, replace=True, random_state=0)
    rows.insert(0, "id", [f"r{index}" for index in range(len(rows))])
    rows.to_csv(tmp_path / "many.csv", index=False)
    rows.head(1).to_csv(tmp_path / "one.csv", index=False)
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), tmp_path / "many.parquet")
    predict_file(tmp_path / "many.csv", tmp_path / "fast.csv", float_model)
    # 64 KiB blocks: some 285 block boundaries for the 18 MB file (4 KiB took 22 s here)
    predict_file(tmp_path / "many.csv", tmp_path / "careful.csv", float_model, block_bytes=2**16)
    predict_file(tmp_path / "one.csv", tmp_path / "alone.csv", float_model)
    predict_file(tmp_path / "many.parquet", tmp_path / "typed.parquet", float_model)
    fast = (tmp_path / "fast.csv").read_bytes()
    assert (tmp_path / "careful.csv").read_bytes() == fast
    alone = (tmp_path / "alone.csv").read_text().splitlines()
    assert fast.decode().splitlines()[:2] == alone
    typed = pl.read_parquet(tmp_path / "typed.parquet")[PREDICTION_COLUMN].to_numpy()
    text = pl.read_csv(tmp_path / "fast.csv")[PREDICTION_COLUMN].to_numpy()
    np.testing.assert_array_equal(typed, text)


def test_out_of_range_rows_are_counted_and_flagged(tmp_path, artifacts_dir, capsys):
    source = tmp_path / "in.csv"
    source.write_text(f"{HEADER}\n{GOOD}\n{_row(AveBedrms='1e300')}\n")
    argv = ["predict", str(source), "-o", str(tmp_path / "out.csv"), "--model", "integer"]
    assert cli.main([*argv, "--flag-out-of-range", "--artifacts-dir", str(artifacts_dir)]) == 0
    assert "1 with a feature outside the training range (1 clamped" in capsys.readouterr().err
    out = pl.read_csv(tmp_path / "out.csv")
    assert out["out_of_range"].to_list() == [False, True]


def test_a_single_file_never_imports_dask_pandas_or_the_pipeline(tmp_path, artifacts_dir):
    """Both paths (a clean file, then one with a bad row) in a fresh interpreter."""
    (tmp_path / "in.csv").write_text(f"{HEADER}\n{GOOD}\n{_row(MedInc='x')}\n")
    argv = [str(tmp_path / "in.csv"), "-o", str(tmp_path / "o.csv"), "--artifacts-dir"]
    argv += [str(artifacts_dir), "--quiet", "--skip-invalid"]
    code = (
        "import sys; from calhousing import cli\n"
        f"assert cli.main(['predict', *{argv!r}]) == 0\n"
        f"assert cli.main(['predict', *{argv[:-1]!r}]) == 1\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = set(eval(done.stdout.strip().splitlines()[-1]))
    assert "polars" in loaded
    assert not loaded & {"dask", "distributed", "papermill", "sklearn", "onnx", "pandas"}


def test_the_test_sets_out_of_range_rows_fare_worse_and_clamping_helps(library_run, default_split):
    from calhousing.predict import load_models, out_of_range_outcomes

    table = out_of_range_outcomes(
        load_models(library_run), default_split.X_test, default_split.y_test
    )
    assert table["rows outside"].tolist() == [3, 3, 3]
    assert table.loc["float", "MAE outside"] == pytest.approx(3.6435, abs=1e-3)
    assert table.loc["float", "MAE inside"] == pytest.approx(0.5309, abs=1e-3)
    assert table.loc["integer", "MAE outside"] == pytest.approx(1.4503, abs=1e-3)


def test_the_thread_count_does_not_change_a_digit(tmp_path, housing, artifacts_dir):
    rows = housing[list(data.FEATURE_NAMES)].sample(100_000, replace=True, random_state=1)
    rows.to_csv(tmp_path / "in.csv", index=False)
    command = [
        str(Path(sys.executable).with_name("calhousing")),
        "predict",
        str(tmp_path / "in.csv"),
    ]
    command += ["--artifacts-dir", str(artifacts_dir), "--quiet", "--model", "quantized"]
    outputs = []
    for threads in ("1", "2", "4"):
        env = {**os.environ, "POLARS_MAX_THREADS": threads}
        done = subprocess.run(command, capture_output=True, env=env, timeout=120, check=True)
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0].count(b"\n") == 100_001


def test_a_bad_row_scored_from_csv_into_parquet_leaves_nothing_behind(
    tmp_path, artifacts_dir, capsys
):
    source = tmp_path / "in.csv"
    source.write_text(f"{HEADER}\n{GOOD}\n{_row(MedInc='abc')}\n")
    argv = ["predict", str(source), "-o", str(tmp_path / "out.parquet")]
    assert cli.main([*argv, "--artifacts-dir", str(artifacts_dir)]) == 1
    assert "MedInc" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.csv"]
