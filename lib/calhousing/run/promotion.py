"""Moving a finished run's outputs into place so that no crash leaves a mix.

Each target folder gets a staging folder inside it (``.calhousing-new-*``, on the target's
own file system, so every move is a rename, never a copy, even onto a Docker volume). Promotion
writes an fsynced journal into every target, renames each old entry into a backup folder and
the new one into place, then removes the backup, staging folders and journals. Every step can
be repeated, so once a journal exists the new outputs win: :func:`finish` completes a promotion
interrupted anywhere (even by SIGKILL), and :func:`recover` does so for the next run. See
``docs/guarantees.md``. The caller must hold every target's lock.
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
_JOURNAL_VERSION = 1


def stage(target: Path) -> Path:
    """Create `target` if needed and a fresh, empty staging folder inside it."""
    target.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=target))


def promote(staged: Sequence[Path]) -> None:
    """Move every entry of each complete staging folder (:func:`stage`) into its parent.

    Raises
    ------
    BaseException
        Whatever stopped it. Before any journal was written nothing moved (the staging
        folders are the caller's to remove); after, the promotion was finished here, or,
        when that failed too, the journals stay for :func:`recover` (see :func:`is_pending`).
    """
    journal = {
        "version": _JOURNAL_VERSION,
        "moves": [
            {
                "target": str(folder.parent),
                "staged": folder.name,
                "backup": BACKUP_PREFIX + folder.name.removeprefix(STAGING_PREFIX),
                "entries": sorted(entry.name for entry in folder.iterdir()),
            }
            for folder in staged
        ],
    }
    for folder in staged:
        _fsync_tree(folder)
    try:
        for folder in staged:
            _write_journal(folder.parent / JOURNAL_FILE, journal)
        finish(journal)
    except BaseException:
        if any(is_pending(folder.parent) for folder in staged):
            finish(journal)  # every step repeats safely; if this fails too, recover() will
        raise


def is_pending(target: Path) -> bool:
    """Whether `target` holds the journal of a promotion not yet finished."""
    return os.path.lexists(target / JOURNAL_FILE)


def finish(journal: dict[str, Any]) -> None:
    """Complete the promotion `journal` describes, from wherever it was interrupted."""
    moves = _moves(journal)
    for target, staged, backup, entries in moves:
        if not staged.is_dir():
            continue  # this target's entries were all moved already
        for name in entries:
            new = staged / name
            if not os.path.lexists(new):
                continue
            old = target / name
            if os.path.lexists(old):
                backup.mkdir(exist_ok=True)
                _rename(old, backup / name)
            _rename(new, target / name)
        _fsync(target, os.O_DIRECTORY)
    for _, staged, backup, _ in moves:
        _remove_tree(backup)
        _remove_tree(staged)
    for target, *_ in moves:
        _remove_file(target / JOURNAL_FILE)


def recover(target: Path) -> None:
    """Finish a promotion interrupted in `target` (:func:`read_journal` may raise), then
    remove what killed runs left there."""
    if not target.is_dir():
        return
    journal = read_journal(target)
    if journal is not None:
        finish(journal)
    for entry in target.iterdir():
        if entry.name.startswith((STAGING_PREFIX, BACKUP_PREFIX, f"{JOURNAL_FILE}.")):
            _remove_tree(entry)


def journal_targets(target: Path) -> list[Path]:
    """The targets an interrupted promotion journaled in `target` moves into (often none)."""
    try:
        journal = read_journal(target)
    except JournalError:
        return []
    return [] if journal is None else [move[0] for move in _moves(journal)]


def read_journal(target: Path) -> dict[str, Any] | None:
    """The promotion journal in `target`, ``None`` if there is none; JournalError if unreadable."""
    path = target / JOURNAL_FILE
    try:
        journal = json.loads(path.read_text(encoding="utf-8"))
        _moves(journal)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise JournalError(
            f"cannot read {path}, the record of an interrupted run's move of its outputs "
            f"({error}); check the folder's contents, then delete {path.name} and run again"
        ) from None
    return journal


def _moves(journal: dict[str, Any]) -> list[tuple[Path, Path, Path, list[str]]]:
    if journal.get("version") != _JOURNAL_VERSION:
        raise ValueError(f"unknown journal version {journal.get('version')!r}")
    moves = []
    for move in journal["moves"]:
        target = Path(move["target"])
        names = [move["staged"], move["backup"], *move["entries"]]
        if not all(isinstance(name, str) and _is_plain_name(name) for name in names):
            raise ValueError("a journal entry is not a plain file name")
        moves.append(
            (target, target / move["staged"], target / move["backup"], list(move["entries"]))
        )
    return moves


def _is_plain_name(name: str) -> bool:
    return name not in ("", ".", "..") and "/" not in name and "\0" not in name


def _write_journal(path: Path, journal: dict[str, Any]) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            json.dump(journal, stream, indent=1)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync(path.parent, os.O_DIRECTORY)


def _rename(source: Path, destination: Path) -> None:
    os.rename(source, destination)


def _remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def _remove_file(path: Path) -> None:
    path.unlink(missing_ok=True)


def _fsync_tree(folder: Path) -> None:
    """Flush the files under `folder` to disk, so a journal never names lost data."""
    _fsync(folder, os.O_DIRECTORY)
    for root, dirs, files in os.walk(folder):
        for path in (Path(root, name) for name in (*dirs, *files)):
            if path.is_file() and not path.is_symlink():
                _fsync(path)
            elif path.is_dir():
                _fsync(path, os.O_DIRECTORY)


def _fsync(path: Path, flags: int = 0) -> None:
    descriptor = os.open(path, os.O_RDONLY | flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
