"""The artifacts manifest: what each file must hash to, and where it came from.

``artifacts/manifest.json`` records, for every artifact, its sha256 and size, and
for the run its parameters, library versions, git commit and a sha256 of the
training arrays. Loaders check a file against it before reading anything, so a
changed, truncated or missing file is refused instead of unpickled or trusted.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

MANIFEST_FILE = "manifest.json"
_VERSIONED_PACKAGES = ("numpy", "scikit-learn", "pandas", "calhousing")


class ManifestError(ValueError):
    """An artifact does not match the manifest (or the manifest is missing)."""


def file_digest(path: Path) -> dict[str, Any]:
    """sha256 and size in bytes of the file at `path`."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return {"sha256": digest.hexdigest(), "size": path.stat().st_size}


def arrays_digest(*arrays: np.ndarray) -> str:
    """sha256 over the dtype, shape and bytes of each array: the data's lineage."""
    digest = hashlib.sha256()
    for array in arrays:
        contiguous = np.ascontiguousarray(array)
        digest.update(f"{contiguous.dtype.str}{contiguous.shape}".encode())
        digest.update(contiguous.tobytes())
    return digest.hexdigest()


def library_versions(packages: tuple[str, ...] = _VERSIONED_PACKAGES) -> dict[str, str | None]:
    """Python's version and those of `packages` (``None`` for one not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def environment() -> dict[str, Any]:
    """Versions of Python and the packages results depend on, and the git commit."""
    return {"versions": library_versions(), "git_commit": git_commit()}


def git_commit(folder: Path | None = None) -> str | None:
    """The checked-out commit of the project, or ``None`` outside a git checkout."""
    try:
        return _git(folder, "rev-parse", "HEAD") or None
    except (OSError, subprocess.SubprocessError):
        return None


def git_is_dirty(folder: Path | None = None) -> bool:
    """Whether tracked files differ from the checked-out commit (``False`` outside git)."""
    try:
        return bool(_git(folder, "status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return False


def _git(folder: Path | None, *args: str) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=folder or Path(__file__).resolve().parent,
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return result.stdout.strip()


def record_files(manifest: dict[str, Any], folder: Path, names: list[str]) -> dict[str, Any]:
    """A copy of `manifest` with the current digest of each named file in `folder`."""
    files = {**manifest.get("files", {})}
    for name in names:
        files[name] = file_digest(folder / name)
    return {**manifest, "files": dict(sorted(files.items()))}


def verify_files(manifest: dict[str, Any] | None, folder: Path, names: list[str]) -> None:
    """Check each named file against `manifest` before it is read.

    Raises
    ------
    ManifestError
        Naming the file and what differed: not listed, missing, size or sha256.
    """
    if manifest is None:
        raise ManifestError(
            f"{folder / MANIFEST_FILE} is missing, so the artifacts in {folder} cannot be "
            "verified; re-run the pipeline (calhousing run) to recreate them"
        )
    files = manifest.get("files", {})
    for name in names:
        path = folder / name
        expected = files.get(name)
        if expected is None:
            raise ManifestError(
                f"{path} is not listed in {MANIFEST_FILE}; re-run the step that writes it"
            )
        if not path.is_file():
            raise ManifestError(f"{path} is listed in {MANIFEST_FILE} but missing")
        actual = file_digest(path)
        if actual["size"] != expected["size"]:
            raise ManifestError(
                f"{path} has {actual['size']} bytes but {MANIFEST_FILE} records "
                f"{expected['size']}: it was truncated or changed after it was written"
            )
        if actual["sha256"] != expected["sha256"]:
            raise ManifestError(
                f"{path} does not match its sha256 in {MANIFEST_FILE} "
                f"(expected {expected['sha256'][:12]}…, found {actual['sha256'][:12]}…): "
                "it was changed after it was written"
            )
