"""`calhousing predict`: scoring files by feature name, refusing bad input by line and column."""

from __future__ import annotations

import csv
import io
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calhousing import cli, errors, predict
from calhousing.core import data, inference, integer_inference, quantization, serialization
from calhousing.errors import InputError
from calhousing.params import GRANULARITIES, SCHEMES
from calhousing.predict import PREDICTION_COLUMN, careful, predict_file
from calhousing.predict import run as run_module
from calhousing.run import artifacts

FEATURES = data.FEATURE_NAMES
ID = "id"


@pytest.fixture(scope="module")
def artifacts_dir(library_run) -> Path:
    return library_run


@pytest.fixture(scope="module")
def float_model(artifacts_dir) -> predict.Model:
    return predict.load_model(artifacts_dir, "float")


@pytest.fixture(scope="module")
def float_library(artifacts_dir):
    """The float model's predictions as the library computes them (numpy, not polars)."""
    params = artifacts.Run.open(artifacts_dir).float_params()
    return lambda frame: inference.predict(params, frame)


@pytest.fixture(scope="module")
def rows(housing) -> pd.DataFrame:
    """200 real rows: an id column, then the eight features."""
    frame = housing.loc[:199, list(FEATURES)].reset_index(drop=True)
    frame.insert(0, ID, [f"r{index:03d}" for index in range(len(frame))])
    return frame


@pytest.fixture(scope="module")
def valid_csv(rows) -> bytes:
    return rows.to_csv(index=False).encode()


def write(folder: Path, content: bytes, name: str = "in.csv") -> Path:
    path = folder / name
    path.write_bytes(content)
    return path


def edit(content: bytes, line: int, column: str, value: str) -> bytes:
    """`content` with field `column` of (1-based) `line` replaced by the raw text `value`."""
    lines = content.decode().splitlines()
    header = lines[0].split(",")
    fields = lines[line - 1].split(",")
    fields[header.index(column)] = value
    lines[line - 1] = ",".join(fields)
    return ("\n".join(lines) + "\n").encode()


def scored(path: Path, model: predict.Model, **options) -> pd.DataFrame:
    output = path.with_name("out.csv")
    predict_file(path, output, model, **options)
    return pd.read_csv(output, dtype={ID: str}, keep_default_na=False)


def refusal(path: Path, model: predict.Model) -> InputError:
    """The error for `path`; asserts that nothing but the input is left in its folder."""
    with pytest.raises(InputError) as info:
        predict_file(path, path.with_name("out.csv"), model)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    return info.value


@pytest.mark.parametrize("name", ["float", "quantized", "integer"])
def test_each_model_scores_the_rows_as_the_library_does(tmp_path, artifacts_dir, rows, name):
    model = predict.load_model(artifacts_dir, name)
    library = {
        "float": lambda: inference.predict(artifacts.Run.open(artifacts_dir).float_params(), rows),
        "quantized": lambda: inference.predict(artifacts.Run.open(artifacts_dir).quantized(), rows),
        "integer": lambda: integer_inference.predict_integer(
            artifacts.Run.open(artifacts_dir).integer_model(), rows
        ),
    }[name]()
    output = scored(write(tmp_path, rows.to_csv(index=False).encode()), model)
    assert list(output[ID]) == list(rows[ID])
    np.testing.assert_allclose(output[PREDICTION_COLUMN], library, rtol=0, atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(
    weights=st.lists(
        st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False), min_size=1, max_size=8
    ),
    bits=st.integers(2, 16),
    scheme=st.sampled_from(SCHEMES),
    granularity=st.sampled_from(GRANULARITIES),
)
def test_scoring_dequantizes_as_the_library_does_digit_for_digit(
    weights, bits, scheme, granularity
):
    tensor = quantization.quantize(weights, bits, scheme, granularity)
    stored = serialization.quantized_to_dict(
        quantization.QuantizedModel(tensor, tensor, ("x",) * len(weights))
    )["coef"]
    assert predict.scoring.dequantize(stored) == tensor.dequantize().tolist()


