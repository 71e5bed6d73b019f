"""The models as JSON: exact dicts (floats keep every digit) and the text a file holds.

The sweep measures a configuration's bytes with the same text the run writes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy and the models load when a model is read: `predict` reads JSON only
    from calhousing.core.integer_inference import IntegerModel
    from calhousing.core.linear import LinearParams
    from calhousing.core.quantization import QuantizedModel, QuantizedTensor

_STATISTICS = ("feature_mean", "feature_std")  # standardized space only


def json_text(data: Any) -> str:
    """The JSON text of an artifact: indented, every float digit kept, no NaN."""
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


def json_bytes(data: Any) -> int:
    """The exact size in bytes of the artifact file holding `data`."""
    return len(json_text(data).encode("utf-8"))


def params_to_dict(params: LinearParams) -> dict[str, Any]:
    return {
        "feature_names": list(params.feature_names),
        "coef": params.coef.tolist(),
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
    return {
        "feature_names": list(quantized.feature_names),
        "space": quantized.space,
        "rounding": quantized.rounding,
        **{
            name: getattr(quantized, name).tolist()
            for name in _STATISTICS
            if getattr(quantized, name) is not None
        },
        "coef": _tensor_to_dict(quantized.coef),
        "intercept": _tensor_to_dict(quantized.intercept),
        "dequantized": {"coef": dequantized.coef.tolist(), "intercept": dequantized.intercept},
    }


def quantized_from_dict(data: dict[str, Any]) -> QuantizedModel:
    import numpy as np

    from calhousing.core.quantization import QuantizedModel

    return QuantizedModel(
        coef=_tensor_from_dict(data["coef"]),
        intercept=_tensor_from_dict(data["intercept"]),
        feature_names=tuple(data["feature_names"]),
        space=str(data.get("space", "raw")),
        rounding=str(data.get("rounding", "nearest")),
        **{
            name: np.asarray(data[name], dtype=np.float64)
            for name in _STATISTICS
            if data.get(name) is not None
        },
    )


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
