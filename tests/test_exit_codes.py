"""Every command's exit code: 0 done, 1 failed, 2 bad usage or parameter, 130 interrupted."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest

from calhousing import cli
from calhousing.errors import (
    ArtifactError,
    InputError,
    Interrupted,
    ManifestError,
    UsageError,
    exit_code,
)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (KeyboardInterrupt("SIGINT"), 130),
        (Interrupted("previous artifacts and reports are unchanged"), 130),
        (UsageError("bits must be an integer from 2 to 16, got 17"), 2),
        (ManifestError("comparison.json differs from manifest.json"), 1),
        (ArtifactError("artifacts_dir '/x' does not exist"), 1),
        (InputError("line 3: MedInc is not a number"), 1),
        (ValueError("a value in a file is wrong"), 1),
        (PermissionError(13, "Permission denied"), 1),
        (RuntimeError("another calhousing run (process 7) is writing to /x"), 1),
        (TypeError("a bug"), None),
        (AttributeError("a bug"), None),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_each_kind_of_error_has_its_exit_code(error, code):
    assert exit_code(error) == code


@pytest.mark.parametrize("command", ["run", "summary"])
@pytest.mark.parametrize(
    ("error", "code", "line"),
    [
        (UsageError("bits must be 2..16, got 17"), 2, "error: bits must be 2..16, got 17"),
        (ManifestError("sweep.csv changed"), 1, "error: sweep.csv changed"),
        (
            Interrupted("previous artifacts and reports are unchanged"),
            130,
            "interrupted; previous artifacts and reports are unchanged",
        ),
        (KeyboardInterrupt("SIGTERM"), 130, "interrupted"),
    ],
)
def test_main_turns_what_stopped_a_command_into_one_line_and_its_code(
    monkeypatch, capsys, command, error, code, line
):
    def stopped(*args):
        raise error

    monkeypatch.setattr(cli, {"run": "_run", "summary": "_summary"}[command], stopped)
    assert cli.main([command]) == code
    assert capsys.readouterr().err == f"calhousing {command}: {line}\n"


def test_python_m_exits_130_when_the_interrupt_passed_through_exec(tmp_path):
    # Imports build dataclasses and named tuples by running source text; a Ctrl-C that lands
    # there made `python -m calhousing` die by SIGINT (-2) after printing its one line.
    (tmp_path / "sitecustomize.py").write_text(
        "from calhousing import cli\n"
        "def interrupted(args):\n"
        "    exec('raise KeyboardInterrupt')\n"
        "cli._summary = interrupted\n"
    )
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "calhousing", "summary"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (130, "calhousing summary: interrupted\n")


def test_a_bug_keeps_its_traceback(monkeypatch):
    def broken(*args):
        raise TypeError("a bug")

    monkeypatch.setattr(cli, "_run", broken)
    with pytest.raises(TypeError, match="a bug"):
        cli.main(["run"])


def test_bad_usage_exits_2_before_anything_runs(capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(["run", "--no-such-option"])
    assert raised.value.code == 2
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("True", True),
        ("False", False),
        ("None", None),
        ("8", 8),
        ("-3", -3),
        ("0.2", 0.2),
        ("1e-9", 1e-9),
        ("8.0", 8.0),
        ("symmetric", "symmetric"),
        ("true", "true"),
        ("", ""),
    ],
)
def test_parameter_values_are_typed_as_papermill_types_them(text, value):
    typed = cli.parameter_value(text)
    assert typed == value
    assert type(typed) is type(value)


def test_nan_is_a_float_for_the_parameter_check_to_refuse():
    assert math.isnan(cli.parameter_value("nan"))


def test_a_bad_parameter_is_refused_before_papermill_is_imported(tmp_path):
    # The refusal is promised "in about a second": papermill's import alone takes longer.
    code = (
        "import sys\n"
        "from calhousing import cli\n"
        f"status = cli.main(['run', '-p', 'bits', '17', '--artifacts-dir', {str(tmp_path)!r}])\n"
        "print(status, 'papermill' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["2", "False"]
    assert "bits must be an integer from 2 to 16, got 17" in done.stderr