@pytest.mark.parametrize(
    "choices",
    [
        {"bits": 3, "granularity": "per_channel", "space": "standardized"},
        {"bits": 8, "space": "standardized", "rounding": "gptq"},
        {"bits": 16, "scheme": "symmetric"},
    ],
    ids=["3bit-std-channel", "standardized-gptq", "16bit-symmetric"],
)
def test_other_quantization_settings_score_as_the_library_does(
    tmp_path, artifacts_dir, rows, choices
):
    folder = tmp_path / "artifacts"
    shutil.copytree(artifacts_dir, folder)
    params, split = artifacts.Run.open(folder).float_params(), artifacts.Run.open(folder).split()
    quantized = quantization.quantize_model(params, X_train=split.X_train, **choices)
    integer = integer_inference.build_integer_model(params, split.X_train, bits=choices["bits"])
    artifacts.Run.open(folder).save_quantized(quantized, integer)
    path = write(tmp_path, rows.to_csv(index=False).encode())
    output = scored(path, predict.load_model(folder, "quantized"))[PREDICTION_COLUMN]
    expected = inference.predict(quantized, rows)
    np.testing.assert_allclose(output, expected, rtol=0, atol=1e-12)
    output = scored(path, predict.load_model(folder, "integer"))[PREDICTION_COLUMN]
    np.testing.assert_array_equal(output, integer_inference.predict_integer(integer, rows))


def test_scoring_one_file_starts_without_numpy_or_dask(tmp_path, artifacts_dir, valid_csv):
    # start-up is a target: the models are read as JSON and the careful path loads numpy
    csv_path = write(tmp_path, valid_csv)
    parquet_path = tmp_path / "in.parquet"
    pd.read_csv(csv_path, dtype={ID: str}).to_parquet(parquet_path)
    probe = (
        "import sys\n"
        "from calhousing.cli import main\n"
        "for name in sys.argv[1:]:\n"
        f"    main(['predict', '--quiet', '--artifacts-dir', {str(artifacts_dir)!r}, "
        "'--model', 'integer', name, '-o', name + '.out.csv'])\n"
        "print(sorted({'numpy', 'pandas', 'dask'} & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(csv_path), str(parquet_path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "[]"


def test_features_are_found_by_name_in_any_order(tmp_path, rows, float_model):
    straight = scored(write(tmp_path, rows.to_csv(index=False).encode(), "a.csv"), float_model)
    shuffled = rows[[*reversed(FEATURES), ID]].to_csv(index=False).encode()
    reordered = scored(write(tmp_path, shuffled, "b.csv"), float_model)
    np.testing.assert_allclose(
        reordered[PREDICTION_COLUMN], straight[PREDICTION_COLUMN], rtol=0, atol=1e-12
    )


def test_other_columns_pass_through_unchanged_in_their_order(tmp_path, rows, float_model):
    frame = rows.head(4).copy()
    frame.insert(3, "note", ["a, b", "", ' quoted "x" ', "1e5"])
    frame[ID] = ["007", "0x1F", "-0", "NA"]
    path = write(tmp_path, frame.to_csv(index=False).encode())
    predict_file(path, tmp_path / "out.csv", float_model)
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as handle:
        output = list(csv.reader(handle))
    assert output[0] == [ID, "note", PREDICTION_COLUMN]
    assert [row[:2] for row in output[1:]] == frame[[ID, "note"]].values.tolist()


def test_stdin_is_read_as_csv_and_stdout_gets_the_csv(
    rows, valid_csv, artifacts_dir, monkeypatch, capsysbinary
):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(valid_csv)))
    code = cli.main(["predict", "-", "--artifacts-dir", str(artifacts_dir), "--quiet"])
    captured = capsysbinary.readouterr()
    assert code == 0
    assert captured.err == b""
    output = pd.read_csv(io.BytesIO(captured.out), dtype={ID: str})
    assert list(output.columns) == [ID, PREDICTION_COLUMN]
    np.testing.assert_allclose(
        output[PREDICTION_COLUMN],
        inference.predict(artifacts.Run.open(artifacts_dir).float_params(), rows),
        atol=1e-12,
    )


