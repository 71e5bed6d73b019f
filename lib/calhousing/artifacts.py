"""Saving and loading what the notebooks hand each other.

Everything but the fitted estimator travels as JSON or CSV, so a reader never has
to unpickle anything to use the numbers. Every file is written to a temporary
name and renamed into place, so an interrupted write never leaves half a file,
and recorded in ``manifest.json``; every loader checks the file against the
manifest before reading it (see :mod:`calhousing.manifest`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from calhousing import manifest
from calhousing.integer_inference import (
    IntegerModel,
    integer_model_from_dict,
    integer_model_to_dict,
)
from calhousing.linear import LinearParams
from calhousing.quantization import QuantizedModel, QuantizedTensor

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.linear_model import LinearRegression

MODEL_FILE = "model.joblib"
FLOAT_PARAMS_FILE = "float_params.json"
METRICS_FILE = "metrics.json"
SPLIT_FILE = "split.json"
QUANTIZED_PARAMS_FILE = "quantized_params.json"
PREDICTIONS_FILE = "prediction_comparison.csv"
COMPARISON_FILE = "comparison.json"
INTEGER_MODEL_FILE = "integer_model.json"
SWEEP_FILE = "sweep.csv"
FEATURE_RANGES_FILE = "feature_ranges.json"
MANIFEST_FILE = manifest.MANIFEST_FILE
ARTIFACT_FILES: tuple[str, ...] = (
    MODEL_FILE,
    FLOAT_PARAMS_FILE,
    METRICS_FILE,
    SPLIT_FILE,
    QUANTIZED_PARAMS_FILE,
    PREDICTIONS_FILE,
    COMPARISON_FILE,
    INTEGER_MODEL_FILE,
    SWEEP_FILE,
    FEATURE_RANGES_FILE,
    MANIFEST_FILE,
)

PathLike = str | os.PathLike[str]


class ArtifactError(FileNotFoundError):
    """An artifact a step needs is missing or unreadable."""


def project_root() -> Path:
    """The checkout of an editable install, else the working directory."""
    candidate = Path(__file__).resolve().parents[2]
    return candidate if (candidate / "pyproject.toml").is_file() else Path.cwd()


def resolve_dir(path: PathLike | None, default_name: str) -> Path:
    """An absolute folder: `path` as given, else the default for `default_name`.

    For ``None`` or ``""`` the default is ``$CALHOUSING_<DEFAULT_NAME>_DIR`` when that
    is set (``make test`` points it at a temporary folder, so testing never touches
    your results), else ``<project root>/<default_name>``.
    """
    if path is None or str(path) == "":
        override = os.environ.get(f"CALHOUSING_{default_name.upper()}_DIR")
        path = override if override else project_root() / default_name
    return Path(path).expanduser().resolve()


def require_artifacts(artifacts_dir: PathLike | None, *names: str) -> Path:
    """Check that `artifacts_dir` exists and holds `names`, as the manifest records them.

    Call it before reading or writing anything: it reads no file but the manifest.

    Raises
    ------
    ArtifactError
        Naming the parameter, the folder and the missing files, and saying which
        step produces them.
    calhousing.manifest.ManifestError
        When a file differs from the manifest (changed, truncated, not listed).
    """
    folder = resolve_dir(artifacts_dir, "artifacts")
    if not folder.is_dir():
        raise ArtifactError(
            f"artifacts_dir {str(folder)!r} does not exist: run notebooks/01_train.ipynb "
            "(or `calhousing run`) first, or pass the artifacts_dir it wrote to"
        )
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise ArtifactError(
            f"artifacts_dir {str(folder)!r} lacks {', '.join(missing)}: run the earlier "
            "notebooks (01_train, then 02_quantize) with this artifacts_dir first"
        )
    if names:
        manifest.verify_files(read_manifest(folder), folder, list(names))
    return folder


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest, or ``None`` when there is none."""
    path = folder / MANIFEST_FILE
    return read_json(path) if path.is_file() else None


def record(
    folder: Path,
    names: list[str],
    parameters: dict[str, Any] | None = None,
    fresh: dict[str, Any] | None = None,
) -> None:
    """Add the named files (and any `parameters`) to the folder's manifest.

    `fresh` starts a new manifest from the given entries instead of extending
    the existing one.
    """
    current = fresh if fresh is not None else (read_manifest(folder) or {})
    if parameters:
        current = {**current, "parameters": {**current.get("parameters", {}), **parameters}}
    write_json(folder / MANIFEST_FILE, manifest.record_files(current, folder, names))


