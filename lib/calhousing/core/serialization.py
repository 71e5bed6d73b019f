"""The models as JSON: exact dicts (floats keep every digit) and the text a file holds, with
which the sweep also measures a configuration's bytes."""

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


def _fields(model: Any, *names: str) -> dict[str, Any]:
    """`model`'s attributes `names` as JSON holds them: tuples as lists, numpy's as Python's."""
    values = {name: getattr(model, name) for name in names}
    plain = {k: v.tolist() if hasattr(v, "tolist") else v for k, v in values.items()}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in plain.items()}


def params_to_dict(params: LinearParams) -> dict[str, Any]:
    return {**_fields(params, "feature_names", "coef"), "intercept": float(params.intercept)}


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
    statistics = [name for name in _STATISTICS if getattr(quantized, name) is not None]
    return {
        **_fields(quantized, "feature_names"),
        "space": quantized.space,
        "rounding": quantized.rounding,
        **_fields(quantized, *statistics),
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
    head = {"bits": tensor.bits, "scheme": tensor.scheme, "dtype": tensor.codes.dtype.name}
    return {**head, **_fields(tensor, "codes", "scale", "zero_point")}


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
        **_fields(model, "feature_names", "input_bits", "input_offset", "input_scale", "bits"),
        "weight_dtype": model.weight_codes.dtype.name,
        **_fields(model, "weight_codes"),
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
