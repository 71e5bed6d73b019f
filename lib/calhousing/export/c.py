"""The integer-only model as C99: a header-only model and a CSV scorer for firmware.

The C steps are those of :func:`calhousing.core.integer_inference.predict_integer`, in IEEE
double where the input arrives and the output leaves and in integers between, so their results
equal it bit for bit (the header's comment says why; docs/deploy.md).
"""

from __future__ import annotations

import errno
import math
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from string import Template

import numpy as np
import pandas as pd

from calhousing.core import integer_inference
from calhousing.core.data import Split
from calhousing.core.inference import feature_matrix
from calhousing.core.integer_inference import IntegerModel
from calhousing.report.tables import Column
from calhousing.run import artifacts

HEADER_FILE = "calhousing_model.h"
SCORER_FILE = "score.c"
C_FLAGS: tuple[str, ...] = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2")
# target: (compiler, its size tool, extra flags, the emulator that runs its programs)
TARGETS: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...]]] = {
    "x86-64": ("gcc", "size", (), ()),
    "ARM": ("arm-linux-gnueabihf-gcc", "arm-linux-gnueabihf-size", ("-static",), ("qemu-arm",)),
}
INSTALL: dict[str, str] = {"x86-64": "gcc", "ARM": "gcc-arm-linux-gnueabihf qemu-user"}
COLUMNS: dict[str, Column] = {
    "compiler": Column("compiler", "text"),
    ".rodata bytes": Column(".rodata: parameters (bytes)", "integer"),
    ".text bytes": Column(".text: code (bytes)", "integer"),
    "rows equal": Column("equal to Python", "text"),
}
_SOURCES = Path(__file__).with_name("c_sources")


def c_sources(
    model: IntegerModel, ranges: dict[str, tuple[float, float]], source: str = "a model"
) -> dict[str, str]:
    """``{file name: text}`` of the C export of `model` and its training `ranges`; `source`
    names it in the header. Raises ``ValueError`` if an accumulator sum is not exact in a
    double (2^53) or the ranges' minima are not the input offsets."""
    bound = model.accumulator_bound
    minima, maxima = zip(*ranges.values(), strict=True)
    if list(ranges) != list(model.feature_names) or list(minima) != list(model.input_offset):
        raise ValueError("the training ranges do not match the integer model's input offsets")
    if bound >= 2**53:
        raise ValueError(f"the accumulator bound {bound} is not exact in a double (2^53)")
    mantissa, exponent = math.frexp(model.accumulator_scale)
    multiplier = round(mantissa * 2**31)
    if multiplier == 2**31:
        multiplier, exponent = 2**30, exponent + 1
    int64 = model.accumulator_dtype == "int64"
    weight_qmax = 2 ** (model.bits - 1) - 1
    values = {
        "source": source,
        "n_features": len(model.feature_names),
        "input_bits": model.input_bits,
        "input_qmax": model.input_qmax,
        "bits": model.bits,
        "weight_qmax": weight_qmax,
        "term_bound": weight_qmax * model.input_qmax,
        "abs_weight_sum": int(np.abs(model.weight_codes.astype(np.int64)).sum()),
        "abs_bias": abs(model.bias_code),
        "bound": bound,
        "acc_max": 2**63 - 1 if int64 else 2**31 - 1,
        "acc_type": "int64_t" if int64 else "int32_t",
        "code_type": "uint16_t" if model.input_bits > 8 else "uint8_t",
        "weight_type": "int16_t" if model.bits > 8 else "int8_t",
        "multiplier": multiplier,
        "shift": 31 - exponent,
        "feature_names": _rows(f'"{name}"' for name in model.feature_names),
        "training_min": _rows(float(low).hex() for low in minima),
        "training_max": _rows(float(high).hex() for high in maxima),
        "input_scale": _rows(float(scale).hex() for scale in model.input_scale),
        "weight_codes": _rows(str(int(code)) for code in model.weight_codes),
        "bias_code": f"INT64_C({model.bias_code})" if int64 else model.bias_code,
        "accumulator_scale": float(model.accumulator_scale).hex(),
        "accumulator_scale_decimal": repr(float(model.accumulator_scale)),
    }
    header = Template((_SOURCES / HEADER_FILE).read_text(encoding="utf-8"))
    scorer = (_SOURCES / SCORER_FILE).read_text(encoding="utf-8")
    return {HEADER_FILE: header.substitute(values), SCORER_FILE: scorer}


