"""The data cache is never trusted blindly: it loads without running code, or is refused.

Each bad cache is made in a temporary folder from the real one (truncated, damaged,
another data set, a hostile pickle); each refusal is one message naming
SCIKIT_LEARN_DATA, the file, what is wrong and what to do.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import subprocess
import sys
import zlib
from pathlib import Path

import joblib
import numpy as np
import papermill
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joblib.numpy_pickle import NumpyArrayWrapper
from sklearn.datasets import fetch_california_housing

from calhousing import errors
from calhousing.core import data, datacache

PUBLISHED_SHA256 = "898f39f9b96274ded9a9f5a3b1b9f1dc032ab86955ac0f86b1c17330ba30cb25"
WHAT_TO_DO = (
    "Delete it so scikit-learn downloads it again, or point SCIKIT_LEARN_DATA at a folder "
    "holding a good copy of cal_housing_py3.pkz"
)
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _real_cache_path() -> Path:
    home = os.environ.get("SCIKIT_LEARN_DATA") or "~/scikit_learn_data"
    return Path(home).expanduser() / data.CACHE_FILE


@pytest.fixture(scope="module")
def real_cache() -> bytes:
    """The bytes of scikit-learn's real cache, as the other tests' data come from."""
    return _real_cache_path().read_bytes()


@pytest.fixture(scope="module")
def real_table(real_cache) -> np.ndarray:
    return datacache.load_joblib_arrays(real_cache)


class Hostile:
    """Unpickling this runs a shell command that creates `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _home_with(tmp_path: Path, content: bytes) -> Path:
    home = tmp_path / "data_home"
    home.mkdir()
    (home / data.CACHE_FILE).write_bytes(content)
    return home


def _dumped(value: object, tmp_path: Path, **options) -> bytes:
    """What ``joblib.dump`` writes for `value` (compressed as scikit-learn does by default)."""
    path = tmp_path / "dumped.pkz"
    joblib.dump(value, path, **({"compress": 6} | options))
    return path.read_bytes()


def _wrapper_stream(payload: bytes, **attributes) -> bytes:
    """joblib's layout written by hand: a protocol-2 pickle of a wrapper, its bytes, STOP."""
    wrapper = NumpyArrayWrapper.__new__(NumpyArrayWrapper)
    wrapper.__dict__.update(attributes)
    return zlib.compress(pickle.dumps(wrapper, protocol=2)[:-1] + payload + b".")


def _refusal(home: Path, problem: str) -> str:
    return (
        f"The California Housing cache {home / data.CACHE_FILE} (found through data_home) "
        f"is unusable: {problem}. {WHAT_TO_DO}"
    )


# The real cache


def test_real_cache_holds_the_published_table(real_table):
    assert real_table.shape == (20640, 9)
    assert real_table.dtype == np.float64
    assert data.table_sha256(real_table) == PUBLISHED_SHA256
    assert data.PUBLISHED_TABLE_SHA256 == PUBLISHED_SHA256


def test_real_cache_loads_as_joblib_loads_it(real_table):
    assert np.array_equal(real_table, joblib.load(_real_cache_path()))


def test_frame_equals_scikit_learns_exactly(housing):
    expected = fetch_california_housing(
        data_home=str(_real_cache_path().parent), as_frame=True
    ).frame
    assert list(housing.columns) == list(expected.columns)
    assert list(housing.dtypes) == list(expected.dtypes)
    assert housing.index.equals(expected.index)
    assert np.array_equal(housing.to_numpy(), expected.to_numpy())


def test_first_block_group_has_the_published_values(housing):
    assert housing.iloc[0].to_dict() == {
        "MedInc": 8.3252,
        "HouseAge": 41.0,
        "AveRooms": 6.984126984126984,
        "AveBedrms": 1.0238095238095237,
        "Population": 322.0,
        "AveOccup": 2.5555555555555554,
        "Latitude": 37.88,
        "Longitude": -122.23,
        "MedHouseVal": 4.526,
    }


def test_housing_frame_derives_per_household_figures_and_the_value_in_100k():
    table = np.array([[150000.0, 3.0, 20.0, 12.0, 6.0, 9.0, 3.0, 34.0, -118.0]])
    frame = data.housing_frame(table)
    assert frame.iloc[0].to_dict() == {
        "MedInc": 3.0,
        "HouseAge": 20.0,
        "AveRooms": 4.0,
        "AveBedrms": 2.0,
        "Population": 9.0,
        "AveOccup": 3.0,
        "Latitude": 34.0,
        "Longitude": -118.0,
        "MedHouseVal": 1.5,
    }
    assert table[0, 3] == 12.0  # the caller's table is left as it was


# What joblib versions write: the bytes differ, the table does not


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_every_pickle_protocol_joblib_may_use_loads_the_published_table(
    real_table, tmp_path, protocol
):
    content = _dumped(real_table, tmp_path, protocol=protocol)
    assert data.table_sha256(datacache.load_joblib_arrays(content)) == PUBLISHED_SHA256
    assert data.load_housing(_home_with(tmp_path, content)).shape == (20640, 9)


@pytest.mark.parametrize("variant", ["c_order", "big_endian", "gzip"])
def test_layouts_joblib_writes_load_the_published_table(real_table, tmp_path, variant):
    if variant == "c_order":
        content = _dumped(np.ascontiguousarray(real_table), tmp_path)
    elif variant == "big_endian":
        content = _dumped(real_table.astype(">f8"), tmp_path)
    else:
        content = _dumped(real_table, tmp_path, compress=("gzip", 3))
    loaded = datacache.load_joblib_arrays(content)
    assert loaded.dtype == np.dtype("=f8")
    assert data.table_sha256(loaded) == PUBLISHED_SHA256
    data.load_housing(_home_with(tmp_path, content))


def test_joblib_before_1_2_without_alignment_padding_loads(real_table):
    content = _wrapper_stream(
        np.ascontiguousarray(real_table).tobytes(),
        subclass=np.ndarray,
        shape=(20640, 9),
        order="C",
        dtype=np.dtype("<f8"),
        allow_mmap=True,
    )
    assert data.table_sha256(datacache.load_joblib_arrays(content)) == PUBLISHED_SHA256


def test_containers_numbers_and_strings_load_without_any_global(tmp_path):
    value = {"name": "x", "sizes": [1, 2.5], "pair": (np.arange(3), None)}
    loaded = datacache.load_joblib_arrays(_dumped(value, tmp_path))
    assert loaded["name"] == "x" and loaded["sizes"] == [1, 2.5] and loaded["pair"][1] is None
    assert loaded["pair"][0].tolist() == [0, 1, 2]


# Bad caches: one message each


def _flipped(raw: bytes, at: int) -> bytes:
    return raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1 :]


BAD_CACHES = {
    "empty": (lambda raw, tmp: b"", "it is empty"),
    "truncated to half": (
        lambda raw, tmp: raw[: len(raw) // 2],
        "it is truncated: its compressed data end early",
    ),
    "truncated to 10 bytes": (
        lambda raw, tmp: raw[:10],
        "it is truncated: its compressed data end early",
    ),
    "first byte flipped": (
        lambda raw, tmp: _flipped(raw, 0),
        "it is not zlib-compressed, as scikit-learn writes its cache",
    ),
    "header check byte flipped": (
        lambda raw, tmp: _flipped(raw, 1),
        "its compressed data are damaged (zlib: Error -3 while decompressing data: "
        "incorrect header check)",
    ),
    "checksum flipped": (
        lambda raw, tmp: _flipped(raw, len(raw) - 1),
        "its compressed data are damaged (zlib: Error -3 while decompressing data: "
        "incorrect data check)",
    ),
    "trailing bytes": (
        lambda raw, tmp: raw + b"\x00",
        "it has bytes after the end of its compressed data",
    ),
    "uncompressed joblib file": (
        lambda raw, tmp: _dumped(np.zeros(3), tmp, compress=0),
        "it is not zlib-compressed, as scikit-learn writes its cache",
    ),
    "not a pickle": (
        lambda raw, tmp: zlib.compress(b"not a pickle"),
        "it is not a pickle, or a damaged one (unknown opcode 0x6e)",
    ),
    "pickle cut short": (
        lambda raw, tmp: zlib.compress(zlib.decompress(raw)[:100]),
        "its pickle ends early",
    ),
    "array bytes cut short": (
        lambda raw, tmp: zlib.compress(zlib.decompress(raw)[:-1000]),
        "its array data end early (1,485,081 of 1,486,080 bytes)",
    ),
    "bytes after the pickle": (
        lambda raw, tmp: zlib.compress(zlib.decompress(raw) + b"."),
        "it has bytes after the end of its pickle",
    ),
    "decompression bomb": (
        lambda raw, tmp: zlib.compress(b"\x00" * (datacache.MAX_DECOMPRESSED_BYTES + 1)),
        "it decompresses to more than 16,777,216 bytes, far more than a cached data set of ours",
    ),
    "file larger than any cache": (
        lambda raw, tmp: b"\x78" + b"\x00" * datacache.MAX_DECOMPRESSED_BYTES,
        "it is larger than 16,777,216 bytes",
    ),
    "a dict of other arrays": (
        lambda raw, tmp: _dumped({"a": np.arange(5.0)}, tmp),
        "it holds a dict, not the float64 table of shape (20640, 9)",
    ),
    "an array of another shape": (
        lambda raw, tmp: _dumped(np.zeros((3, 4)), tmp),
        "it holds a float64 array of shape (3, 4), not the float64 table of shape (20640, 9)",
    ),
    "the table as float32": (
        lambda raw, tmp: _dumped(joblib.load(io.BytesIO(raw)).astype(np.float32), tmp),
        "it holds a float32 array of shape (20640, 9), not the float64 table of shape (20640, 9)",
    ),
    "the table with one value changed": (
        lambda raw, tmp: _dumped(joblib.load(io.BytesIO(raw)) + np.eye(20640, 9), tmp),
        "its table differs from the published California Housing data (sha256 mismatch)",
    ),
}


@pytest.mark.parametrize("case", BAD_CACHES)
def test_bad_cache_is_refused_with_one_message(real_cache, tmp_path, case):
    make, problem = BAD_CACHES[case]
    home = _home_with(tmp_path, make(real_cache, tmp_path))
    with pytest.raises(errors.DataCacheError) as raised:
        data.load_housing(home)
    assert str(raised.value) == _refusal(home, problem)


def test_a_folder_in_place_of_the_cache_file_is_refused(tmp_path):
    (tmp_path / data.CACHE_FILE).mkdir()
    with pytest.raises(errors.DataCacheError) as raised:
        data.load_housing(tmp_path)
    assert str(raised.value) == _refusal(tmp_path, "it cannot be read (Is a directory)")


def test_refusal_names_the_variable_it_came_through(real_cache, tmp_path, monkeypatch):
    home = _home_with(tmp_path, real_cache[:1000])
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(home))
    with pytest.raises(errors.DataCacheError) as raised:
        data.load_housing()
    assert str(raised.value) == (
        f"The California Housing cache {home / data.CACHE_FILE} (found through "
        f"SCIKIT_LEARN_DATA) is unusable: it is truncated: its compressed data end early. "
        f"{WHAT_TO_DO}"
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(position=st.floats(0, 1, exclude_max=True))
def test_any_flipped_byte_is_refused_or_changes_nothing(real_cache, real_table, position):
    damaged = _flipped(real_cache, int(position * len(real_cache)))
    try:
        loaded = datacache.load_joblib_arrays(damaged)
    except errors.CacheFormatError:
        return
    assert np.array_equal(loaded, real_table)


@settings(max_examples=200, deadline=None)
@given(content=st.binary(max_size=300), compress=st.booleans())
def test_arbitrary_bytes_load_or_raise_only_cache_format_error(content, compress):
    try:
        datacache.load_joblib_arrays(zlib.compress(content) if compress else content)
    except errors.CacheFormatError as error:
        assert "\n" not in str(error)


# Hostile pickles never run


def test_hostile_cache_written_by_joblib_never_runs(tmp_path):
    marker = tmp_path / "ran"
    home = _home_with(tmp_path, _dumped([np.zeros(3), Hostile(marker)], tmp_path))
    with pytest.raises(errors.DataCacheError) as raised:
        data.load_housing(home)
    assert not marker.exists()
    problem = (
        f"its pickle asks for the Python global {os.system.__module__}.system, and a data "
        "cache holds only numpy arrays: refused without running it"
    )
    assert str(raised.value) == _refusal(home, problem)


def test_marker_command_does_run_under_plain_joblib_load(tmp_path):
    """The hostile file above is real: joblib.load runs it (so the test above can fail)."""
    marker = tmp_path / "ran"
    path = tmp_path / "hostile.pkz"
    path.write_bytes(_dumped(Hostile(marker), tmp_path))
    joblib.load(path)
    assert marker.exists()


@pytest.mark.parametrize(
    ("pickle_text", "problem"),
    [
        (b"cos\nsystem\n(S'touch {marker}'\ntR.", "asks for the Python global os.system,"),
        (b'cbuiltins\neval\n(S\'open("{marker}", "w")\'\ntR.', "global builtins.eval,"),
        (b"cnumpy\nmemmap\n(S'{marker}'\nS'w+'\nI1\ntR.", "global numpy.memmap,"),
        (b"(S'touch {marker}'\nios\nsystem\n.", "creates objects in a way joblib never uses"),
        (b"cnumpy\nndarray\n((I3\ntS'f8'\ntR.", "calls ndarray in a way joblib never uses"),
        (b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00f8\x85\x81.", "calls dtype in a way"),
    ],
    ids=["reduce", "eval", "numpy-file-write", "inst", "ndarray-call", "dtype-newobj"],
)
def test_hand_written_hostile_pickles_never_run(tmp_path, pickle_text, problem):
    marker = tmp_path / "ran"
    content = zlib.compress(pickle_text.replace(b"{marker}", str(marker).encode()))
    with pytest.raises(errors.CacheFormatError, match=re.escape(problem)):
        datacache.load_joblib_arrays(content)
    assert not marker.exists()


def test_object_array_is_refused_before_its_nested_pickle_is_read(tmp_path):
    marker = tmp_path / "ran"
    content = _dumped(np.array([Hostile(marker)], dtype=object), tmp_path)
    with pytest.raises(errors.CacheFormatError) as raised:
        datacache.load_joblib_arrays(content)
    assert str(raised.value) == "its array header has the dtype dtype('O'), not a number type"
    assert not marker.exists()


@pytest.mark.parametrize(
    ("attributes", "problem"),
    [
        (
            {"subclass": np.ndarray, "shape": (10**9, 9), "order": "C", "dtype": np.dtype("f8")},
            "its array header announces an array of shape (1000000000, 9), too big",
        ),
        (
            {"subclass": np.ndarray, "shape": (3,), "order": "C", "dtype": np.dtype("f8"), "x": 1},
            "its array header has the attributes ['dtype', 'order', 'shape', 'subclass', 'x']",
        ),
        (
            {"subclass": np.ndarray, "shape": (-1,), "order": "C", "dtype": np.dtype("f8")},
            "its array header has the shape (-1,)",
        ),
        (
            {"subclass": np.ndarray, "shape": (3,), "order": "K", "dtype": np.dtype("f8")},
            "its array header has the order 'K'",
        ),
        (
            {"subclass": np.ndarray, "shape": (3,), "order": "C", "dtype": "f8"},
            "its array header has the dtype 'f8', not a number type",
        ),
        (
            {"subclass": np.dtype, "shape": (3,), "order": "C", "dtype": np.dtype("f8")},
            "its array header names a class other than numpy.ndarray",
        ),
        (
            {
                "subclass": np.ndarray,
                "shape": (3,),
                "order": "C",
                "dtype": np.dtype("f8"),
                "numpy_array_alignment_bytes": 16,
            },
            "its array data end early",
        ),
    ],
    ids=["huge", "extra-attribute", "negative", "order", "dtype-string", "subclass", "no-data"],
)
def test_array_header_is_checked_before_any_byte_is_read(attributes, problem):
    with pytest.raises(errors.CacheFormatError) as raised:
        datacache.load_joblib_arrays(_wrapper_stream(b"", **attributes))
    assert str(raised.value) == problem


def test_state_is_set_only_on_array_headers_and_dtypes():
    list_given_a_state = zlib.compress(b"]}b.")  # EMPTY_LIST EMPTY_DICT BUILD STOP
    with pytest.raises(errors.CacheFormatError) as raised:
        datacache.load_joblib_arrays(list_given_a_state)
    assert (
        str(raised.value) == "its pickle sets the state of a list, which a data cache does not hold"
    )


# Where the cache folder comes from


def test_empty_variable_is_refused_not_read_as_the_current_folder(monkeypatch):
    monkeypatch.setenv("SCIKIT_LEARN_DATA", "")
    with pytest.raises(errors.DataUnavailableError) as raised:
        data.load_housing()
    assert str(raised.value) == (
        "SCIKIT_LEARN_DATA is set but empty, so there is no folder to find cal_housing_py3.pkz "
        "in: point SCIKIT_LEARN_DATA at a folder holding cal_housing_py3.pkz, or unset it to "
        "use ~/scikit_learn_data"
    )


def test_variable_naming_a_file_is_refused(tmp_path, monkeypatch):
    a_file = tmp_path / "cal_housing_py3.pkz"
    a_file.write_bytes(b"")
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(a_file))
    with pytest.raises(errors.DataUnavailableError) as raised:
        data.load_housing()
    assert str(raised.value) == (
        f"SCIKIT_LEARN_DATA names {a_file}, which is a file, not a folder: point "
        "SCIKIT_LEARN_DATA at the folder holding cal_housing_py3.pkz"
    )


def test_variable_naming_a_folder_inside_a_file_is_refused(tmp_path, monkeypatch):
    home = tmp_path / "a_file" / "data"
    (tmp_path / "a_file").write_bytes(b"")
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(home))
    with pytest.raises(errors.DataUnavailableError) as raised:
        data.load_housing()
    assert str(raised.value) == (
        f"The California Housing data are not available: {home / data.CACHE_FILE} does not "
        f"exist (the folder comes from SCIKIT_LEARN_DATA) and downloading it failed ([Errno 20] "
        f"Not a directory: '{home}'). Either connect to the internet, or set SCIKIT_LEARN_DATA "
        "to a folder that holds scikit-learn's cache file cal_housing_py3.pkz, e.g. export "
        "SCIKIT_LEARN_DATA=/path/to/scikit_learn_data"
    )


# A missing cache is downloaded by scikit-learn, then read the safe way


def test_missing_cache_is_downloaded_into_a_fresh_folder_then_moved_into_place(
    real_cache, tmp_path, monkeypatch
):
    home = tmp_path / "home"
    calls = []

    def download(*, data_home, **options):
        fresh = Path(data_home)
        calls.append((fresh.parent, list(fresh.iterdir())))
        (fresh / data.CACHE_FILE).write_bytes(real_cache)

    monkeypatch.setattr(data, "fetch_california_housing", download)
    frame = data.load_housing(home)
    assert frame.shape == (20640, 9)
    assert calls == [(home, [])]
    assert [p.name for p in home.iterdir()] == [data.CACHE_FILE]
    assert (home / data.CACHE_FILE).read_bytes() == real_cache


def test_interrupted_download_leaves_no_partial_cache(real_cache, tmp_path, monkeypatch):
    home = tmp_path / "home"

    def download(*, data_home, **options):
        (Path(data_home) / data.CACHE_FILE).write_bytes(real_cache[:1000])
        raise KeyboardInterrupt

    monkeypatch.setattr(data, "fetch_california_housing", download)
    with pytest.raises(KeyboardInterrupt):
        data.load_housing(home)
    assert list(home.iterdir()) == []


def test_downloaded_hostile_cache_is_refused_too(tmp_path, monkeypatch):
    home = tmp_path / "home"
    marker = tmp_path / "ran"
    hostile = _dumped(Hostile(marker), tmp_path)

    def download(*, data_home, **options):
        (Path(data_home) / data.CACHE_FILE).write_bytes(hostile)

    monkeypatch.setattr(data, "fetch_california_housing", download)
    with pytest.raises(errors.DataCacheError, match="refused without running it"):
        data.load_housing(home)
    assert not marker.exists()


# How the message reaches a user: through notebook 01


def _targets(tmp_path: Path) -> list[str]:
    return ["--artifacts-dir", str(tmp_path / "a"), "--reports-dir", str(tmp_path / "r")]


def _hostile_home(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "ran"
    return _home_with(tmp_path, _dumped(Hostile(marker), tmp_path)), marker


@pytest.mark.slow
@pytest.mark.parametrize("case", ["hostile", "truncated", "empty variable"])
def test_cli_run_gives_one_line_and_exit_1_for_a_bad_cache(real_cache, tmp_path, case):
    marker = tmp_path / "ran"
    if case == "hostile":
        home, problem = _hostile_home(tmp_path)[0], "refused without running it."
    elif case == "truncated":
        home = _home_with(tmp_path, real_cache[:5000])
        problem = "it is truncated: its compressed data end early."
    else:
        home, problem = "", "SCIKIT_LEARN_DATA is set but empty"
    result = subprocess.run(
        [sys.executable, "-m", "calhousing", "run", "--no-progress", *_targets(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "SCIKIT_LEARN_DATA": str(home)},
        timeout=300,
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "calhousing run: error:" in line]
    assert len(errors) == 1
    assert re.search(
        r"notebook 01_train\.ipynb failed in cell \d+ \(.*\): Data\w+Error: ", errors[0]
    )
    assert problem in errors[0] and "SCIKIT_LEARN_DATA" in errors[0]
    assert "Traceback" not in result.stderr
    assert not marker.exists()


@pytest.mark.slow
def test_train_notebook_alone_refuses_a_hostile_cache(tmp_path, monkeypatch):
    home, marker = _hostile_home(tmp_path)
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(home))
    with pytest.raises(papermill.PapermillExecutionError) as raised:
        papermill.execute_notebook(
            str(NOTEBOOKS / "01_train.ipynb"),
            str(tmp_path / "out.ipynb"),
            parameters={"artifacts_dir": str(tmp_path / "a")},
            progress_bar=False,
        )
    assert raised.value.ename == "DataCacheError"
    assert raised.value.evalue == (
        f"The California Housing cache {home / data.CACHE_FILE} (found through "
        "SCIKIT_LEARN_DATA) is unusable: its pickle asks for the Python global "
        f"{os.system.__module__}.system, and a data cache holds only numpy arrays: refused "
        f"without running it. {WHAT_TO_DO}"
    )
    assert not marker.exists()
