"""Saving and loading what the notebooks hand each other (``docs/run-state.md``): everything
but the fitted estimator travels as JSON or CSV, so no reader has to unpickle."""

from __future__ import annotations

import errno
import io
import json
import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calhousing.core import serialization
from calhousing.errors import ArtifactError, ManifestError, SchemaError
from calhousing.params import GRANULARITIES, MODELS, ROUNDINGS, SCHEMES, SPACES, check_parameters
from calhousing.run import manifest
from calhousing.run.schema import (
    NUMBER,
    SHA256,
    TEXT,
    Schema,
    integer,
    list_of,
    numbers,
    one_of,
    record,
    validate,
    validate_table,
)

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    from calhousing.core.data import Split
    from calhousing.core.integer_inference import IntegerModel
    from calhousing.core.linear import LinearParams
    from calhousing.core.quantization import QuantizedModel

MODEL_FILE = "model.joblib"
FLOAT_PARAMS_FILE = "float_params.json"
METRICS_FILE = "metrics.json"
SPLIT_FILE = "split.json"
FEATURE_RANGES_FILE = "feature_ranges.json"
QUANTIZED_PARAMS_FILE = "quantized_params.json"
PREDICTIONS_FILE = "prediction_comparison.csv"
COMPARISON_FILE = "comparison.json"
INTEGER_MODEL_FILE = "integer_model.json"
SWEEP_FILE = "sweep.csv"
CHOICE_FILE = "choice.json"
ONNX_FILES: dict[str, str] = {model: f"model-{model}.onnx" for model in MODELS}
# The artifact each model is read from (scoring) or built from (the ONNX export).
MODEL_FILES: dict[str, str] = {
    "float": FLOAT_PARAMS_FILE,
    "quantized": QUANTIZED_PARAMS_FILE,
    "integer": INTEGER_MODEL_FILE,
}
MANIFEST_FILE = manifest.MANIFEST_FILE

# Each notebook that writes artifacts: (the files it reads, the files it writes), the
# lineage the manifest records.
STEPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "01_train": (
        (),
        (MODEL_FILE, FLOAT_PARAMS_FILE, METRICS_FILE, SPLIT_FILE, FEATURE_RANGES_FILE),
    ),
    "02_quantize": ((FLOAT_PARAMS_FILE, SPLIT_FILE), (QUANTIZED_PARAMS_FILE, INTEGER_MODEL_FILE)),
    "03_compare": (
        (FLOAT_PARAMS_FILE, QUANTIZED_PARAMS_FILE, SPLIT_FILE),
        (PREDICTIONS_FILE, COMPARISON_FILE),
    ),
    "04_sweep": (
        (FLOAT_PARAMS_FILE, SPLIT_FILE, QUANTIZED_PARAMS_FILE, INTEGER_MODEL_FILE),
        (SWEEP_FILE, CHOICE_FILE),
    ),
    "06_deploy": (
        (*MODEL_FILES.values(), SPLIT_FILE, FEATURE_RANGES_FILE),
        tuple(ONNX_FILES.values()),
    ),
}
ARTIFACT_FILES = (*(name for _, outputs in STEPS.values() for name in outputs), MANIFEST_FILE)

