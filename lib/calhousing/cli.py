"""The ``calhousing`` command line."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from calhousing import config, errors
from calhousing.params import MODELS, PIPELINE_PARAMETERS

# The pipeline (papermill, nbconvert) is imported by the commands that run it, so
# `calhousing predict` starts without paying for it.
from calhousing.run import signals
from calhousing.run.artifacts import COMPARISON_FILE, Run, resolve_dir, write_bytes


def build_parser() -> argparse.ArgumentParser:
    from calhousing.predict.scoring import PREDICTION_COLUMN  # after config.bound_memory()

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
    predict = commands.add_parser(
        "predict",
        help="score a CSV or Parquet file (or a Parquet dataset, on Dask) with a model",
        description="Score INPUT: the feature columns are found by name, other columns are "
        f"passed through, and {PREDICTION_COLUMN} is added. Parameters come from the JSON "
        "artifacts; nothing is unpickled. On bad input nothing is written. A folder or glob "
        "of Parquet files is scored partition by partition on a Dask cluster into a folder.",
    )
    predict.add_argument(
        "input",
        metavar="INPUT",
        help="CSV or Parquet (.parquet) file; - for stdin; or a folder or glob of Parquet files",
    )
    predict.add_argument(
        "-o",
        "--output",
        metavar="OUTPUT",
        help="CSV, or Parquet by suffix (default: stdout); a folder for a dataset",
    )
    predict.add_argument("--artifacts-dir", help="where `calhousing run` wrote the model")
    predict.add_argument("--model", choices=MODELS, default="float", help="default: float")
    predict.add_argument(
        "--skip-invalid",
        action="store_true",
        help="score the valid rows; list the others with reasons in OUTPUT.rejects.csv",
    )
    predict.add_argument(
        "--flag-out-of-range",
        action="store_true",
        help="add a boolean out_of_range column: a feature lies outside the training range",
    )
    predict.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="score a dataset on this Dask scheduler (default: a local cluster)",
    )
    predict.add_argument(
        "--workers", type=int, default=2, help="local cluster's worker processes (default: 2)"
    )
    predict.add_argument("--quiet", action="store_true", help="no closing summary line")
    export = commands.add_parser(
        "export",
        help="write the model as an ONNX file for onnxruntime, or the integer model as C",
        description="Write the run's model as a standard ONNX model (default domain only): "
        "one float64 input 'features' [N, 8], one output 'prediction' [N]; or, with --format "
        "c, the integer model as a C99 header and a CSV scorer. The artifacts are checked "
        "against the manifest first; the output is written atomically.",
    )
    export.add_argument("--model", choices=MODELS, required=True, help="the model to export")
    export.add_argument(
        "--format",
        default="onnx",
        metavar="{onnx,c}",
        help="onnx (default), or c: the integer model as C99",
    )
    export.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        required=True,
        help="the .onnx file to write; with --format c, the folder",
    )
    export.add_argument("--artifacts-dir", help="where `calhousing run` wrote the model")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code, having said in one line what stopped it."""
    config.bound_memory()  # before the parser imports polars, which reads it then
    args = build_parser().parse_args(argv)
    with signals.handled():
        try:
            # looked up here, not once at import, so each command can be replaced in a test
            command = {"run": _run, "summary": _summary, "predict": _predict, "export": _export}
            return command[args.command](args)
        except BrokenPipeError:  # the reader of stdout left early (`| head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return errors.EXIT_BROKEN_PIPE
        except BaseException as error:
            # A signal that lands inside a library can come out as another error.
            code = errors.EXIT_INTERRUPTED if signals.stopping() else errors.exit_code(error)
            if code is None:
                raise  # a bug, not an outcome: its traceback is what to report
            print(_failure_message(args.command, error, code), file=sys.stderr)
            return code


