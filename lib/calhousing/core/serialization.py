"""The artifacts as JSON: exact dicts (floats keep every digit) and the text they hold.

The sweep measures a configuration's bytes with the same text the run writes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy and the models load when a model is read: `predict` reads JSON only
    import pandas as pd

    from calhousing.core.data import Split
    from calhousing.core.integer_inference import IntegerModel
    from calhousing.core.linear import LinearParams
    from calhousing.core.quantization import QuantizedModel, QuantizedTensor


def params_to_dict(params: LinearParams) -> dict[str, Any]:
    return {
        "feature_names": list(params.feature_names),
        "coef": [float(value) for value in params.coef],
        "intercept": float(params.intercept),
    }


def params_from_dict(data: dict[str, Any]) -> LinearParams:
    import numpy as np

    from calhousing.core.linear import LinearParams

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
        "coef": tensor_to_dict(quantized.coef),
        "intercept": tensor_to_dict(quantized.intercept),
        "dequantized": {
            "coef": [float(value) for value in dequantized.coef],
            "intercept": dequantized.intercept,
        },
    }


def quantized_from_dict(data: dict[str, Any]) -> QuantizedModel:
    import numpy as np

    from calhousing.core.quantization import QuantizedModel

    return QuantizedModel(
        coef=tensor_from_dict(data["coef"]),
        intercept=tensor_from_dict(data["intercept"]),
        feature_names=tuple(data["feature_names"]),
        space=str(data.get("space", "raw")),
        rounding=str(data.get("rounding", "nearest")),
        **{
            name: np.asarray(data[name], dtype=np.float64)
            for name in ("feature_mean", "feature_std")
            if data.get(name) is not None
        },
    )


def json_bytes(data: Any) -> int:
    """The exact size in bytes of the artifact file holding `data`."""
    return len(json_text(data).encode("utf-8"))


def json_text(data: Any) -> str:
    """The JSON text of an artifact: indented, every float digit kept, no NaN."""
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


def tensor_to_dict(tensor: QuantizedTensor) -> dict[str, Any]:
    return {
        "bits": tensor.bits,
        "scheme": tensor.scheme,
        "dtype": tensor.codes.dtype.name,
        "codes": tensor.codes.tolist(),
        "scale": tensor.scale.tolist(),
        "zero_point": tensor.zero_point.tolist(),
    }


def tensor_from_dict(data: dict[str, Any]) -> QuantizedTensor:
    import numpy as np

    from calhousing.core.quantization import QuantizedTensor

    dtype = np.dtype(data["dtype"])
    return QuantizedTensor(
        codes=np.asarray(data["codes"], dtype=dtype),
        scale=np.asarray(data["scale"], dtype=np.float64),
        zero_point=np.asarray(data["zero_point"], dtype=dtype),
        bits=int(data["bits"]),
        scheme=str(data["scheme"]),
    )


def integer_model_to_dict(model: IntegerModel) -> dict[str, Any]:
    return {
        "feature_names": list(model.feature_names),
        "input_bits": model.input_bits,
        "input_offset": model.input_offset.tolist(),
        "input_scale": model.input_scale.tolist(),
        "bits": model.bits,
        "weight_dtype": model.weight_codes.dtype.name,
        "weight_codes": model.weight_codes.tolist(),
        "bias_code": int(model.bias_code),
        "accumulator_scale": float(model.accumulator_scale),
        "accumulator_dtype": model.accumulator_dtype,
    }


def integer_model_from_dict(data: dict[str, Any]) -> IntegerModel:
    import numpy as np

    from calhousing.core.integer_inference import IntegerModel

    return IntegerModel(
        feature_names=tuple(data["feature_names"]),
        input_offset=np.asarray(data["input_offset"], dtype=np.float64),
        input_scale=np.asarray(data["input_scale"], dtype=np.float64),
        input_bits=int(data["input_bits"]),
        weight_codes=np.asarray(data["weight_codes"], dtype=np.dtype(data["weight_dtype"])),
        bias_code=int(data["bias_code"]),
        accumulator_scale=float(data["accumulator_scale"]),
        bits=int(data["bits"]),
        accumulator_dtype=str(data["accumulator_dtype"]),
    )


def split_to_dict(split: Split, *, test_size: float, random_state: int) -> dict[str, Any]:
    """``split.json``: the settings, each part's row numbers (positions in the frame
    :func:`calhousing.core.data.load_housing` returns) and the training rows' sha256."""
    from calhousing.core import data

    return {
        "test_size": test_size,
        "random_state": random_state,
        "rows": len(split.y_train) + len(split.y_test),
        "train_rows": [int(row) for row in split.y_train.index],
        "test_rows": [int(row) for row in split.y_test.index],
        "training_data_sha256": data.training_data_digest(split),
    }


def feature_ranges_to_dict(features: pd.DataFrame) -> dict[str, Any]:
    """``feature_ranges.json``: each feature's training minimum and maximum, in column order."""
    return {
        "feature_names": [str(name) for name in features.columns],
        "min": [float(value) for value in features.min()],
        "max": [float(value) for value in features.max()],
    }


def feature_ranges_from_dict(data: dict[str, Any]) -> dict[str, tuple[float, float]]:
    return {
        name: (float(low), float(high))
        for name, low, high in zip(data["feature_names"], data["min"], data["max"], strict=True)
    }
