"""Loading and splitting the California Housing data.

The data come from scikit-learn's own loader, so a user with internet gets the
download and a user offline points ``SCIKIT_LEARN_DATA`` (or ``data_home``) at a
folder holding scikit-learn's cache file.
"""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.datasets import fetch_california_housing, get_data_home
from sklearn.model_selection import train_test_split

from calhousing.manifest import arrays_digest
from calhousing.params import check_random_state, check_test_size

FEATURE_NAMES: tuple[str, ...] = (
    "MedInc",
    "HouseAge",
    "AveRooms",
    "AveBedrms",
    "Population",
    "AveOccup",
    "Latitude",
    "Longitude",
)
TARGET_NAME = "MedHouseVal"
CACHE_FILE = "cal_housing_py3.pkz"
_DOWNLOAD_TIMEOUT_SECONDS = 20.0


class DataUnavailableError(RuntimeError):
    """The data set is neither cached locally nor downloadable."""


@dataclass(frozen=True)
class Split:
    """A train/test split of the features and the target."""

    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series


def load_housing(data_home: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Load California Housing as one frame: the 8 features and ``MedHouseVal``.

    Parameters
    ----------
    data_home : path-like, optional
        Folder holding scikit-learn's cache. ``None`` uses ``SCIKIT_LEARN_DATA``
        or ``~/scikit_learn_data``, as scikit-learn does.

    Returns
    -------
    pandas.DataFrame
        20,640 rows; the target is the median house value in $100k.

    Raises
    ------
    DataUnavailableError
        When the cache file is missing and the download fails.
    """
    home = Path(get_data_home(data_home))
    try:
        with warnings.catch_warnings(), _socket_timeout(_DOWNLOAD_TIMEOUT_SECONDS):
            warnings.simplefilter("ignore", UserWarning)  # scikit-learn's "Retry downloading"
            bunch = fetch_california_housing(
                data_home=str(home), as_frame=True, n_retries=1, delay=0.1
            )
    except OSError as error:
        raise DataUnavailableError(_unavailable_message(home, error)) from None
    return bunch.frame


def split_data(frame: pd.DataFrame, test_size: float = 0.2, random_state: int = 42) -> Split:
    """Split a frame from :func:`load_housing` into train and test parts.

    Uses :func:`sklearn.model_selection.train_test_split`, so the rows are the
    same as in any pipeline that calls it with the same arguments.
    """
    check_test_size(test_size)
    check_random_state(random_state)
    X_train, X_test, y_train, y_test = train_test_split(
        frame[list(FEATURE_NAMES)],
        frame[TARGET_NAME],
        test_size=test_size,
        random_state=random_state,
    )
    return Split(X_train, X_test, y_train, y_test)


def load_split(
    test_size: float = 0.2,
    random_state: int = 42,
    data_home: str | os.PathLike[str] | None = None,
) -> Split:
    """Load the data and split it: :func:`load_housing` then :func:`split_data`."""
    check_test_size(test_size)
    check_random_state(random_state)
    return split_data(load_housing(data_home), test_size, random_state)


def split_summary(split: Split) -> pd.DataFrame:
    """Rows per part, the number of features and the target's mean, in $100k."""
    return pd.DataFrame(
        {
            "rows": [len(split.y_train), len(split.y_test)],
            "features": [split.X_train.shape[1], split.X_test.shape[1]],
            "mean MedHouseVal ($100k)": [split.y_train.mean(), split.y_test.mean()],
        },
        index=pd.Index(["train", "test"], name="part"),
    )


def training_data_digest(split: Split) -> str:
    """sha256 of the training features and target, recorded as the model's lineage."""
    return arrays_digest(split.X_train.to_numpy(), split.y_train.to_numpy())


def _unavailable_message(home: Path, error: OSError) -> str:
    return (
        f"The California Housing data are not available: {home / CACHE_FILE} does not "
        f"exist and downloading it failed ({error}). Either connect to the internet, or "
        f"set SCIKIT_LEARN_DATA to a folder that holds scikit-learn's cache file "
        f"{CACHE_FILE}, e.g. export SCIKIT_LEARN_DATA=/path/to/scikit_learn_data"
    )


@contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Bound how long a stalled download may hang (scikit-learn sets no timeout)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)