_FEATURES = {"feature_names": list_of(TEXT, min_items=1)}
_PER_FEATURE = list_of(NUMBER, length_of="feature_names")
_METRICS = record(numbers("r2 mse mae"))
_SPLIT_METRICS = record({"train": _METRICS, "test": _METRICS})
_INTERVAL = record(numbers("estimate low high"))
_INTERVALS = record(
    {
        "resamples": integer(1),
        "seed": integer(0),
        "confidence": NUMBER,
        **{name: _INTERVAL for name in ("r2_loss", "mae_increase", "mse_increase")},
    }
)
_SLICE_MEASURES = numbers("float_mae quantized_mae mae_change mean_abs_pred_diff max_abs_pred_diff")
_SLICE = record({"slice": TEXT, "rows": integer(1), **_SLICE_MEASURES})
_CODES = {"bits": integer(2), "scheme": one_of(SCHEMES)}
_CONFIGURATION = {**_CODES, "space": one_of(SPACES), "rounding": one_of(ROUNDINGS)}
_TENSOR = record(
    {
        **_CODES,
        "dtype": TEXT,
        "codes": list_of(integer(), min_items=1),
        "scale": {"type": ["number", "array"], "minItems": 1, "items": NUMBER},
        "zero_point": {"type": ["integer", "array"], "minItems": 1, "items": integer()},
    }
)
# The shape of each artifact's content, checked on every read (a CSV's: its columns).
SCHEMAS: dict[str, Schema] = {
    FLOAT_PARAMS_FILE: record({**_FEATURES, "coef": _PER_FEATURE, "intercept": NUMBER}),
    METRICS_FILE: _SPLIT_METRICS,
    SPLIT_FILE: record(
        {
            "test_size": NUMBER,
            "random_state": integer(0),
            "rows": integer(1),
            "train_rows": list_of(integer(0), min_items=1),
            "test_rows": list_of(integer(0), min_items=1),
            "training_data_sha256": SHA256,
        }
    ),
    FEATURE_RANGES_FILE: record({**_FEATURES, "min": _PER_FEATURE, "max": _PER_FEATURE}),
    QUANTIZED_PARAMS_FILE: record(
        {
            **_FEATURES,
            "space": one_of(SPACES),
            "rounding": one_of(ROUNDINGS),
            "coef": _TENSOR,
            "intercept": _TENSOR,
            "dequantized": record({"coef": list_of(NUMBER), "intercept": NUMBER}),
        },
        {"feature_mean": _PER_FEATURE, "feature_std": _PER_FEATURE},
    ),
    INTEGER_MODEL_FILE: record(
        {
            **_FEATURES,
            "input_bits": integer(2),
            "input_offset": _PER_FEATURE,
            "input_scale": _PER_FEATURE,
            "bits": integer(2),
            "weight_dtype": TEXT,
            "weight_codes": list_of(integer(), length_of="feature_names"),
            "bias_code": integer(),
            "accumulator_scale": NUMBER,
            "accumulator_dtype": one_of(("int32", "int64")),
        }
    ),
    COMPARISON_FILE: record(
        {
            "float": _SPLIT_METRICS,
            "quantized": _SPLIT_METRICS,
            "max_abs_prediction_diff": NUMBER,
            "bits": integer(2),
            "intervals": _INTERVALS,
            "slices": list_of(_SLICE, min_items=1),
        }
    ),
    CHOICE_FILE: record(
        {
            "met": {"type": "boolean"},
            **_CONFIGURATION,
            "granularity": one_of(GRANULARITIES),
            "payload_bytes": integer(1),
            "float_payload_bytes": integer(1),
            **numbers("max_r2_loss train_r2_loss test_r2_loss max_abs_pred_diff"),
            "test": _METRICS,
            "intervals": _INTERVALS,
        }
    ),
    PREDICTIONS_FILE: numbers(
        "true float_pred quantized_pred float_abs_error quantized_abs_error abs_pred_diff"
    ),
    SWEEP_FILE: {
        **_CONFIGURATION,
        **numbers(
            "test_r2 delta_test_r2 max_abs_pred_diff delta_test_r2_in_range "
            "max_abs_pred_diff_in_range delta_train_r2 train_mse excess_train_mse"
        ),
        "payload_bytes": integer(1),
    },
}

PathLike = str | os.PathLike[str]


def project_root() -> Path:
    """The checkout of an editable install, else the working directory."""
    candidate = Path(__file__).resolve().parents[3]
    return candidate if (candidate / "pyproject.toml").is_file() else Path.cwd()


def resolve_dir(path: PathLike | None, default_name: str) -> Path:
    """`path` made absolute; for ``None`` or ``""``, ``$CALHOUSING_<DEFAULT_NAME>_DIR`` if set
    (``make test`` sets it, so testing never touches your results), else the project's."""
    if path is None or str(path) == "":
        override = os.environ.get(f"CALHOUSING_{default_name.upper()}_DIR")
        path = override if override else project_root() / default_name
    return Path(path).expanduser().resolve()


