"""The ``calhousing`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from papermill.cli import _resolve_type as papermill_value  # papermill's own -p typing

from calhousing.pipeline import PARAMETER_CHECKS, PipelineError, run_pipeline


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="calhousing",
        description="Train, quantize and compare a linear regression on California Housing.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="execute the notebooks with papermill and render reports/report.html",
        description="Execute 01_train, 02_quantize and 03_compare with papermill, then "
        "render the HTML report. Outputs replace the previous ones only if every step succeeds.",
    )
    run.add_argument("--artifacts-dir", help="where model files go (default: artifacts/)")
    run.add_argument("--reports-dir", help="where the report goes (default: reports/)")
    run.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help=f"notebook parameter, typed as papermill does; one of: {', '.join(PARAMETER_CHECKS)}",
    )
    run.add_argument("--no-progress", action="store_true", help="hide papermill's progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    parameters = {name: papermill_value(value) for name, value in args.parameter}
    try:
        report = run_pipeline(
            artifacts_dir=args.artifacts_dir,
            reports_dir=args.reports_dir,
            parameters=parameters,
            progress_bar=not args.no_progress,
        )
    except ValueError as error:
        parser.exit(2, f"calhousing run: error: {error}\n")
    except PipelineError as error:
        kept = (
            f"\nThe failed run's executed notebooks are in {error.failed_run_dir}"
            if (error.failed_run_dir)
            else ""
        )
        print(
            f"calhousing run: error: {error}{kept}\nPrevious artifacts and reports are unchanged.",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print(
            "calhousing run: interrupted; previous artifacts and reports are unchanged.",
            file=sys.stderr,
        )
        return 130
    print(f"Report written to {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
