"""The artifacts manifest: what each file must hash to, and which step made it from what.

See ``docs/run-state.md``.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shlex
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from calhousing import params
from calhousing.errors import ManifestError, SchemaError, StaleArtifactError
from calhousing.run.schema import SHA256, TEXT, integer, list_of, map_of, record, validate

MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 2
# The packages the results depend on: the manifest records their versions, the report lists them.
VERSIONED_PACKAGES = tuple(
    "calhousing numpy pandas scikit-learn scipy matplotlib papermill nbconvert".split()
)
_REFRESH = "re-run the pipeline (`calhousing run`) to rewrite it"

MANIFEST_SCHEMA = record(
    {
        "manifest_version": integer(),
        "files": map_of(record({"sha256": SHA256, "size": integer(0)})),
        "steps": map_of(
            record(
                {
                    "parameters": {"type": "object"},
                    "inputs": map_of(SHA256),
                    "outputs": list_of(TEXT, min_items=1),
                }
            )
        ),
        "versions": map_of({"type": ["string", "null"]}),
        "git_commit": {"type": ["string", "null"]},
        "manifest_sha256": SHA256,
    }
)


def file_digest(path: Path) -> dict[str, Any]:
    """sha256 and size in bytes of the file at `path`."""
    with path.open("rb") as stream:
        digest = hashlib.file_digest(stream, "sha256").hexdigest()
    return {"sha256": digest, "size": path.stat().st_size}


def library_versions(packages: tuple[str, ...] = VERSIONED_PACKAGES) -> dict[str, str | None]:
    """Python's version and those of `packages` (``None`` for one not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def git_commit(folder: Path | None = None) -> str | None:
    """The checked-out commit of the project, or ``None`` outside a git checkout."""
    return _git(folder, "rev-parse", "HEAD") or None


def git_is_dirty(folder: Path | None = None) -> bool:
    """Whether tracked files differ from the checked-out commit (``False`` outside git)."""
    return bool(_git(folder, "status", "--porcelain", "--untracked-files=no"))


def _git(folder: Path | None, *args: str) -> str:
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=folder or Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return result.stdout.strip()


def read(folder: Path) -> dict[str, Any] | None:
    """The manifest in `folder`, ``None`` if there is none; a :class:`ManifestError` if it is
    not JSON, not of this version and shape, or its seal does not match."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ManifestError(
            f"{path} cannot be read as JSON ({error}): it is damaged; {_REFRESH}"
        ) from None
    version = data.get("manifest_version") if isinstance(data, Mapping) else None
    if isinstance(version, int) and version != MANIFEST_VERSION:
        raise ManifestError(
            f"{path}: manifest_version is {version}, this calhousing reads version "
            f"{MANIFEST_VERSION}; {_REFRESH}"
        )
    try:
        validate(data, MANIFEST_SCHEMA)
    except SchemaError as error:
        raise ManifestError(
            f"{path}: {error.where()} (it is damaged, or was written by another version of "
            f"calhousing); {_REFRESH}"
        ) from None
    if seal(data)["manifest_sha256"] != data["manifest_sha256"]:
        raise ManifestError(
            f"{path} was changed after it was written (its content no longer matches its "
            f"manifest_sha256), so it cannot vouch for any artifact; {_REFRESH}"
        )
    return data


def seal(data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` with ``manifest_sha256``, the sha256 of the rest of it."""
    body = {key: value for key, value in data.items() if key != "manifest_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return {**body, "manifest_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}


def record_step(
    manifest: Mapping[str, Any] | None,
    folder: Path,
    step: str,
    outputs: list[str],
    inputs: list[str],
    parameters: Mapping[str, Any],
) -> dict[str, Any]:
    """A sealed copy of `manifest` (``None``: a new one) recording that `step` wrote `outputs`
    from `inputs`, with the digests the step's loaders verified."""
    manifest = manifest or {"manifest_version": MANIFEST_VERSION, "files": {}, "steps": {}}
    files = {**manifest["files"], **{name: file_digest(folder / name) for name in outputs}}
    entry = {
        "parameters": dict(parameters),
        "inputs": {name: manifest["files"][name]["sha256"] for name in inputs},
        "outputs": list(outputs),
    }
    return seal(
        {
            **manifest,
            "versions": library_versions(),
            "git_commit": git_commit(),
            "files": dict(sorted(files.items())),
            "steps": {**manifest["steps"], step: entry},
        }
    )