class Run:
    """A run's artifacts folder, handing out its artifacts typed and verified: when first
    handed out, and again when it or the manifest changed on disk since."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._manifest: dict[str, Any] | None = None
        self._manifest_stamp: tuple[int, ...] | None = None
        self._verified: dict[str, tuple[int, ...] | None] = {}  # name: the file as verified

    @classmethod
    def of(cls, run_or_dir: Run | PathLike | None) -> Run:
        return run_or_dir if isinstance(run_or_dir, Run) else cls.open(run_or_dir)

    @classmethod
    def open(cls, artifacts_dir: PathLike | None = None) -> Run:
        """The run in `artifacts_dir` (see :func:`resolve_dir`); ArtifactError if there is none."""
        folder = resolve_dir(artifacts_dir, "artifacts")
        if not folder.is_dir():
            raise ArtifactError(
                f"artifacts_dir {str(folder)!r} does not exist: run notebooks/01_train.ipynb "
                "(or `calhousing run`) first, or pass the artifacts_dir it wrote to"
            )
        return cls(folder)

    @property
    def manifest(self) -> dict[str, Any] | None:
        """The folder's manifest (``None`` if there is none), read again when it changed."""
        stamp = _stamp(self.folder / MANIFEST_FILE)
        if self._manifest is None or stamp != self._manifest_stamp:
            self._manifest, self._manifest_stamp = manifest.read(self.folder), stamp
            self._verified.clear()
        return self._manifest

    def require(self, *names: str) -> Path:
        """The folder, once it holds `names` as the manifest records them, made from current
        inputs; else an ArtifactError, ManifestError or StaleArtifactError."""
        missing = [name for name in names if not (self.folder / name).is_file()]
        if missing:
            steps = sorted({_step_of(name) for name in missing})
            raise ArtifactError(
                f"artifacts_dir {str(self.folder)!r} lacks {', '.join(missing)}: run "
                f"{', '.join(steps)} (and the notebooks before) with this artifacts_dir first, "
                "or `calhousing run`"
            )
        recorded = self.manifest
        stamps = {name: _stamp(self.folder / name) for name in names}
        unverified = [name for name in names if self._verified.get(name, ()) != stamps[name]]
        if unverified:
            default_folder = self.folder == resolve_dir(None, "artifacts")
            manifest.verify_files(recorded, self.folder, unverified)
            manifest.check_lineage(recorded, unverified, self.folder, default_folder=default_folder)
            self._verified.update((name, stamps[name]) for name in unverified)
        return self.folder

    def parameters(self) -> dict[str, Any]:
        return {} if self.manifest is None else manifest.recorded_parameters(self.manifest)

    def sha256(self, name: str) -> str:
        """The sha256 of `name`, checked against the file first."""
        self.require(name)
        return self.manifest["files"][name]["sha256"]

    def model(self) -> LinearRegression:
        """The fitted estimator, unpickled only after its sha256 matched the manifest."""
        self.require(MODEL_FILE)
        import joblib  # only here and in save_training: readers of the JSON never need it

        return joblib.load(self.folder / MODEL_FILE)

    def float_params(self) -> LinearParams:
        return self._load(FLOAT_PARAMS_FILE, serialization.params_from_dict)

    def split(self) -> Split:
        """01_train's split, rebuilt from the raw data; an ArtifactError if the training rows
        no longer hash as recorded."""
        from calhousing.core import data

        recorded = self.record(SPLIT_FILE)
        frame = data.load_housing()
        path = self.folder / SPLIT_FILE
        train, test = recorded["train_rows"], recorded["test_rows"]
        if recorded["rows"] != len(frame) or sorted(train + test) != list(range(len(frame))):
            raise ArtifactError(
                f"{path}: train_rows and test_rows must number each of the data's "
                f"{len(frame):,} rows once (the file records {recorded['rows']:,} rows); "
                "re-run 01_train (`calhousing run`) to rewrite it"
            )
        features, target = frame[list(data.FEATURE_NAMES)], frame[data.TARGET_NAME]
        split = data.Split(
            features.iloc[train], features.iloc[test], target.iloc[train], target.iloc[test]
        )
        found = data.training_data_digest(split)
        if found != recorded["training_data_sha256"]:
            raise ArtifactError(
                f"{path}: the training rows of the data now hash to {found[:12]}…, but "
                "01_train split data whose training rows hashed to "
                f"{recorded['training_data_sha256'][:12]}…: the data (SCIKIT_LEARN_DATA) "
                "changed since; re-run 01_train and the steps after it (`calhousing run`), "
                "or point SCIKIT_LEARN_DATA at the data it was trained on"
            )
        return split

    def record(self, name: str) -> dict[str, Any]:
        """The verified content of the JSON artifact `name`."""
        return self._load(name)

    def feature_ranges(self) -> dict[str, tuple[float, float]]:
        ranges = self.record(FEATURE_RANGES_FILE)
        pairs = zip(ranges["feature_names"], ranges["min"], ranges["max"], strict=True)
        return {name: (float(low), float(high)) for name, low, high in pairs}

    def quantized(self) -> QuantizedModel:
        return self._load(QUANTIZED_PARAMS_FILE, serialization.quantized_from_dict)

    def integer_model(self) -> IntegerModel:
        return self._load(INTEGER_MODEL_FILE, serialization.integer_model_from_dict)

    def sweep(self) -> pd.DataFrame:
        return self._load(SWEEP_FILE)

    def choice(self) -> dict[str, Any]:
        return self.record(CHOICE_FILE)

    def comparison(self, n_rows: int | None = None) -> tuple[dict[str, Any], pd.DataFrame]:
        """``comparison.json`` and the first `n_rows` (``None``: all) of the predictions."""
        self.require(COMPARISON_FILE, PREDICTIONS_FILE)
        predictions = self._load(PREDICTIONS_FILE, nrows=n_rows)
        return self.record(COMPARISON_FILE), predictions

    def file_sizes(self, names: Iterable[str]) -> pd.DataFrame:
        import pandas as pd

        paths = {name: self.folder / name for name in names}
        sizes = {name: path.stat().st_size for name, path in paths.items() if path.is_file()}
        return pd.DataFrame({"bytes_on_disk": pd.Series(sizes, dtype="int64")}).rename_axis("file")

    def save_quantized(self, quantized: QuantizedModel, integer_model: IntegerModel) -> Path:
        coef = quantized.coef
        choices = {"bits": coef.bits, "scheme": coef.scheme, "granularity": coef.granularity}
        choices.update(space=quantized.space, rounding=quantized.rounding)
        contents = {
            QUANTIZED_PARAMS_FILE: serialization.quantized_to_dict(quantized),
            INTEGER_MODEL_FILE: serialization.integer_model_to_dict(integer_model),
        }
        return self._save("02_quantize", choices, contents)[0]

    def save_comparison(
        self, predictions: pd.DataFrame, summary: dict[str, Any], *, n_samples: int
    ) -> None:
        checked = check_parameters({"n_samples": n_samples})
        self._save("03_compare", checked, {PREDICTIONS_FILE: predictions, COMPARISON_FILE: summary})

    def save_sweep(self, table: pd.DataFrame, choice: dict[str, Any]) -> Path:
        checked = check_parameters({"max_r2_loss": choice["max_r2_loss"]})
        return self._save("04_sweep", checked, {SWEEP_FILE: table, CHOICE_FILE: choice})[0]

    def save_onnx(self, models: dict[str, bytes]) -> list[Path]:
        """Write each serialized model of :data:`ONNX_FILES` (all of them) under its name."""
        if sorted(models) != sorted(ONNX_FILES.values()):
            raise ValueError(f"save_onnx writes exactly {', '.join(ONNX_FILES.values())}")
        return self._save("06_deploy", {}, models)

    def _load(self, name: str, convert: Callable[[Any], Any] | None = None, **read: Any) -> Any:
        """`name` verified, read (a CSV with pandas' `read` options), checked and converted."""
        path, table = self.require(name) / name, name.endswith(".csv")
        hint = f"re-run {_step_of(name)} (or `calhousing run`) to rewrite it"
        try:
            if table:
                import pandas as pd

                content = pd.read_csv(path, **read)
            else:
                content = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ArtifactError(f"cannot read artifact {str(path)!r}: {error}; {hint}") from None
        try:
            (validate_table if table else validate)(content, SCHEMAS[name])
            return content if convert is None else convert(content)
        except (KeyError, TypeError, ValueError, OverflowError) as error:
            # a table's SchemaError names the column and the row
            where = error.where() if isinstance(error, SchemaError) and not table else error
            raise ArtifactError(f"{path}: {where}; {hint}") from None

    def _save(self, step: str, parameters: dict[str, Any], contents: dict[str, Any]) -> list[Path]:
        """Write `contents` (JSON data, a table or bytes), then record `step` in the manifest;
        01_train, which reads no artifact, starts a damaged manifest afresh."""
        inputs, outputs = STEPS[step]
        if inputs:
            self.require(*inputs)
        for name, content in contents.items():
            if name.endswith(".csv"):  # every float digit
                content = content.to_csv(index=False, float_format="%.17g").encode("utf-8")
            elif name.endswith(".json"):
                content = serialization.json_text(content).encode("utf-8")
            write_bytes(self.folder / name, content)
        try:
            current = self.manifest
        except ManifestError:
            if inputs:
                raise
            current = None
        updated = manifest.record_step(
            current, self.folder, step, list(outputs), list(inputs), parameters
        )
        write_json(self.folder / MANIFEST_FILE, updated)
        self._manifest, self._manifest_stamp = updated, _stamp(self.folder / MANIFEST_FILE)
        self._verified.clear()
        return [self.folder / name for name in contents]


