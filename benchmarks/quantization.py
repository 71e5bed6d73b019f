"""Print the quantization targets ("numbers to reach"), each measured, with its target and verdict.

Run from the project root, with the data cache available:

    export SCIKIT_LEARN_DATA=/path/to/a/folder/holding/cal_housing_py3.pkz
    .venv/bin/python benchmarks/quantization.py

Everything is measured on the real data and the published split (test_size=0.2,
random_state=42). The sweep's wall time is a figure printed here, not asserted
anywhere. The exit code is 0 whatever the results: this prints, it does not gate.
"""

from __future__ import annotations

import time

import pandas as pd

from calhousing.core import data, integer_inference, quantization, sweep, training

SWEEP_SECONDS_TARGET = 10.0


def main() -> None:
    split = data.load_split(test_size=0.2, random_state=42)
    model = training.fit_linear_regression(split.X_train, split.y_train)
    params = training.linear_params(model)

    start = time.perf_counter()
    table = sweep.sweep(params, split)
    seconds = time.perf_counter() - start

    integer = sweep.integer_comparison(
        params,
        split,
        quantization.quantize_model(params, 8),
        integer_inference.build_integer_model(params, split.X_train, bits=8),
    )
    checks = sweep.target_checks(table, integer)
    checks.loc[len(checks)] = {
        "number": "full sweep wall time, seconds",
        "configuration": f"{len(table)} configurations (bits 2..16 × scheme × space × rounding)",
        "measured": seconds,
        "target": f"≤ {SWEEP_SECONDS_TARGET:g}",
        "result": "PASS" if seconds <= SWEEP_SECONDS_TARGET else "FAIL",
        "measured_on_in_range_rows": float("nan"),
    }

    with pd.option_context(
        "display.width", 200, "display.max_colwidth", 90, "display.float_format", "{:.6g}".format
    ):
        print("Numbers to reach (quantization targets), measured on the real data")
        print(checks.to_string(index=False))
        print()
        print("4 bits, standardized space, every rounding (|ΔR²| on the test split)")
        four = table[(table["bits"] == 4) & (table["space"] == "standardized")]
        columns = [
            "scheme",
            "rounding",
            "delta_test_r2",
            "delta_test_r2_in_range",
            "excess_train_mse",
        ]
        print(four[columns].to_string(index=False))
        print()
        print("Integer-only inference beside the dequantized-weights path")
        print(integer.to_string())
        print()
        print("Test rows outside the training range (they drive the failures above)")
        print(sweep.out_of_range_rows(params, split).to_string())
    passed = int((checks["result"] == "PASS").sum())
    print(f"\n{passed} of {len(checks)} numbers reached")


if __name__ == "__main__":
    main()
