"""The ``calhousing`` command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

# The pipeline (papermill, nbconvert) is imported by the commands that run it, so
# `calhousing predict` starts without paying for it.
from calhousing import signals
from calhousing.artifacts import (
    ArtifactError,
    load_comparison,
    resolve_dir,
)
from calhousing.errors import EXIT_INTERRUPTED, Interrupted, exit_code
from calhousing.params import PIPELINE_PARAMETERS
from calhousing.predict import MODELS, PREDICTION_COLUMN, InputError, load_model, predict_file
from calhousing.summary import run_summary


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="calhousing",
        description="Train, quantize and compare a linear regression on California Housing.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="execute the notebooks with papermill and render reports/report.html",
        description="Execute the notebooks (01_train to 05_summary) with papermill, then "
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
        help="notebook parameter, typed as papermill's -p types it; one of: "
        + ", ".join(PIPELINE_PARAMETERS),
    )
    run.add_argument("--no-progress", action="store_true", help="hide papermill's progress bar")
    summary = commands.add_parser(
        "summary",
        help="print both models' test R², the first predictions and where the report is",
        description="Print a short summary of a finished run, read from its comparison.json "
        "and prediction_comparison.csv.",
    )
    summary.add_argument("--artifacts-dir", help="where the run wrote its artifacts")
    summary.add_argument("--reports-dir", help="where the run wrote its report")
    summary.add_argument("-n", "--n-rows", type=int, default=5, help="predictions shown (5)")
    _add_predict_parser(commands)
    return parser


def _add_predict_parser(commands: argparse._SubParsersAction) -> None:
    predict = commands.add_parser(
        "predict",
        help="score a CSV or Parquet file with the float, quantized or integer model",
        description="Score INPUT in bounded memory: the feature columns are found by name, "
        f"other columns are passed through, and {PREDICTION_COLUMN} is added. Parameters "
        "come from the JSON artifacts; nothing is unpickled. On bad input nothing is written.",
    )
    predict.add_argument(
        "input", metavar="INPUT", help="CSV or Parquet (.parquet) file; - for stdin"
    )
    predict.add_argument(
        "-o", "--output", metavar="OUTPUT", help="CSV, or Parquet by suffix (default: stdout)"
    )
    predict.add_argument("--artifacts-dir", help="where `calhousing run` wrote the model")
    predict.add_argument("--model", choices=MODELS, default="float", help="default: float")
    predict.add_argument(
        "--skip-invalid",
        action="store_true",
        help="score the valid rows; list the others with reasons in OUTPUT.rejects.csv",
    )
    predict.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code: 0 done, 1 failed, 2 bad usage, 130 interrupted.

    The code comes from the error that stopped the command (see
    :func:`calhousing.errors.exit_code`), reported here in one line; argparse exits
    with 2 itself. SIGINT and SIGTERM stop every command the same way
    (:mod:`calhousing.signals`).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    with signals.handled():
        try:
            if args.command == "summary":
                return _print_summary(parser, args.artifacts_dir, args.reports_dir, args.n_rows)
            if args.command == "predict":
                return _predict(parser, args)
            return _run(parser, args)
        except BaseException as error:
            # A signal that lands inside a library can come out as another error.
            code = EXIT_INTERRUPTED if signals.stopping() else exit_code(error)
            if code is None:
                raise  # a bug, not an outcome: its traceback is what to report
            print(_failure_message(args.command, error, code), file=sys.stderr)
            return code


def _failure_message(command: str, error: BaseException, code: int) -> str:
    if code == EXIT_INTERRUPTED:
        outcome = f"; {error}" if isinstance(error, Interrupted) and str(error) else ""
        return f"calhousing {command}: interrupted{outcome}"
    return f"calhousing {command}: error: {error}"


def parameter_value(text: str) -> Any:
    """`text` typed as papermill's ``-p`` types it, so both commands read a value alike.

    ``True``, ``False`` and ``None`` are those constants, then an integer, then a
    float (``1e-3``, ``nan``); anything else stays text.
    """
    constants: dict[str, Any] = {"True": True, "False": False, "None": None}
    if text in constants:
        return constants[text]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from calhousing.pipeline import run_pipeline

    report = run_pipeline(
        artifacts_dir=args.artifacts_dir,
        reports_dir=args.reports_dir,
        parameters={name: parameter_value(value) for name, value in args.parameter},
        progress_bar=not args.no_progress,
    )
    print(f"Report written to {report}")
    return 0


def _print_summary(
    parser: argparse.ArgumentParser,
    artifacts_dir: str | None,
    reports_dir: str | None,
    rows: int,
) -> int:
    try:
        from calhousing.pipeline import REPORT_FILE

        comparison, predictions = load_comparison(artifacts_dir, n_rows=max(rows, 1))
        report = resolve_dir(reports_dir, "reports") / REPORT_FILE
        if not report.is_file():
            raise ArtifactError(
                f"no report at {str(report)!r}: run `calhousing run` first, or pass the "
                "--reports-dir it wrote to"
            )
        text = run_summary(comparison, predictions, report, n_rows=rows)
    except ArtifactError as error:
        print(f"calhousing summary: error: {error}", file=sys.stderr)
        return 1
    except ValueError as error:
        parser.exit(2, f"calhousing summary: error: {error}\n")
    print(text, end="")
    return 0


def _predict(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.skip_invalid and args.output in (None, "-"):
        parser.exit(
            2,
            "calhousing predict: error: --skip-invalid writes the rejected rows to "
            "OUTPUT.rejects.csv, so it needs -o OUTPUT\n",
        )
    try:
        model = load_model(args.artifacts_dir, args.model)
        done = predict_file(
            args.input,
            args.output,
            model,
            skip_invalid=args.skip_invalid,
            progress=not args.quiet and sys.stderr.isatty(),
        )
    except InputError as error:
        hint = (
            "\nTo score the valid rows and list the others, add --skip-invalid -o OUTPUT."
            if error.skippable
            else ""
        )
        print(f"calhousing predict: error: {error}{hint}\nNo output was written.", file=sys.stderr)
        return 1
    except (ArtifactError, ValueError) as error:
        print(f"calhousing predict: error: {error}\nNo output was written.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("calhousing predict: interrupted; no output was written.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout left early (`| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    if not args.quiet:
        into = f" into {done.output}" if done.output else ""
        rejected = (
            f"; {done.rows_rejected} rejected, listed in {done.rejects}" if done.rejects else ""
        )
        print(
            f"Scored {done.rows_scored} rows with the {model.name} model{into}{rejected}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
