"""Moving outputs into place: a failure after any step leaves the old outputs or the new ones.

Each test stops a promotion after a given number of its steps (a journal written,
an entry renamed, a folder or journal removed): with an exception, with a signal,
or with the process dying at once (``os._exit``, as SIGKILL would), and checks both
folders byte for byte against the complete old and the complete new outputs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from calhousing import errors
from calhousing.run import promotion, signals

from conftest import outputs_digest

OLD = {
    "artifacts": {"a.json": "old a", "b.json": "old b"},
    "reports": {"executed/01.ipynb": "old 01", "report.html": "old report"},
}
STAGED = {
    "artifacts": {"a.json": "new a", "c.json": "new c"},
    "reports": {"executed/01.ipynb": "new 01", "executed/02.ipynb": "new 02", "report.html": "new"},
}
# b.json is not an output of the new run, so it stays; executed/ is replaced as a whole.
NEW = {
    "artifacts": {"a.json": "new a", "b.json": "old b", "c.json": "new c"},
    "reports": {"executed/01.ipynb": "new 01", "executed/02.ipynb": "new 02", "report.html": "new"},
}
# Every step of promoting STAGED over OLD, in order (paths relative to the two targets).
STEPS = [
    ("write journal", "artifacts/.calhousing-promotion.json"),
    ("write journal", "reports/.calhousing-promotion.json"),
    ("rename", "artifacts/a.json -> artifacts/OLD/a.json"),
    ("rename", "artifacts/NEW/a.json -> artifacts/a.json"),
    ("rename", "artifacts/NEW/c.json -> artifacts/c.json"),
    ("rename", "reports/executed -> reports/OLD/executed"),
    ("rename", "reports/NEW/executed -> reports/executed"),
    ("rename", "reports/report.html -> reports/OLD/report.html"),
    ("rename", "reports/NEW/report.html -> reports/report.html"),
    ("remove", "artifacts/OLD"),
    ("remove", "artifacts/NEW"),
    ("remove", "reports/OLD"),
    ("remove", "reports/NEW"),
    ("remove", "artifacts/.calhousing-promotion.json"),
    ("remove", "reports/.calhousing-promotion.json"),
]
_STEP_FUNCTIONS = {"_write_journal": "write journal", "_rename": "rename", "_remove": "remove"}


def _digest_of(files: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    import hashlib

    return {
        name: {path: hashlib.sha256(text.encode()).hexdigest() for path, text in tree.items()}
        for name, tree in files.items()
    }


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def prepared(tmp_path) -> tuple[Path, list[Path]]:
    """OLD in tmp_path/artifacts and tmp_path/reports, STAGED in a staging folder in each."""
    staged = []
    for name in ("artifacts", "reports"):
        _write(tmp_path / name, OLD[name])
        folder = promotion.stage(tmp_path / name)
        _write(folder, STAGED[name])
        staged.append(folder)
    return tmp_path, staged


def _leftovers(root: Path) -> list[str]:
    return sorted(
        str(path.relative_to(root))
        for name in ("artifacts", "reports")
        for path in (root / name).iterdir()
        if path.name.startswith(".calhousing")
    )


class _Stop(Exception):
    """The injected failure."""


def _inject(monkeypatch, root: Path, after: int, *, fail, again: bool = False) -> list:
    """Call `fail` when step `after` + 1 is about to start (and at every later step if `again`)."""
    seen: list[tuple[str, str]] = []
    calls = [0]
    for function, kind in _STEP_FUNCTIONS.items():
        original = getattr(promotion, function)

        def step(*paths, _original=original, _kind=kind):
            calls[0] += 1
            if calls[0] == after + 1 or (again and calls[0] > after):
                fail()
            seen.append((_kind, _describe(root, paths)))
            return _original(*paths)

        monkeypatch.setattr(promotion, function, step)
    return seen


def _describe(root: Path, paths) -> str:
    names = []
    for path in paths[:2]:
        if not isinstance(path, Path):
            continue
        text = str(path.relative_to(root))
        for prefix, label in ((promotion.STAGING_PREFIX, "NEW"), (promotion.BACKUP_PREFIX, "OLD")):
            parts = [label if part.startswith(prefix) else part for part in text.split("/")]
            text = "/".join(parts)
        names.append(text)
    return " -> ".join(names)


def test_a_promotion_takes_exactly_these_steps(prepared, monkeypatch):
    root, staged = prepared
    seen = _inject(monkeypatch, root, after=len(STEPS) + 1, fail=lambda: None)
    promotion.promote(staged)
    assert seen == STEPS
    assert outputs_digest(root) == _digest_of(NEW)
    assert _leftovers(root) == []


@pytest.mark.parametrize("after", range(len(STEPS)), ids=lambda k: f"after-{k}-steps")
def test_an_exception_after_any_step_leaves_old_or_new_outputs(prepared, monkeypatch, after):
    root, staged = prepared

    def fail():
        raise _Stop("injected")

    _inject(monkeypatch, root, after, fail=fail)
    with pytest.raises(_Stop):
        promotion.promote(staged)
    if after == 0:  # no journal yet: nothing moved, the staging folders are the caller's
        assert _leftovers(root) == sorted(str(folder.relative_to(root)) for folder in staged)
        for folder in staged:
            shutil.rmtree(folder)
        assert outputs_digest(root) == _digest_of(OLD)
    else:  # the journal exists: promote() finished the move before raising
        assert outputs_digest(root) == _digest_of(NEW)
        assert _leftovers(root) == []


@pytest.mark.parametrize("after", range(1, len(STEPS)), ids=lambda k: f"after-{k}-steps")
def test_a_lasting_failure_is_finished_by_the_next_recover(prepared, monkeypatch, after):
    root, staged = prepared

    def fail():
        raise _Stop("the disk went away")

    _inject(monkeypatch, root, after, fail=fail, again=True)
    with pytest.raises(_Stop):
        promotion.promote(staged)
    assert any(promotion.is_pending(root / name) for name in ("artifacts", "reports"))
    monkeypatch.undo()
    for name in ("artifacts", "reports"):
        promotion.recover(root / name)
    assert outputs_digest(root) == _digest_of(NEW)
    assert _leftovers(root) == []


@pytest.mark.parametrize("after", range(len(STEPS)), ids=lambda k: f"after-{k}-steps")
def test_a_signal_during_promotion_waits_for_it_to_finish(prepared, monkeypatch, after):
    root, staged = prepared
    _inject(monkeypatch, root, after, fail=lambda: os.kill(os.getpid(), signal.SIGINT))
    with pytest.raises(KeyboardInterrupt, match="SIGINT"):
        with signals.handled(), signals.deferred():
            promotion.promote(staged)
    assert outputs_digest(root) == _digest_of(NEW)
    assert _leftovers(root) == []


_KILLED = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from calhousing.run import promotion

    after, staged = int(sys.argv[1]), [Path(p) for p in sys.argv[2:]]
    steps = []
    for function in ("_write_journal", "_rename", "_remove"):
        original = getattr(promotion, function)
        def step(*paths, _original=original):
            if len(steps) == after:
                os._exit(137)  # as SIGKILL: no clean-up, no finally
            steps.append(paths)
            return _original(*paths)
        setattr(promotion, function, step)
    promotion.promote(staged)
    """
)


