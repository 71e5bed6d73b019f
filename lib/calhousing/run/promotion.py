"""Moving a finished run's outputs into place so that no crash leaves a mix.

The steps are those of ``docs/guarantees.md``; each can be repeated, so once a journal exists
the new outputs win. The caller holds every target's lock.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from calhousing.errors import JournalError

STAGING_PREFIX = ".calhousing-new-"
BACKUP_PREFIX = ".calhousing-old-"
JOURNAL_FILE = ".calhousing-promotion.json"


def stage(target: Path) -> Path:
    """A fresh staging folder inside `target` (created if needed): on its file system, so
    every move is a rename."""
    target.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=target))


def promote(staged: Sequence[Path]) -> None:
    """Move every entry of each staging folder into its parent, or raise what stopped it:
    before a journal exists nothing moved (the staging folders are the caller's to remove);
    after, the promotion was finished, or the journals stay for :func:`recover`."""
    journal: dict[str, Any] = {"version": 1, "moves": []}
    for folder in staged:
        backup = folder.name.replace(STAGING_PREFIX, BACKUP_PREFIX)
        move = {"target": str(folder.parent), "staged": folder.name, "backup": backup}
        journal["moves"].append({**move, "entries": sorted(os.listdir(folder))})
        for root, _, files in os.walk(folder):  # flushed, so that a journal never names lost data
            _fsync(root)
            for path in (os.path.join(root, name) for name in files):
                if os.path.isfile(path) and not os.path.islink(path):  # a FIFO would block open
                    _fsync(path)
    try:
        for folder in staged:
            _write_journal(folder.parent / JOURNAL_FILE, journal)
        _finish(journal)
    except BaseException:
        if any(is_pending(folder.parent) for folder in staged):
            _finish(journal)  # every step repeats safely; if this fails too, recover() will
        raise


def is_pending(target: Path) -> bool:
    return os.path.lexists(target / JOURNAL_FILE)


def recover(target: Path) -> None:
    """Finish a promotion interrupted in `target`, then remove what killed runs left there;
    JournalError if the journal cannot be read."""
    if not target.is_dir():
        return
    _finish(_read_journal(target))
    for entry in target.iterdir():
        if entry.name.startswith((STAGING_PREFIX, BACKUP_PREFIX, f"{JOURNAL_FILE}.")):
            _remove(entry)


def journal_targets(target: Path) -> list[Path]:
    """The existing targets an interrupted promotion journaled in `target` moves into."""
    try:
        moved_into = [Path(move["target"]) for move in _read_journal(target)["moves"]]
    except JournalError:
        return []
    return [other for other in moved_into if other.parent.is_dir()]


def _finish(journal: dict[str, Any]) -> None:
    moves = [(Path(move["target"]), move) for move in journal["moves"]]
    for target, move in moves:
        staged, backup = target / move["staged"], target / move["backup"]
        if not staged.is_dir():
            continue  # this target's entries were all moved already
        for name in move["entries"]:
            if os.path.lexists(staged / name):
                if os.path.lexists(target / name):
                    backup.mkdir(exist_ok=True)
                    _rename(target / name, backup / name)
                _rename(staged / name, target / name)
        _fsync(target)
    for target, move in moves:
        _remove(target / move["backup"])
        _remove(target / move["staged"])
    for target, _ in moves:
        _remove(target / JOURNAL_FILE)


def _read_journal(target: Path) -> dict[str, Any]:
    """The journal in `target` (no moves if there is none), checked to move only plain names."""
    path = target / JOURNAL_FILE
    try:
        journal = json.loads(path.read_text(encoding="utf-8"))
        if journal.get("version") != 1:
            raise ValueError(f"unknown journal version {journal.get('version')!r}")
        for move in journal["moves"]:
            names = [move["staged"], move["backup"], *move["entries"]]
            if not isinstance(move["target"], str) or any(
                not isinstance(n, str) or n in ("", ".", "..") or {"/", "\0"} & set(n)
                for n in names
            ):
                raise ValueError("a journal entry is not a plain file name")
    except FileNotFoundError:
        return {"moves": []}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise JournalError(
            f"cannot read {path}, the record of an interrupted run's move of its outputs "
            f"({error}); check the folder's contents, then delete {path.name} and run again"
        ) from None
    return journal


# The steps of a promotion, named so that the tests can stop it after any of them.
_rename = os.rename


def _write_journal(path: Path, journal: dict[str, Any]) -> None:
    temporary = path.with_name(f"{path.name}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as stream:
            json.dump(journal, stream, indent=1)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync(path.parent)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _fsync(path: str | Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