def recorded_parameters(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter the recorded steps ran with, in the order of :data:`params.PARAMETERS`."""
    recorded = {k: v for step in manifest["steps"].values() for k, v in step["parameters"].items()}
    return {p.name: recorded[p.name] for p in params.PARAMETERS if p.name in recorded}


def producer(manifest: Mapping[str, Any], name: str) -> str | None:
    return next(
        (step for step, entry in manifest["steps"].items() if name in entry["outputs"]), None
    )


def check_lineage(
    manifest: Mapping[str, Any], names: list[str], folder: Path, *, default_folder: bool = False
) -> None:
    """Raise :class:`StaleArtifactError` for the first of `names` made (directly or further
    up) from an input that changed since, naming the commands that make it current again
    (without ``--artifacts-dir`` for the `default_folder`)."""
    problem = next(filter(None, (_stale(manifest, name, set()) for name in names)), None)
    if problem is None:
        return
    name, step, source, recorded, current = problem
    rewriter = producer(manifest, source)
    if current is None or rewriter is None:
        now = "that file is no longer recorded"
    else:
        made_with = _non_default(manifest["steps"][rewriter]["parameters"])
        settings = ", ".join(f"{key}={value!r}" for key, value in made_with.items())
        now = (
            f"that file is now {current[:8]}… (rewritten by {rewriter} "
            f"{f'with {settings}' if settings else 'with its defaults'})"
        )
    changed = _non_default(recorded_parameters(manifest))
    options = "".join(f" -p {key} {value}" for key, value in changed.items())
    where = "" if default_folder else f" --artifacts-dir {shlex.quote(str(folder))}"
    raise StaleArtifactError(
        f"{name} is stale: {step} made it from {source} sha {recorded[:8]}…, but {now}; "
        f"re-run {step} and every notebook after it: `calhousing run{where}{options}`, or "
        f"`papermill notebooks/{step}.ipynb out.ipynb -p artifacts_dir "
        f"{shlex.quote(str(folder))}` and the later notebooks"
    )


def _stale(
    manifest: Mapping[str, Any], name: str, seen: set[str]
) -> tuple[str, str, str, str, str | None] | None:
    """(stale file, its step, the changed input, sha recorded, sha now) or ``None``."""
    step = producer(manifest, name)
    if step is None or step in seen:
        return None
    seen.add(step)
    for source, recorded in manifest["steps"][step]["inputs"].items():
        current = manifest["files"].get(source, {}).get("sha256")
        if current != recorded:
            return name, step, source, recorded, current
        upstream = _stale(manifest, source, seen)
        if upstream is not None:
            return upstream
    return None


def _non_default(parameters: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in parameters.items()
        if (declared := params.BY_NAME.get(key)) is not None
        and declared.settable
        and value != declared.default
    }


def verify_files(manifest: dict[str, Any] | None, folder: Path, names: list[str]) -> None:
    """Raise :class:`ManifestError` for the first named file not as `manifest` records it."""
    if manifest is None:
        raise ManifestError(
            f"{folder / MANIFEST_FILE} is missing, so the artifacts in {folder} cannot be "
            "verified; re-run the pipeline (calhousing run) to recreate them"
        )
    for name in names:
        path, expected = folder / name, manifest["files"].get(name)
        if expected is None:
            raise ManifestError(
                f"{path} is not listed in {MANIFEST_FILE}; re-run the step that writes it"
            )
        if not path.is_file():  # removed since Run.require looked: a run moving its outputs
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
