"""Check what a containerized run wrote: the report, comparison.json and the predictions.

Usage: python check_outputs.py ARTIFACTS_DIR REPORTS_DIR [--bits N] [--expected COMPARISON_JSON]

Exits 1 naming every check that failed. Standard library only, so it runs with any Python 3
on the machine that started the container (no project install needed).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

PUBLISHED_FLOAT_TEST_R2 = 0.5758  # test R² of the published float model, to 4 decimals
R2_BOUND = 0.002  # documented bound on the 8-bit model's loss of test R² (README)
SAME_RUN_TOLERANCE = 1e-9  # same code and data elsewhere: equal up to floating-point noise


def check(artifacts: Path, reports: Path, bits: int, expected: Path | None) -> list[str]:
    """Every failed check, as a sentence; empty when all pass."""
    failures = []
    report = reports / "report.html"
    if not report.is_file() or report.stat().st_size == 0:
        failures.append(f"no report at {report}")
    elif "data:image/png;base64," not in report.read_text(encoding="utf-8"):
        failures.append(f"{report} has no embedded plot")
    if not (artifacts / "prediction_comparison.csv").is_file():
        failures.append(f"no prediction_comparison.csv in {artifacts}")
    comparison_file = artifacts / "comparison.json"
    if not comparison_file.is_file():
        return [*failures, f"no comparison.json in {artifacts}"]
    comparison = json.loads(comparison_file.read_text(encoding="utf-8"))
    float_r2 = comparison["float"]["test"]["r2"]
    quantized_r2 = comparison["quantized"]["test"]["r2"]
    print(
        f"comparison.json: bits {comparison['bits']}, float test R² {float_r2:.6f}, "
        f"quantized test R² {quantized_r2:.6f} (difference {quantized_r2 - float_r2:+.6f})"
    )
    if comparison["bits"] != bits:
        failures.append(f"comparison.json has bits {comparison['bits']}, expected {bits}")
    if round(float_r2, 4) != PUBLISHED_FLOAT_TEST_R2:
        failures.append(f"float test R² {float_r2} is not {PUBLISHED_FLOAT_TEST_R2} to 4 decimals")
    if bits == 8 and not abs(quantized_r2 - float_r2) <= R2_BOUND:
        failures.append(
            f"8-bit test R² {quantized_r2} is not within {R2_BOUND} of the float {float_r2}"
        )
    if expected is not None:
        reference = json.loads(expected.read_text(encoding="utf-8"))
        for model in ("float", "quantized"):
            for split in ("train", "test"):
                for metric, value in reference[model][split].items():
                    got = comparison[model][split][metric]
                    if not math.isclose(got, value, rel_tol=0, abs_tol=SAME_RUN_TOLERANCE):
                        failures.append(
                            f"{model} {split} {metric} {got} differs from {value} in {expected}"
                        )
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts", type=Path)
    parser.add_argument("reports", type=Path)
    parser.add_argument("--bits", type=int, default=8, help="the bits the run was given (8)")
    parser.add_argument("--expected", type=Path, help="a comparison.json the run must match")
    args = parser.parse_args()
    failures = check(args.artifacts, args.reports, args.bits, args.expected)
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    if not failures:
        print(f"ok: report and comparison.json checked ({args.bits} bits)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
