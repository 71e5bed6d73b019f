"""Loading and splitting the California Housing data from scikit-learn's cache file, read
without running any code it may carry (docs/data.md)."""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import fetch_california_housing
from sklearn.model_selection import train_test_split

from calhousing.core import datacache
from calhousing.errors import CacheFormatError, DataCacheError, DataUnavailableError
from calhousing.params import DATA_ROWS, check_random_state, check_test_size

FEATURE_NAMES: tuple[str, ...] = tuple(
    "MedInc HouseAge AveRooms AveBedrms Population AveOccup Latitude Longitude".split()
)
TARGET_NAME = "MedHouseVal"
CACHE_FILE = "cal_housing_py3.pkz"
TABLE_SHAPE: tuple[int, int] = (DATA_ROWS, 9)
# sha256 of the table scikit-learn caches from cal_housing.tgz; joblib versions write the
# cache with different bytes, the table stays the same.
PUBLISHED_TABLE_SHA256 = "898f39f9b96274ded9a9f5a3b1b9f1dc032ab86955ac0f86b1c17330ba30cb25"
_DOWNLOAD_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class Split:
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series


def load_housing(data_home: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """``fetch_california_housing(as_frame=True).frame``, from a cache (in `data_home`, else
    ``SCIKIT_LEARN_DATA``, else ``~/scikit_learn_data``) read by :mod:`~.datacache` and holding
    :data:`PUBLISHED_TABLE_SHA256`, else ``DataCacheError``. A missing cache is downloaded into
    a fresh folder and moved into place whole, or ``DataUnavailableError``."""
    home, source = _data_home(data_home)
    cache = home / CACHE_FILE
    if not cache.exists():
        _download(home, source)
    return housing_frame(_checked_table(cache, source))


def housing_frame(table: np.ndarray) -> pd.DataFrame:
    """The frame ``fetch_california_housing`` derives, with the same operations, from its
    cached table (the value in dollars, then the 8 raw columns)."""
    features = np.array(table[:, 1:], dtype=np.float64)
    features[:, 2] /= features[:, 5]  # rooms per household
    features[:, 3] /= features[:, 5]  # bedrooms per household
    features[:, 5] = features[:, 4] / features[:, 5]  # people per household
    frame = pd.DataFrame(features, columns=list(FEATURE_NAMES))
    frame[TARGET_NAME] = table[:, 0] / 100000.0
    return frame


def table_sha256(table: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(table, dtype="<f8").tobytes()).hexdigest()


def split_data(frame: pd.DataFrame, test_size: float = 0.2, random_state: int = 42) -> Split:
    check_test_size(test_size)
    check_random_state(random_state)
    features, target = frame[list(FEATURE_NAMES)], frame[TARGET_NAME]
    return Split(
        *train_test_split(features, target, test_size=test_size, random_state=random_state)
    )


def load_split(
    test_size: float = 0.2, random_state: int = 42, data_home: str | os.PathLike[str] | None = None
) -> Split:
    """:func:`load_housing` then :func:`split_data`, with the arguments checked first."""
    check_test_size(test_size)
    check_random_state(random_state)
    return split_data(load_housing(data_home), test_size, random_state)


def training_data_digest(split: Split) -> str:
    digest = hashlib.sha256()
    for array in (split.X_train.to_numpy(), split.y_train.to_numpy()):
        contiguous = np.ascontiguousarray(array)
        digest.update(f"{contiguous.dtype.str}{contiguous.shape}".encode())
        digest.update(contiguous.tobytes())
    return digest.hexdigest()


def _data_home(data_home: str | os.PathLike[str] | None) -> tuple[Path, str]:
    """The cache folder and how it was chosen, refusing what cannot be a folder."""
    if data_home is not None:
        source = "data_home"
    elif "SCIKIT_LEARN_DATA" in os.environ:
        source, data_home = "SCIKIT_LEARN_DATA", os.environ["SCIKIT_LEARN_DATA"]
    else:
        source, data_home = "the default ~/scikit_learn_data", Path("~", "scikit_learn_data")
    if not os.fspath(data_home).strip():
        raise DataUnavailableError(
            f"{source} is set but empty, so there is no folder to find {CACHE_FILE} in: "
            f"point SCIKIT_LEARN_DATA at a folder holding {CACHE_FILE}, or unset it to use "
            "~/scikit_learn_data"
        )
    home = Path(data_home).expanduser()
    if home.exists() and not home.is_dir():
        raise DataUnavailableError(
            f"{source} names {home}, which is a file, not a folder: point SCIKIT_LEARN_DATA "
            f"at the folder holding {CACHE_FILE}"
        )
    return home, source


def _download(home: Path, source: str) -> None:
    """Let scikit-learn download the cache into a fresh folder, then move it into `home`."""
    timeout = socket.getdefaulttimeout()
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".calhousing-download-", dir=home) as fresh:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # scikit-learn's "Retry downloading"
                socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_SECONDS)  # scikit-learn sets none
                fetch_california_housing(data_home=fresh, n_retries=1, delay=0.1)
            os.replace(Path(fresh) / CACHE_FILE, home / CACHE_FILE)
    except OSError as error:
        raise DataUnavailableError(
            f"The California Housing data are not available: {home / CACHE_FILE} does not "
            f"exist (the folder comes from {source}) and downloading it failed ({error}). "
            f"Either connect to the internet, or set SCIKIT_LEARN_DATA to a folder that holds "
            f"scikit-learn's cache file {CACHE_FILE}, e.g. export "
            f"SCIKIT_LEARN_DATA=/path/to/scikit_learn_data"
        ) from None
    finally:
        socket.setdefaulttimeout(timeout)


def _checked_table(cache: Path, source: str) -> np.ndarray:
    try:
        with cache.open("rb") as file:
            raw = file.read(datacache.MAX_DECOMPRESSED_BYTES + 1)
        if len(raw) > datacache.MAX_DECOMPRESSED_BYTES:
            raise CacheFormatError(f"it is larger than {datacache.MAX_DECOMPRESSED_BYTES:,} bytes")
        table = datacache.load_joblib_arrays(raw)
        array = isinstance(table, np.ndarray)
        if not array or table.dtype != np.float64 or table.shape != TABLE_SHAPE:
            held = f"{table.dtype} array of shape {table.shape}" if array else type(table).__name__
            raise CacheFormatError(
                f"it holds a {held}, not the float64 table of shape {TABLE_SHAPE}"
            )
        if table_sha256(table) != PUBLISHED_TABLE_SHA256:
            raise CacheFormatError(
                "its table differs from the published California Housing data (sha256 mismatch)"
            )
        return table
    except OSError as error:
        problem = f"it cannot be read ({error.strerror or error})"
    except CacheFormatError as error:
        problem = str(error)
    raise DataCacheError(
        f"The California Housing cache {cache} (found through {source}) is unusable: "
        f"{problem}. Delete it so scikit-learn downloads it again, or point SCIKIT_LEARN_DATA "
        f"at a folder holding a good copy of {CACHE_FILE}"
    )