def save_training(
    artifacts_dir: PathLike | None,
    model: LinearRegression,
    params: LinearParams,
    metrics: dict[str, dict[str, float]],
    split: Split,
    *,
    test_size: float,
    random_state: int,
) -> Run:
    """Start a run: write 01_train's outputs. Files of later steps left in the folder stay
    listed, refused as stale until their steps run again."""
    checked = check_parameters({"test_size": test_size, "random_state": random_state})
    folder = resolve_dir(artifacts_dir, "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    import joblib

    from calhousing.core import data

    pickled = io.BytesIO()
    joblib.dump(model, pickled)
    rows = {"train_rows": split.y_train.index, "test_rows": split.y_test.index}
    contents = {
        MODEL_FILE: pickled.getvalue(),
        FLOAT_PARAMS_FILE: serialization.params_to_dict(params),
        METRICS_FILE: metrics,
        SPLIT_FILE: {
            **checked,
            "rows": len(split.y_train) + len(split.y_test),
            **{part: [int(row) for row in index] for part, index in rows.items()},
            "training_data_sha256": data.training_data_digest(split),
        },
        FEATURE_RANGES_FILE: {
            "feature_names": [str(name) for name in split.X_train.columns],
            "min": split.X_train.min().tolist(),
            "max": split.X_train.max().tolist(),
        },
    }
    run = Run(folder)
    run._save("01_train", checked, contents)
    return run


def write_json(path: Path, data: Any) -> None:
    """Write `data` as indented JSON, atomically; floats keep every digit."""
    write_bytes(path, serialization.json_text(data).encode("utf-8"))


def _step_of(name: str) -> str:
    return next(
        (step for step, (_, outputs) in STEPS.items() if name in outputs), "the step that writes it"
    )


def _stamp(path: Path) -> tuple[int, ...] | None:
    """What tells one version of a file from the next (each write renames a new inode into
    place); ``None``: no file."""
    try:
        status = path.stat()
    except OSError:
        return None
    return (status.st_ino, status.st_mtime_ns, status.st_size)


def write_bytes(path: PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically, through a temporary file beside it; IsADirectoryError
    if `path` is a folder, OSError if its folder is missing or not writable."""
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(
            errno.EISDIR, "it is a folder; name a file such as model.onnx", str(target)
        )
    # a name of our own rather than mkstemp's private 0600 file: open() gives the usual mode
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    try:
        with tmp.open("xb") as stream:
            stream.write(data)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