def save_training(
    artifacts_dir: PathLike | None,
    model: LinearRegression,
    params: LinearParams,
    metrics: dict[str, dict[str, float]],
    split_settings: dict[str, Any],
    data_sha256: str,
) -> Path:
    """Write the estimator, its float parameters, its metrics and the split settings.

    This starts a new manifest: files of an earlier training left in the folder
    are no longer listed, so they are refused until the later steps run again.
    """
    folder = resolve_dir(artifacts_dir, "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    import joblib  # only here and in load_model: readers of the JSON files never need it

    _write_atomic(folder / MODEL_FILE, lambda path: joblib.dump(model, path))
    write_json(folder / FLOAT_PARAMS_FILE, params_to_dict(params))
    write_json(folder / METRICS_FILE, metrics)
    write_json(folder / SPLIT_FILE, split_settings)
    fresh = {
        "parameters": dict(split_settings),
        "training_data_sha256": data_sha256,
        **manifest.environment(),
    }
    record(folder, [MODEL_FILE, FLOAT_PARAMS_FILE, METRICS_FILE, SPLIT_FILE], fresh=fresh)
    return folder


def load_model(artifacts_dir: PathLike | None) -> LinearRegression:
    """The fitted estimator, unpickled only after its sha256 matched the manifest."""
    folder = require_artifacts(artifacts_dir, MODEL_FILE)
    import joblib

    return joblib.load(folder / MODEL_FILE)


def load_float_params(artifacts_dir: PathLike | None) -> LinearParams:
    """The float parameters written by 01_train."""
    folder = require_artifacts(artifacts_dir, FLOAT_PARAMS_FILE)
    return params_from_dict(read_json(folder / FLOAT_PARAMS_FILE))


def save_feature_ranges(artifacts_dir: PathLike | None, X_train: pd.DataFrame) -> Path:
    """Write the training data's min and max of each feature to ``feature_ranges.json``."""
    folder = require_artifacts(artifacts_dir, FLOAT_PARAMS_FILE)
    ranges = {
        str(name): [float(X_train[name].min()), float(X_train[name].max())]
        for name in X_train.columns
    }
    write_json(folder / FEATURE_RANGES_FILE, ranges)
    record(folder, [FEATURE_RANGES_FILE])
    return folder / FEATURE_RANGES_FILE


def load_feature_ranges(artifacts_dir: PathLike | None) -> dict[str, tuple[float, float]]:
    """The training data's ``(min, max)`` of each feature, from ``feature_ranges.json``."""
    folder = require_artifacts(artifacts_dir, FEATURE_RANGES_FILE)
    ranges = read_json(folder / FEATURE_RANGES_FILE)
    return {name: (float(low), float(high)) for name, (low, high) in ranges.items()}


def load_split_settings(artifacts_dir: PathLike | None) -> dict[str, Any]:
    """``test_size`` and ``random_state`` that 01_train split the data with."""
    folder = require_artifacts(artifacts_dir, SPLIT_FILE)
    return read_json(folder / SPLIT_FILE)


def save_quantized(artifacts_dir: PathLike | None, quantized: QuantizedModel) -> Path:
    """Write the codes, scales and zero points with their dequantized values."""
    folder = require_artifacts(artifacts_dir, FLOAT_PARAMS_FILE)
    write_json(folder / QUANTIZED_PARAMS_FILE, quantized_to_dict(quantized))
    choices = {
        "bits": quantized.coef.bits,
        "scheme": quantized.coef.scheme,
        "granularity": quantized.coef.granularity,
        "space": quantized.space,
        "rounding": quantized.rounding,
    }
    record(folder, [QUANTIZED_PARAMS_FILE], parameters=choices)
    return folder / QUANTIZED_PARAMS_FILE


def load_quantized(artifacts_dir: PathLike | None) -> QuantizedModel:
    """The quantized model written by 02_quantize."""
    folder = require_artifacts(artifacts_dir, QUANTIZED_PARAMS_FILE)
    return quantized_from_dict(read_json(folder / QUANTIZED_PARAMS_FILE))


def save_integer_model(artifacts_dir: PathLike | None, model: IntegerModel) -> Path:
    """Write the integer-only model (``integer_model.json``) beside the float one."""
    folder = require_artifacts(artifacts_dir, FLOAT_PARAMS_FILE)
    write_json(folder / INTEGER_MODEL_FILE, integer_model_to_dict(model))
    record(folder, [INTEGER_MODEL_FILE])
    return folder / INTEGER_MODEL_FILE


def load_integer_model(artifacts_dir: PathLike | None) -> IntegerModel:
    """The integer-only model written by 02_quantize, for ``predict_integer``."""
    folder = require_artifacts(artifacts_dir, INTEGER_MODEL_FILE)
    return integer_model_from_dict(read_json(folder / INTEGER_MODEL_FILE))


def save_sweep(artifacts_dir: PathLike | None, table: pd.DataFrame) -> Path:
    """Write the bit-width sweep (``sweep.csv``), floats with every digit."""
    folder = require_artifacts(artifacts_dir, FLOAT_PARAMS_FILE)
    _write_atomic(
        folder / SWEEP_FILE, lambda path: table.to_csv(path, index=False, float_format="%.17g")
    )
    record(folder, [SWEEP_FILE])
    return folder / SWEEP_FILE


def load_sweep(artifacts_dir: PathLike | None) -> pd.DataFrame:
    """The sweep table written by 04_sweep."""
    import pandas as pd

    folder = require_artifacts(artifacts_dir, SWEEP_FILE)
    return pd.read_csv(folder / SWEEP_FILE)


def save_comparison(
    artifacts_dir: PathLike | None, predictions: pd.DataFrame, summary: dict[str, Any]
) -> None:
    """Write every test row's predictions (CSV) and the summary (``comparison.json``)."""
    folder = require_artifacts(artifacts_dir, QUANTIZED_PARAMS_FILE)
    _write_atomic(
        folder / PREDICTIONS_FILE,
        lambda path: predictions.to_csv(path, index=False, float_format="%.17g"),
    )
    write_json(folder / COMPARISON_FILE, summary)
    record(folder, [PREDICTIONS_FILE, COMPARISON_FILE])


def load_comparison(
    artifacts_dir: PathLike | None, n_rows: int | None = None
) -> tuple[dict[str, Any], pd.DataFrame]:
    import pandas as pd

    """``comparison.json`` and the first `n_rows` (all for ``None``) of the predictions CSV."""
    folder = require_artifacts(artifacts_dir, COMPARISON_FILE, PREDICTIONS_FILE)
    predictions = pd.read_csv(folder / PREDICTIONS_FILE, nrows=n_rows)
    return read_json(folder / COMPARISON_FILE), predictions


def file_sizes(artifacts_dir: PathLike | None, names: Iterable[str]) -> pd.DataFrame:
    """Bytes on disk of each named artifact that exists."""
    import pandas as pd

    folder = require_artifacts(artifacts_dir)
    sizes = {name: (folder / name).stat().st_size for name in names if (folder / name).is_file()}
    return pd.DataFrame({"bytes_on_disk": pd.Series(sizes, dtype="int64")}).rename_axis("file")


def params_to_dict(params: LinearParams) -> dict[str, Any]:
    return {
        "feature_names": list(params.feature_names),
        "coef": [float(value) for value in params.coef],
        "intercept": float(params.intercept),
    }


def params_from_dict(data: dict[str, Any]) -> LinearParams:
    return LinearParams(
        coef=np.asarray(data["coef"], dtype=np.float64),
        intercept=float(data["intercept"]),
        feature_names=tuple(data["feature_names"]),
    )


def quantized_to_dict(quantized: QuantizedModel) -> dict[str, Any]:
    dequantized = quantized.dequantized_params()
    statistics = {}
    if quantized.feature_mean is not None and quantized.feature_std is not None:
        statistics = {
            "feature_mean": quantized.feature_mean.tolist(),
            "feature_std": quantized.feature_std.tolist(),
        }
    return {
        "feature_names": list(quantized.feature_names),
        "space": quantized.space,
        "rounding": quantized.rounding,
        **statistics,
        "coef": _tensor_to_dict(quantized.coef),
        "intercept": _tensor_to_dict(quantized.intercept),
        "dequantized": {
            "coef": [float(value) for value in dequantized.coef],
            "intercept": dequantized.intercept,
        },
    }


def quantized_from_dict(data: dict[str, Any]) -> QuantizedModel:
    return QuantizedModel(
        coef=_tensor_from_dict(data["coef"]),
        intercept=_tensor_from_dict(data["intercept"]),
        feature_names=tuple(data["feature_names"]),
        space=str(data.get("space", "raw")),
        rounding=str(data.get("rounding", "nearest")),
        feature_mean=_optional_array(data.get("feature_mean")),
        feature_std=_optional_array(data.get("feature_std")),
    )


def write_json(path: Path, data: Any) -> None:
    """Write `data` as indented JSON, atomically; floats keep every digit."""
    text = _json_text(data)
    _write_atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def json_bytes(data: Any) -> int:
    """The exact size in bytes of the file :func:`write_json` writes for `data`."""
    return len(_json_text(data).encode("utf-8"))


def _json_text(data: Any) -> str:
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


def _optional_array(values: list[float] | None) -> np.ndarray | None:
    return None if values is None else np.asarray(values, dtype=np.float64)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ArtifactError(f"cannot read artifact {str(path)!r}: {error}") from None


def _tensor_to_dict(tensor: QuantizedTensor) -> dict[str, Any]:
    return {
        "bits": tensor.bits,
        "scheme": tensor.scheme,
        "dtype": tensor.codes.dtype.name,
        "codes": tensor.codes.tolist(),
        "scale": tensor.scale.tolist(),
        "zero_point": tensor.zero_point.tolist(),
    }


def _tensor_from_dict(data: dict[str, Any]) -> QuantizedTensor:
    dtype = np.dtype(data["dtype"])
    return QuantizedTensor(
        codes=np.asarray(data["codes"], dtype=dtype),
        scale=np.asarray(data["scale"], dtype=np.float64),
        zero_point=np.asarray(data["zero_point"], dtype=dtype),
        bits=int(data["bits"]),
        scheme=str(data["scheme"]),
    )


def _write_atomic(path: Path, write: Callable[[str], object]) -> None:
    descriptor, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(descriptor)
    try:
        write(tmp)
        # mkstemp makes the file private (0600); give it the mode open() would have
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