def test_a_pipe_given_as_input_is_read_once_like_stdin(
    tmp_path, artifacts_dir, valid_csv, float_model
):
    # `calhousing predict <(command)`: polars opened the pipe a second time and waited
    pipe = tmp_path / "pipe.csv"
    os.mkfifo(pipe)
    threading.Thread(target=pipe.write_bytes, args=(valid_csv,), daemon=True).start()
    output = str(tmp_path / "from-pipe.csv")
    command = [sys.executable, "-m", "calhousing", "predict", str(pipe), "-o", output]
    command += ["--artifacts-dir", str(artifacts_dir)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("Scored 200 rows")
    predict_file(write(tmp_path, valid_csv), tmp_path / "from-file.csv", float_model)
    assert (tmp_path / "from-pipe.csv").read_bytes() == (tmp_path / "from-file.csv").read_bytes()


def test_a_pipe_with_no_line_end_is_refused_before_it_is_all_copied(
    tmp_path, float_model, monkeypatch
):
    monkeypatch.setattr(run_module, "MAX_LINE_BYTES", 10_000)
    pipe = tmp_path / "pipe.csv"
    os.mkfifo(pipe)
    endless = threading.Thread(target=_write_zeros, args=(pipe,), daemon=True)
    endless.start()
    with pytest.raises(InputError, match=r"pipe\.csv, line 1 \(the header\): longer than"):
        predict_file(pipe, tmp_path / "out.csv", float_model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.csv"]


def _write_zeros(path: Path) -> None:
    try:
        with open(path, "wb") as sink:
            while True:
                sink.write(bytes(2**16))
    except BrokenPipeError:  # the reader stopped, as it should
        pass


def test_a_device_with_no_line_end_is_refused_once_the_limit_is_read(tmp_path, artifacts_dir):
    # the header reader copied what it had read at every 64 KiB: 64 MiB took minutes
    command = [sys.executable, "-m", "calhousing", "predict", "/dev/zero"]
    command += ["-o", str(tmp_path / "out.csv"), "--artifacts-dir", str(artifacts_dir)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "/dev/zero, line 1 (the header): longer than 64 MiB with no line end" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_closed_stdout_is_refused_before_reading(tmp_path, valid_csv, float_model, monkeypatch):
    monkeypatch.setattr(sys, "stdout", None)
    with pytest.raises(errors.OutputError, match="standard output is closed: give -o OUTPUT"):
        predict_file(write(tmp_path, valid_csv), None, float_model)


def test_a_reader_that_stops_early_ends_the_run_silently_with_141(
    tmp_path, artifacts_dir, valid_csv
):
    header, body = valid_csv.split(b"\n", 1)
    path = write(tmp_path, header + b"\n" + body * 100)  # 20,000 rows: more than a pipe holds
    command = [sys.executable, "-m", "calhousing", "predict", str(path)]
    process = subprocess.Popen(
        [*command, "--artifacts-dir", str(artifacts_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout.readline() == f"{ID},{PREDICTION_COLUMN}\n".encode()
    process.stdout.close()  # as `| head -1` does
    assert process.wait(timeout=60) == 141  # as a Unix tool stopped by SIGPIPE
    assert process.stderr.read() == b""


def test_a_parquet_file_on_stdin_is_named_as_such(
    tmp_path, rows, artifacts_dir, monkeypatch, capsys
):
    rows.head(3).to_parquet(tmp_path / "in.parquet")
    stdin = io.TextIOWrapper(io.BytesIO((tmp_path / "in.parquet").read_bytes()))
    monkeypatch.setattr(sys, "stdin", stdin)
    output = str(tmp_path / "out.csv")
    code = cli.main(["predict", "-", "-o", output, "--artifacts-dir", str(artifacts_dir)])
    assert code == 1
    assert "this is a Parquet file, not CSV; give it by a name ending" in capsys.readouterr().err


def test_outputs_get_the_permissions_a_new_file_gets(tmp_path, valid_csv, float_model):
    path = write(tmp_path, edit(valid_csv, 3, "MedInc", "x"))
    previous = os.umask(0o027)
    try:
        summary = predict_file(path, tmp_path / "out.csv", float_model, skip_invalid=True)
    finally:
        os.umask(previous)
    assert summary.output.stat().st_mode & 0o777 == 0o640
    assert summary.rejects.stat().st_mode & 0o777 == 0o640


def test_an_output_folder_is_refused_with_a_file_name_to_use_instead(
    tmp_path, valid_csv, float_model
):
    with pytest.raises(errors.OutputError) as refused:
        predict_file(write(tmp_path, valid_csv), tmp_path, float_model)
    assert str(refused.value).endswith(f"give a file name, such as '{tmp_path}/scored.csv'")


def test_the_closing_line_reads_as_a_sentence():
    one = predict.Summary(1, 0, Path("o.csv"), Path("o.csv.rejects.csv"))
    assert cli._closing_line(one, "float") == (
        "Scored 1 row with the float model into o.csv; none rejected (o.csv.rejects.csv holds "
        "the header only); none outside the training range"
    )
    many = predict.Summary(3000, 1234, Path("o.csv"), Path("o.csv.rejects.csv"), 1500, 1200)
    assert cli._closing_line(many, "integer") == (
        "Scored 3,000 rows with the integer model into o.csv; 1,234 rejected, listed in "
        "o.csv.rejects.csv; 1,500 with a feature outside the training range (1,200 clamped to "
        "it by the integer model)"
    )


def test_parquet_in_and_out_keep_the_passed_through_types(
    tmp_path, rows, float_model, float_library
):
    frame = rows.head(20).assign(number=range(20))
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "in.parquet")
    predict_file(tmp_path / "in.parquet", tmp_path / "out.parquet", float_model)
    output = pq.read_table(tmp_path / "out.parquet")
    assert output.schema.names == [ID, "number", PREDICTION_COLUMN]
    assert output.schema.field("number").type == pa.int64()
    np.testing.assert_allclose(output[PREDICTION_COLUMN].to_numpy(), float_library(frame))


def test_header_only_file_gives_a_header_only_output(tmp_path, valid_csv, float_model):
    header = valid_csv.splitlines()[0] + b"\n"
    output = scored(write(tmp_path, header), float_model)
    assert list(output.columns) == [ID, PREDICTION_COLUMN]
    assert output.empty


@pytest.mark.parametrize(
    "content",
    [b"", b"\n\n\r\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\n", b"\xef\xbb\xbf\r\n"],
    ids=["no bytes", "blank lines", "a BOM", "a BOM and LF", "a BOM and CRLF"],
)
def test_empty_file_is_refused(tmp_path, float_model, content):
    error = refusal(write(tmp_path, content), float_model)
    assert "is empty" in str(error)
    assert "MedInc" in str(error)


def test_a_bom_then_blank_lines_then_the_header_is_read(tmp_path, valid_csv, float_model):
    path = write(tmp_path, b"\xef\xbb\xbf\n\r\n" + valid_csv)
    output = scored(path, float_model)
    assert len(output) == 200
    (tmp_path / "bad").mkdir()
    bad = write(tmp_path / "bad", b"\xef\xbb\xbf\n" + edit(valid_csv, 3, "MedInc", "x"))
    assert str(refusal(bad, float_model)).startswith(f"{bad}, line 4, column 'MedInc'")


def test_every_missing_feature_column_is_named(tmp_path, rows, float_model):
    content = rows.drop(columns=["AveRooms", "Latitude"]).to_csv(index=False).encode()
    message = str(refusal(write(tmp_path, content), float_model))
    assert "line 1" in message
    assert "missing feature column(s) AveRooms, Latitude" in message


@pytest.mark.parametrize("value", ["abc", "", "1,5"], ids=["text", "empty", "decimal comma"])
def test_a_non_numeric_value_is_named_by_line_and_column(tmp_path, valid_csv, float_model, value):
    content = edit(valid_csv, 7, "HouseAge", f'"{value}"' if "," in value else value)
    message = str(refusal(write(tmp_path, content), float_model))
    assert message.startswith(f"{tmp_path / 'in.csv'}, line 7, column 'HouseAge': ")
    assert ("empty value" if value == "" else f"non-numeric value {value!r}") in message


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e400"])
def test_nan_or_inf_is_named_by_line_and_column(tmp_path, valid_csv, float_model, value):
    content = edit(valid_csv, 12, "Latitude", value)
    message = str(refusal(write(tmp_path, content), float_model))
    assert f"line 12, column 'Latitude': value {value!r} is not a finite number" in message


def test_a_prediction_that_overflows_is_refused(tmp_path, valid_csv, float_model):
    content = edit(edit(valid_csv, 3, "MedInc", "1.7e308"), 3, "AveBedrms", "1.7e308")
    assert "line 3: the prediction overflows" in str(refusal(write(tmp_path, content), float_model))


def test_a_wrong_delimiter_is_named(tmp_path, rows, float_model):
    content = rows.to_csv(index=False, sep=";").encode()
    message = str(refusal(write(tmp_path, content), float_model))
    assert "line 1" in message
    assert "has ';': separate fields with commas" in message


def test_a_row_with_another_delimiter_is_named(tmp_path, valid_csv, float_model):
    lines = valid_csv.splitlines()
    lines[4] = lines[4].replace(b",", b";")
    message = str(refusal(write(tmp_path, b"\n".join(lines)), float_model))
    assert "line 5: expected 9 comma-separated fields as in the header, found 1" in message
    assert "';'" in message


def test_a_row_with_too_many_fields_is_named_by_line(tmp_path, valid_csv, float_model):
    lines = valid_csv.splitlines()
    lines[9] += b",extra"
    message = str(refusal(write(tmp_path, b"\n".join(lines)), float_model))
    assert "line 10: expected 9 comma-separated fields as in the header, found 10" in message


@pytest.mark.parametrize("column", ["MedInc", ID])
def test_bytes_that_are_not_utf8_are_named_by_line_and_column(
    tmp_path, valid_csv, float_model, column
):
    content = edit(valid_csv, 4, column, "x").replace(b",x,", b",\xff\xfe,", 1)
    content = content.replace(b"\nx,", b"\n\xff\xfe,", 1)
    message = str(refusal(write(tmp_path, content), float_model))
    assert f"line 4, column {column!r}: bytes that are not UTF-8" in message


def test_a_header_that_is_not_utf8_is_refused(tmp_path, valid_csv, float_model):
    content = valid_csv.replace(b"MedInc", b"Med\xe9Inc", 1)
    message = str(refusal(write(tmp_path, content), float_model))
    assert "line 1 (the header): bytes that are not UTF-8" in message


def test_line_numbers_count_blank_lines_and_crlf_endings(tmp_path, valid_csv, float_model):
    lines = valid_csv.decode().splitlines()
    lines[20] = lines[20].replace(lines[20].split(",")[1], "oops", 1)
    content = "\r\n".join([lines[0], "", *lines[1:10], "", "", *lines[10:]]).encode()
    message = str(refusal(write(tmp_path, content), float_model))
    assert "line 24, column 'MedInc': non-numeric value 'oops'" in message


def test_a_bad_row_in_a_later_block_is_found_at_its_line(tmp_path, valid_csv, float_model):
    content = edit(valid_csv, 150, "Longitude", "west")
    path = write(tmp_path, content)
    with pytest.raises(InputError, match="line 150, column 'Longitude'"):
        predict_file(path, tmp_path / "out.csv", float_model, block_bytes=256)


def test_the_block_size_does_not_change_the_output(tmp_path, valid_csv, float_model):
    path = write(tmp_path, valid_csv)
    predict_file(path, tmp_path / "whole.csv", float_model)
    predict_file(path, tmp_path / "blocks.csv", float_model, block_bytes=100)
    whole = pd.read_csv(tmp_path / "whole.csv")
    blocks = pd.read_csv(tmp_path / "blocks.csv")
    assert list(blocks[ID]) == list(whole[ID])
    np.testing.assert_allclose(blocks[PREDICTION_COLUMN], whole[PREDICTION_COLUMN], atol=1e-12)


def test_a_refused_input_leaves_the_previous_output_untouched(tmp_path, valid_csv, float_model):
    path = write(tmp_path, edit(valid_csv, 180, "AveOccup", "many"))
    previous = tmp_path / "out.csv"
    previous.write_text("the previous output\n")
    with pytest.raises(InputError):
        predict_file(path, previous, float_model, block_bytes=512)
    assert previous.read_text() == "the previous output\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_skip_invalid_scores_the_valid_rows_and_lists_each_reject(
    tmp_path, rows, valid_csv, float_model, float_library
):
    content = edit(valid_csv, 3, "MedInc", "abc")
    content = edit(content, 5, "Latitude", "nan")
    lines = content.splitlines()
    lines[7] += b",extra"
    lines[9] = lines[9].replace(b"r008", b"r\xff08")
    path = write(tmp_path, b"\n".join(lines) + b"\n")
    summary = predict_file(path, tmp_path / "out.csv", float_model, skip_invalid=True)
    assert (summary.rows_scored, summary.rows_rejected) == (196, 4)
    output = pd.read_csv(tmp_path / "out.csv", dtype={ID: str})
    kept = rows.drop(index=[1, 3, 6, 8])
    assert list(output[ID]) == list(kept[ID])
    np.testing.assert_allclose(output[PREDICTION_COLUMN], float_library(kept), atol=1e-12)
    rejects = pd.read_csv(summary.rejects, keep_default_na=False)
    assert summary.rejects == tmp_path / "out.csv.rejects.csv"
    assert list(rejects.columns) == ["line", "column", "reason", "text"]
    assert list(rejects["line"]) == [3, 5, 8, 10]
    assert list(rejects["column"]) == ["MedInc", "Latitude", "", ID]
    assert "non-numeric value 'abc'" in rejects["reason"][0]
    assert "not a finite number" in rejects["reason"][1]
    assert "found 10" in rejects["reason"][2]
    assert "not UTF-8" in rejects["reason"][3]
    assert rejects["text"][2] == lines[7].decode()


@pytest.mark.parametrize("length", [1000, 1001])
def test_a_record_over_the_limit_is_refused_even_when_its_block_ends_later(monkeypatch, length):
    # the limit was checked only when a whole block held no line end, so a record up to
    # one block over it got through
    monkeypatch.setattr(careful, "MAX_LINE_BYTES", 1000)
    content = b"a,1\n" + b"b," + b"x" * (length - 2) + b"\nc,2\n"
    stream = io.BytesIO(content)
    if length == 1000:
        found = list(careful.iter_records(stream, "in.csv", 2, block_bytes=4096))
        assert [len(block) for block in found] == [3]
        return
    with pytest.raises(InputError, match=r"^in\.csv, line 3: a record longer than 0 MiB"):
        list(careful.iter_records(stream, "in.csv", 2, block_bytes=4096))


def test_a_quote_inside_a_field_rejects_that_row_alone(tmp_path, rows, valid_csv, float_model):
    # polars refuses the whole block, so each record is parsed on its own
    path = write(tmp_path, edit(valid_csv, 3, "MedInc", '"2"3'))
    summary = predict_file(path, tmp_path / "out.csv", float_model, skip_invalid=True)
    assert (summary.rows_scored, summary.rows_rejected) == (199, 1)
    output = pd.read_csv(tmp_path / "out.csv", dtype={ID: str})
    assert list(output[ID]) == list(rows[ID].drop(index=1))
    rejects = pd.read_csv(summary.rejects, keep_default_na=False)
    assert list(rejects["line"]) == [3]


def test_records_parsed_one_by_one_are_scored_and_rejected_together(
    tmp_path, rows, valid_csv, float_model
):
    # two records polars refuses in one block, and bad values among those it reads alone
    content = edit(edit(valid_csv, 3, "MedInc", '"2"3'), 9, "HouseAge", 'x"y"')
    content = edit(edit(content, 5, "Latitude", "nan"), 7, "HouseAge", "forty")
    path = write(tmp_path, content)
    summary = predict_file(path, tmp_path / "out.csv", float_model, skip_invalid=True)
    assert (summary.rows_scored, summary.rows_rejected) == (196, 4)
    output = pd.read_csv(tmp_path / "out.csv", dtype={ID: str})
    assert list(output[ID]) == list(rows[ID].drop(index=[1, 3, 5, 7]))
    rejects = pd.read_csv(summary.rejects, keep_default_na=False)
    assert list(rejects["line"]) == [3, 5, 7, 9]
    assert list(rejects["column"]) == ["", "Latitude", "HouseAge", "HouseAge"]
    assert rejects["reason"][0] == "cannot read this record as CSV fields (check its quotes)"


def test_rows_rejected_after_parsing_leave_the_output_intact(
    tmp_path, rows, valid_csv, float_model
):
    # Line 2 parses alone but is rejected (NaN), so its piece of the block scores no row;
    # pyarrow's CSV writer turned such an empty chunk into 16 KB of NUL bytes
    # (https://github.com/apache/arrow/issues/36889).
    path = write(tmp_path, edit(edit(valid_csv, 2, "Latitude", "nan"), 3, "MedInc", "x"))
    output = tmp_path / "out.csv"
    predict_file(path, output, float_model, skip_invalid=True, block_bytes=512)
    assert b"\0" not in output.read_bytes()
    assert list(pd.read_csv(output, dtype={ID: str})[ID]) == list(rows[ID][2:])


def test_skip_invalid_needs_an_output_file(tmp_path, valid_csv, artifacts_dir, capsys):
    path = write(tmp_path, valid_csv)
    argv = ["predict", str(path), "--artifacts-dir", str(artifacts_dir), "--skip-invalid"]
    assert cli.main(argv) == 2
    assert capsys.readouterr().err == (
        "calhousing predict: error: --skip-invalid writes the rejected rows to "
        "OUTPUT.rejects.csv, so it needs -o OUTPUT\n"
    )


def test_an_input_that_already_has_the_prediction_column_is_refused(tmp_path, rows, float_model):
    content = rows.assign(**{PREDICTION_COLUMN: 1.0}).to_csv(index=False).encode()
    assert PREDICTION_COLUMN in str(refusal(write(tmp_path, content), float_model))


def test_a_column_named_twice_is_refused(tmp_path, valid_csv, float_model):
    content = valid_csv.replace(b"id,", b"MedInc,", 1)
    assert "'MedInc' appear more than once" in str(refusal(write(tmp_path, content), float_model))


def test_parquet_rows_with_missing_features_are_rejected_by_row(tmp_path, rows, float_model):
    table = pa.Table.from_pandas(rows.head(10), preserve_index=False)
    values = table["Population"].to_pylist()
    values[6] = None
    table = table.set_column(table.schema.get_field_index("Population"), "Population", [values])
    pq.write_table(table, tmp_path / "in.parquet")
    with pytest.raises(InputError, match=r"row 7, column 'Population': missing value"):
        predict_file(tmp_path / "in.parquet", tmp_path / "out.parquet", float_model)
    summary = predict_file(
        tmp_path / "in.parquet", tmp_path / "out.parquet", float_model, skip_invalid=True
    )
    assert (summary.rows_scored, summary.rows_rejected) == (9, 1)
    rejects = pd.read_csv(summary.rejects)
    assert list(rejects.columns) == ["row", "column", "reason", "text"]
    assert rejects["row"].tolist() == [7]


def test_a_parquet_text_feature_column_is_refused(tmp_path, rows, float_model):
    frame = rows.head(5).astype({"HouseAge": str})
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "in.parquet")
    message = str(refusal(tmp_path / "in.parquet", float_model))
    assert "column 'HouseAge' has type String; feature columns must be numbers" in message


def test_scoring_never_unpickles(tmp_path, artifacts_dir, valid_csv, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("predict must not unpickle anything")

    for name in ("load", "loads", "Unpickler", "_Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(joblib, "load", refuse)
    for name in ("float", "quantized", "integer"):
        model = predict.load_model(artifacts_dir, name)
        assert len(scored(write(tmp_path, valid_csv), model)) == 200


def test_scoring_works_without_the_pickled_estimator(tmp_path, artifacts_dir, valid_csv):
    copied = tmp_path / "artifacts"
    shutil.copytree(artifacts_dir, copied)
    (copied / artifacts.MODEL_FILE).unlink()
    model = predict.load_model(copied, "quantized")
    assert len(scored(write(tmp_path, valid_csv), model)) == 200


def test_the_cli_names_the_bad_row_and_exits_1(tmp_path, valid_csv, artifacts_dir, capsys):
    path = write(tmp_path, edit(valid_csv, 9, "AveRooms", "many"))
    args = ["predict", str(path), "-o", str(tmp_path / "out.csv")]
    assert cli.main([*args, "--artifacts-dir", str(artifacts_dir)]) == 1
    err = capsys.readouterr().err
    assert "line 9, column 'AveRooms': non-numeric value 'many'" in err
    assert "--skip-invalid" in err
    assert "No output was written" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "out.csv").exists()


# Fuzzing the CSV reader: whatever the bytes, it scores or refuses with an InputError
# that names the file; it never raises anything else, hangs, or leaves a partial file.

_INTERESTING = st.sampled_from(
    [
        b",",
        b'"',
        b"\n",
        b"\r",
        b"\r\n",
        b";",
        b"\t",
        b" ",
        b"\xff",
        b"\x00",
        b"\xef\xbb\xbf",
        b"nan",
        b"inf",
        b"-",
        b".",
        b"e",
        b"1e400",
        b"0",
        b"9",
        b"x",
        b"",
    ]
)


@st.composite
def _mutations(draw, valid: bytes) -> bytes:
    content = bytearray(valid)
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(content)))
        cut = draw(st.integers(0, 3))
        content[position : position + cut] = draw(_INTERESTING)
    return bytes(content)


def _check_scores_or_refuses(content: bytes, model: predict.Model, skip_invalid: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder), content)
        output = Path(folder) / "out.csv"
        try:
            summary = predict_file(path, output, model, skip_invalid=skip_invalid, block_bytes=512)
        except InputError as error:
            assert str(error).startswith(str(path))
            assert sorted(p.name for p in Path(folder).iterdir()) == ["in.csv"]
            return
        scored_rows = len(pd.read_csv(output, dtype=str, keep_default_na=False))
        assert scored_rows == summary.rows_scored
        if skip_invalid:
            # every record after the header is either scored or rejected: a record is a
            # non-blank line ("\n" or "\r\n" ends it), or lines joined by a quoted value
            lines = [line for line in content.split(b"\n") if line.rstrip(b"\r")]
            handled = summary.rows_scored + summary.rows_rejected
            if b'"' in content:
                assert handled <= len(lines) - 1
            else:
                assert handled == len(lines) - 1
        else:
            assert summary.rows_rejected == 0


_FUZZ = settings(max_examples=150, deadline=5000, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(tail=st.binary(max_size=400), skip_invalid=st.booleans())
def test_fuzz_random_bytes_after_a_valid_header(float_model, valid_csv, tail, skip_invalid):
    header = valid_csv.splitlines(keepends=True)[0]
    _check_scores_or_refuses(header + tail, float_model, skip_invalid)


@_FUZZ
@given(content=st.binary(max_size=300))
def test_fuzz_random_bytes(float_model, content):
    _check_scores_or_refuses(content, float_model, skip_invalid=True)


@_FUZZ
@given(data=st.data(), skip_invalid=st.booleans())
def test_fuzz_mutations_of_a_valid_file(float_model, valid_csv, data, skip_invalid):
    valid = b"".join(valid_csv.splitlines(keepends=True)[:30])
    content = data.draw(_mutations(valid))
    _check_scores_or_refuses(content, float_model, skip_invalid)