# How a command that writes one output says, when it fails or is interrupted, that it wrote
# nothing (`run` says what it left in the message of its error).
_NOTHING_WRITTEN = {
    "predict": (". No output was written.", "; no output was written."),
    "export": ("; nothing was written", "; nothing was written."),
}
_SKIP_INVALID_HINT = ". To score the valid rows and list the others, add --skip-invalid -o OUTPUT"


def _failure_message(command: str, error: BaseException, code: int) -> str:
    failed, interrupted = _NOTHING_WRITTEN.get(command, ("", ""))
    if code == errors.EXIT_INTERRUPTED:
        said = isinstance(error, errors.Interrupted) and str(error)
        return f"calhousing {command}: interrupted{f'; {error}' if said else interrupted}"
    if code == errors.EXIT_USAGE:
        return f"calhousing {command}: error: {error}"
    hint = _SKIP_INVALID_HINT if isinstance(error, errors.InputError) and error.skippable else ""
    return f"calhousing {command}: error: {error}{hint}{failed}"


def parameter_value(text: str) -> Any:
    """`text` typed as papermill's ``-p`` types it: ``True``, ``False``, ``None``, else an
    integer, else a float (``1e-3``, ``nan``), else text. Written out: importing papermill
    would delay a bad parameter's refusal by about 2 s."""
    constants: dict[str, Any] = {"True": True, "False": False, "None": None}
    if text in constants:
        return constants[text]
    for kind in (int, float):
        with contextlib.suppress(ValueError):
            return kind(text)
    return text


def _run(args: argparse.Namespace) -> int:
    from calhousing.pipeline import run_pipeline

    report = run_pipeline(
        artifacts_dir=args.artifacts_dir,
        reports_dir=args.reports_dir,
        parameters={name: parameter_value(value) for name, value in args.parameter},
        progress_bar=not args.no_progress,
    )
    print(f"Report written to {report}")
    return errors.EXIT_DONE


def _summary(args: argparse.Namespace) -> int:
    from calhousing.pipeline import REPORT_FILE
    from calhousing.report.summary import report_shows, run_summary

    rows = args.n_rows
    if rows < 1:
        raise errors.UsageError(f"--n-rows must be 1 or more, got {rows}")
    run = Run.open(args.artifacts_dir)
    comparison, predictions = run.comparison(n_rows=rows)
    report = resolve_dir(args.reports_dir, "reports") / REPORT_FILE
    if not report.is_file():
        raise errors.ArtifactError(
            f"no report at {str(report)!r}: run `calhousing run` first, or pass the "
            "--reports-dir it wrote to"
        )
    recorded = run.sha256(COMPARISON_FILE)
    if not report_shows(report.read_text(encoding="utf-8", errors="replace"), recorded):
        raise errors.ArtifactError(
            f"{report} is stale: it does not show the current {COMPARISON_FILE} "
            f"(sha {recorded[:8]}…), which was rewritten after it was rendered; "
            "re-render it with `calhousing run`"
        )
    text = run_summary(
        comparison,
        predictions,
        report,
        n_rows=rows,
        parameters=run.parameters(),
        choice=run.choice(),
    )
    print(text, end="")
    return errors.EXIT_DONE