def load_c_export(run: artifacts.Run | artifacts.PathLike | None) -> dict[str, str]:
    """The C export of the run's integer model, its artifacts checked against the manifest."""
    run = artifacts.Run.of(run)
    name = artifacts.INTEGER_MODEL_FILE
    source = f"{name} (sha256 {run.sha256(name)})"
    return c_sources(run.integer_model(), run.feature_ranges(), source)


def write_folder(folder: artifacts.PathLike, files: dict[str, str]) -> Path:
    """Write `files` into `folder` (created if its parent exists), each atomically; on an error
    `folder` is removed if this call created it."""
    target = Path(folder)
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(
            errno.ENOTDIR,
            "it is a file; --format c writes a folder: name a new or existing one",
            str(target),
        )
    created = not target.exists()
    target.mkdir(exist_ok=True)
    try:
        for name, text in files.items():
            artifacts.write_bytes(target / name, text.encode("utf-8"))
    except BaseException:
        if created:
            shutil.rmtree(target, ignore_errors=True)
        raise
    return target


def missing_tools(target: str) -> str:
    """Why `target` cannot be built and run here ('' when it can)."""
    compiler, size, _, emulator = TARGETS[target]
    absent = [tool for tool in (compiler, size, *emulator) if shutil.which(tool) is None]
    hint = f"to run it: apt-get install {INSTALL[target]}"
    return f"no {' or '.join(absent)}; {hint}" if absent else ""


def build_scorer(folder: Path, target: str = "x86-64") -> Path:
    """Compile `folder`'s score.c for `target` with :data:`C_FLAGS`; ``RuntimeError`` with the
    compiler's message if it fails or warns."""
    compiler, _, extra, _ = TARGETS[target]
    binary = folder / f"score-{target}"
    _check([compiler, *C_FLAGS, *extra, str(folder / SCORER_FILE), "-o", str(binary)])
    return binary


def run_scorer(binary: Path, X, feature_names, target: str = "x86-64") -> np.ndarray:
    """The predictions `binary` prints for the rows of `X`, through a CSV on its stdin."""
    frame = pd.DataFrame(feature_matrix(X, feature_names), columns=list(feature_names))
    rows = frame.to_csv(index=False, float_format="%.17g")
    result = subprocess.run(
        [*TARGETS[target][3], str(binary)], input=rows, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{binary.name} failed: {result.stderr.strip()}")
    return np.array([float(line) for line in result.stdout.split()], dtype=np.float64)


def measure(run: artifacts.Run | artifacts.PathLike | None, split: Split) -> pd.DataFrame:
    """Per target: the compiler, the model's bytes (``.text`` and every ``.rodata*`` section of a
    unit holding only the scoring function, as ``size -A`` reports them), and how many test rows
    the C scorer predicts equal to :func:`~calhousing.core.integer_inference.predict_integer`."""
    run = artifacts.Run.of(run)
    model = run.integer_model()
    expected = integer_inference.predict_integer(model, split.X_test)
    table = {}
    with tempfile.TemporaryDirectory() as scratch:
        folder = write_folder(scratch, load_c_export(run))
        unit_source = shutil.copy(_SOURCES / "size_unit.c", folder)  # only the scoring function
        for target, (compiler, size, _, emulator) in TARGETS.items():
            reason = missing_tools(target)
            if reason:
                table[target] = {"compiler": compiler, "rows equal": f"skipped: {reason}"}
                continue
            unit = str(folder / f"unit-{target}.o")
            _check([compiler, *C_FLAGS, "-c", unit_source, "-o", unit])
            sizes = re.findall(
                r"^(\.text|\.rodata)(?:\.\S*)?\s+(\d+)", _check([size, "-A", unit]), re.M
            )
            binary = build_scorer(folder, target)
            actual = run_scorer(binary, split.X_test, model.feature_names, target)
            same = int(np.sum(actual == expected)) if actual.shape == expected.shape else 0
            table[target] = {
                "compiler": ", ".join((compiler, *emulator)),
                ".rodata bytes": sum(int(n) for name, n in sizes if name == ".rodata"),
                ".text bytes": sum(int(n) for name, n in sizes if name == ".text"),
                "rows equal": f"{same:,} of {len(expected):,}",
            }
    return pd.DataFrame.from_dict(table, orient="index").reindex(columns=list(COLUMNS))


def _check(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0 or result.stderr.strip():
        raise RuntimeError(f"{command[0]} failed: {result.stderr.strip()}")
    return result.stdout


def _rows(items) -> str:
    return "".join(f"    {item},\n" for item in items)
