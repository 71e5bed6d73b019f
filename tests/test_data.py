import time

import pytest

from calhousing import errors
from calhousing.core import data
from calhousing.report import views


def test_frame_has_the_eight_named_features_and_the_target(housing):
    assert housing.shape == (20640, 9)
    assert list(housing.columns) == [*data.FEATURE_NAMES, data.TARGET_NAME]


def test_default_split_is_80_20(default_split):
    assert len(default_split.X_train) == 16512
    assert len(default_split.X_test) == 4128
    assert list(default_split.X_train.columns) == list(data.FEATURE_NAMES)


def test_split_is_reproducible_for_a_seed(housing):
    first = data.split_data(housing, 0.2, 7)
    second = data.split_data(housing, 0.2, 7)
    assert first.X_test.index.equals(second.X_test.index)


def test_empty_data_home_fails_fast_naming_the_variable_and_cache_file(tmp_path):
    started = time.monotonic()
    with pytest.raises(errors.DataUnavailableError) as raised:
        data.load_housing(data_home=tmp_path)
    message = str(raised.value)
    assert "SCIKIT_LEARN_DATA" in message
    assert "cal_housing_py3.pkz" in message
    assert str(tmp_path) in message
    assert time.monotonic() - started < 30


def test_scikit_learn_data_variable_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path))
    with pytest.raises(errors.DataUnavailableError, match=str(tmp_path)):
        data.load_housing()


@pytest.mark.parametrize("test_size", [0, 1, -0.1, 1.5, float("nan"), "0.2", True])
def test_bad_test_size_is_refused_before_loading(test_size):
    with pytest.raises(ValueError, match="test_size"):
        data.load_split(test_size=test_size, data_home="/nonexistent")


def test_summary_counts_rows_per_part(default_split):
    summary = views.split_summary(default_split)
    assert summary.loc["train", "rows"] == 16512
    assert summary.loc["test", "rows"] == 4128