def _predict(args: argparse.Namespace) -> int:
    from calhousing.predict import load_model, predict_file
    from calhousing.predict.dataset import NEEDS_OUTPUT_FOLDER, is_dataset, predict_dataset

    dataset = is_dataset(args.input)
    to_stdout = args.output in (None, "-")
    _refuse(
        (args.output == "", "-o is empty: give an output file name, or - for stdout"),
        (args.input == "", "INPUT is empty: give a file name, or - for stdin"),
        (dataset and to_stdout, NEEDS_OUTPUT_FOLDER),
        (
            dataset and (args.output or "").lower().endswith(".csv"),
            f"a dataset is scored into a folder of Parquet files, but -o {args.output!r} "
            "names a CSV file: give a folder name",
        ),
        (
            args.skip_invalid and to_stdout,
            "--skip-invalid writes the rejected rows to OUTPUT.rejects.csv, so it needs -o OUTPUT",
        ),
        (
            args.scheduler is not None and not args.scheduler.startswith("tcp://"),
            f"--scheduler must look like tcp://HOST:PORT, got {args.scheduler!r}",
        ),
        (args.workers < 1, f"--workers must be at least 1, got {args.workers}"),
    )
    options = {"skip_invalid": args.skip_invalid, "flag_out_of_range": args.flag_out_of_range}
    model = load_model(args.artifacts_dir, args.model)
    if dataset:
        # Ctrl-C during Dask's gather leaves an asyncio task holding an AllExit error that
        # asyncio logs, with a traceback, when the task is collected at exit; the one line
        # of main() says what happened. A library caller's own asyncio logging is left alone.
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        cluster = {"scheduler": args.scheduler, "workers": args.workers}
        done = predict_dataset(args.input, args.output, model, **cluster, **options)
    else:
        done = predict_file(args.input, args.output, model, **options)
    if not args.quiet:
        print(_closing_line(done, model.name), file=sys.stderr)
    return errors.EXIT_DONE


def _closing_line(done, model_name: str) -> str:
    """``Scored N rows with the M model into X; K rejected, ...; J outside the training range``."""
    line = f"Scored {done.rows_scored:,} row{'' if done.rows_scored == 1 else 's'}"
    line += f" with the {model_name} model" + (f" into {done.output}" if done.output else "")
    if done.rejects and done.rows_rejected:
        line += f"; {done.rows_rejected:,} rejected, listed in {done.rejects}"
    elif done.rejects:
        line += f"; none rejected ({done.rejects} holds the header only)"
    outside = f"{done.outside:,} with a feature" if done.outside else "none"
    line += f"; {outside} outside the training range"
    if model_name == "integer":
        line += f" ({done.clamped:,} clamped to it by the integer model)"
    return line


def _export(args: argparse.Namespace) -> int:
    to_c = args.format == "c"
    _refuse(
        (args.format not in ("onnx", "c"), f"--format must be onnx or c, got {args.format!r}"),
        (
            to_c and args.model != "integer",
            f"--format c writes the integer-only model, not --model {args.model} (float "
            "arithmetic, exported as ONNX): use --model integer",
        ),
        (args.output == "" and to_c, "-o is empty: give the folder to write the C files into"),
        (args.output == "", "-o is empty: give the name of the .onnx file to write"),
    )
    from calhousing.export.model_card import CARD_FILE, model_card

    run = Run.open(args.artifacts_dir)
    if to_c:
        from calhousing.export import c

        files = c.load_c_export(run)
        files[CARD_FILE] = model_card(run, "integer", c.HEADER_FILE, library="c")
        with _cannot_write(f"the C files into {args.output!r}"):
            written = c.write_folder(args.output, files)
        *names, last = files
        print(f"Wrote the integer model as C to {written}: {', '.join(names)} and {last}")
        return errors.EXIT_DONE
    from calhousing.export import onnx as onnx_export  # onnx only here: predict never imports it

    serialized = onnx_export.model_bytes(onnx_export.load_export(run, args.model))
    card = model_card(run, args.model, os.path.basename(args.output)).encode()
    with _cannot_write(repr(args.output)):
        written = write_bytes(args.output, serialized)
        write_bytes(written.parent / CARD_FILE, card)
    print(f"Wrote the {args.model} model to {written} ({len(serialized):,} bytes), its card beside")
    return errors.EXIT_DONE


def _refuse(*checks: tuple[bool, str]) -> None:
    """Raise UsageError with the message of the first check whose condition holds."""
    for wrong, message in checks:
        if wrong:
            raise errors.UsageError(message)


@contextlib.contextmanager
def _cannot_write(what: str) -> Iterator[None]:
    """The output's own ``OSError`` as an ``OutputError``; a failed read says what it was."""
    try:
        yield
    except OSError as error:
        raise errors.OutputError(f"cannot write {what}: {error.strerror or error}") from error
