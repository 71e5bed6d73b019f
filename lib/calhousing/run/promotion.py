"""Moving a finished run's outputs into place so that no crash leaves a mix.

A run writes its outputs into a staging folder inside each target folder
(``artifacts/.calhousing-new-*``), on the target's own file system, so that moving
them into place is a rename, never a copy, even when the target is a Docker volume
or another mount. Promotion then

1. writes a journal, ``.calhousing-promotion.json``, into every target (fsynced),
   naming each target's staging and backup folders and the entries to move;
2. for each entry, renames the old one (if any) into the backup folder, then the
   new one into place;
3. removes the backup and staging folders, then the journals.

Once a journal exists the new outputs are complete, and they win: every step is a
rename or a removal that can be repeated, so :func:`finish` completes a promotion
interrupted at any point (an exception, a crash, SIGKILL), and :func:`recover`,
which the next run calls first, does so and removes whatever staging or backup
folders killed runs left. Entries of a target that the run did not write (a
user's own files) stay as they are.

The caller must hold every target's lock: nothing here guards against two
processes promoting into one folder at once.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
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
    """Move every entry of each staging folder into the folder that holds it.

    Parameters
    ----------
    staged : sequence of pathlib.Path
        Folders made by :func:`stage`, complete: each one's outputs replace the
        entries of the same name in its parent, all or none.

    Raises
    ------
    BaseException
        Whatever stopped it. If that happened before any journal was written,
        nothing moved (the staging folders are the caller's to remove); after, the
        promotion was finished here, or, when finishing failed too, the journals
        stay and the next :func:`recover` finishes it (see :func:`is_pending`).
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
        if any(_exists(folder.parent / JOURNAL_FILE) for folder in staged):
            finish(journal)  # every step repeats safely; if this fails too, recover() will
        raise


def is_pending(target: Path) -> bool:
    """Whether `target` holds the journal of a promotion not yet finished."""
    return _exists(target / JOURNAL_FILE)


def finish(journal: dict[str, Any]) -> None:
    """Complete the promotion `journal` describes, from wherever it was interrupted."""
    moves = _moves(journal)
    for target, staged, backup, entries in moves:
        if not staged.is_dir():
            continue  # this target's entries were all moved already
        for name in entries:
            new = staged / name
            if not _exists(new):
                continue
            old = target / name
            if _exists(old):
                backup.mkdir(exist_ok=True)
                _rename(old, backup / name)
            _rename(new, target / name)
        _fsync_dir(target)
    for _, staged, backup, _ in moves:
        _remove_tree(backup)
        _remove_tree(staged)
    for target, *_ in moves:
        _remove_file(target / JOURNAL_FILE)


def recover(target: Path) -> None:
    """Finish a promotion interrupted in `target`, then remove what killed runs left there.

    Raises
    ------
    JournalError
        When `target` holds a journal that cannot be read.
    """
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
    """The promotion journal in `target`, or ``None`` when there is none."""
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


def _exists(path: Path) -> bool:
    return os.path.lexists(path)


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
    _fsync_dir(path.parent)


def _rename(source: Path, destination: Path) -> None:
    os.rename(source, destination)


def _remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif _exists(path):
        path.unlink()


def _remove_file(path: Path) -> None:
    path.unlink(missing_ok=True)


def _fsync_tree(folder: Path) -> None:
    """Flush the files under `folder` to disk, so a journal never names lost data."""
    for path in _walk(folder):
        if path.is_file() and not path.is_symlink():
            descriptor = os.open(path, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        elif path.is_dir():
            _fsync_dir(path)


def _walk(folder: Path) -> Iterable[Path]:
    yield folder
    for root, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            yield Path(root, name)


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
