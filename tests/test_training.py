import pytest

from calhousing.core import evaluation, training


@pytest.fixture(scope="module")
def fitted(default_split):
    model = training.fit_linear_regression(default_split.X_train, default_split.y_train)
    return model, training.linear_params(model)


def test_reproduces_the_published_intercept(fitted):
    _, params = fitted
    assert params.intercept == pytest.approx(-37.02327770606391, abs=1e-9)


@pytest.mark.parametrize(
    ("split", "metric", "published"),
    [
        ("test", "r2", 0.5758),
        ("test", "mse", 0.5559),
        ("test", "mae", 0.5332),
        ("train", "r2", 0.6126),
        ("train", "mse", 0.5179),
        ("train", "mae", 0.5286),
    ],
)
def test_reproduces_the_published_metrics(fitted, default_split, split, metric, published):
    _, params = fitted
    metrics = evaluation.split_metrics(params, default_split)
    assert round(metrics[split][metric], 4) == published


def test_params_predict_like_the_estimator(fitted, default_split):
    from calhousing.core.inference import predict

    model, params = fitted
    expected = model.predict(default_split.X_test)
    assert predict(params, default_split.X_test) == pytest.approx(expected, abs=1e-12)


def test_params_keep_feature_names_in_order(fitted):
    _, params = fitted
    assert params.feature_names[0] == "MedInc"
    assert params.feature_names[-1] == "Longitude"


def test_metrics_frame_has_one_row_per_split():
    frame = training.metrics_frame(
        {"train": {"r2": 1.0, "mse": 0.0, "mae": 0.0}, "test": {"r2": 0.5, "mse": 1.0, "mae": 1.0}}
    )
    assert list(frame.index) == ["train", "test"]
    assert list(frame.columns) == ["R²", "MSE ($100k)²", "MAE ($100k)"]
    assert frame.loc["test", "R²"] == 0.5