@pytest.mark.parametrize("after", range(len(STEPS) + 1), ids=lambda k: f"after-{k}-steps")
def test_a_process_killed_after_any_step_is_finished_or_undone_by_recover(prepared, after):
    root, staged = prepared
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED, str(after), *map(str, staged)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert killed.returncode == (137 if after < len(STEPS) else 0), killed.stderr
    for name in ("artifacts", "reports"):
        promotion.recover(root / name)
    assert outputs_digest(root) == _digest_of(OLD if after == 0 else NEW)
    assert _leftovers(root) == []


def test_recover_removes_staging_and_backups_that_no_journal_names(tmp_path):
    target = tmp_path / "artifacts"
    _write(target, {"a.json": "kept", ".calhousing-new-x/a.json": "s", ".calhousing-old-y/b": "b"})
    _write(target, {".calhousing-promotion.json.tmp": "{half", ".hidden": "user's own"})
    promotion.recover(target)
    assert sorted(p.name for p in target.iterdir()) == [".hidden", "a.json"]


@pytest.mark.parametrize("journal", ['{"version": 99}', "[]", '{"version": 1', "\xff"])
def test_an_unreadable_journal_is_named_not_guessed(tmp_path, journal):
    target = tmp_path / "artifacts"
    _write(target, {"a.json": "a", ".calhousing-promotion.json": journal})
    with pytest.raises(errors.JournalError, match=r"\.calhousing-promotion\.json"):
        promotion.recover(target)
    assert (target / "a.json").read_text() == "a"


def test_a_journal_cannot_move_files_outside_its_folders(tmp_path):
    target = tmp_path / "artifacts"
    journal = {
        "version": 1,
        "moves": [
            {"target": str(target), "staged": "..", "backup": ".calhousing-old-x", "entries": []}
        ],
    }
    _write(target, {".calhousing-promotion.json": json.dumps(journal)})
    with pytest.raises(errors.JournalError, match="not a plain file name"):
        promotion.recover(target)
    assert tmp_path.exists() and target.exists()
