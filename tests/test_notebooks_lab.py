"""The notebooks as JupyterLab users meet them: opened, saved, run top to bottom, `make lab`.

* Opening and saving a notebook without running it must not change its bytes:
  the stored kernelspec and language_info are what Lab writes from this
  environment's kernel, and the file is in the layout jupyter_server writes.
* Each notebook runs top to bottom in a fresh kernel with its defaults, as
  Lab's "Run All" does, against the artifacts of a real `make report` run.
* `make lab` starts a JupyterLab server on notebooks/ that answers on /api.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import start_new_kernel
from jupyter_server.services.contents.filemanager import FileContentsManager
from nbclient import NotebookClient

from calhousing.pipeline import NOTEBOOK_NAMES
from calhousing.run.artifacts import project_root

NOTEBOOKS = project_root() / "notebooks"
LAB_START_SECONDS = 90


def _notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


@pytest.fixture(scope="module")
def kernel_language_info() -> dict:
    """What this environment's python3 kernel reports, which Lab writes as language_info."""
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        return client.kernel_info(reply=True, timeout=60)["content"]["language_info"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_every_pipeline_notebook_is_here():
    assert sorted(path.name for path in _notebook_paths()) == sorted(NOTEBOOK_NAMES)


@pytest.mark.parametrize("path", _notebook_paths(), ids=lambda path: path.name)
def test_saving_through_jupyter_server_leaves_the_file_byte_for_byte(path, tmp_path):
    shutil.copy(path, tmp_path / path.name)
    contents = FileContentsManager(root_dir=str(tmp_path))
    model = contents.get(path.name, content=True)
    contents.save(model, path.name)
    assert (tmp_path / path.name).read_bytes() == path.read_bytes()


@pytest.mark.parametrize("path", _notebook_paths(), ids=lambda path: path.name)
def test_stored_kernel_metadata_is_what_lab_writes_on_opening(path, kernel_language_info):
    metadata = json.loads(path.read_text(encoding="utf-8"))["metadata"]
    spec = KernelSpecManager().get_kernel_spec("python3")
    assert metadata["kernelspec"] == {
        "display_name": spec.display_name,
        "language": spec.language,
        "name": "python3",
    }
    # Lab copies the kernel's language_info; its Python patch version is this machine's.
    stored = dict(metadata["language_info"])
    running = dict(kernel_language_info)
    assert stored.pop("version").split(".")[:2] == running.pop("version").split(".")[:2]
    assert stored == running


def test_nbstripout_keeps_the_kernel_metadata_and_changes_nothing(tmp_path):
    copies = [shutil.copy(path, tmp_path / path.name) for path in _notebook_paths()]
    nbstripout = Path(sys.executable).parent / "nbstripout"
    subprocess.run([str(nbstripout), "--keep-id", *map(str, copies)], check=True, timeout=60)
    for path in _notebook_paths():
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


@pytest.mark.slow
def test_each_notebook_runs_top_to_bottom_with_its_defaults_after_a_run(
    pipeline_run, tmp_path, monkeypatch
):
    # A copy of the run's artifacts: 01_train rewrites what it finds, and the session's run
    # must stay as it was for the other tests.
    artifacts = tmp_path / "artifacts"
    shutil.copytree(pipeline_run["artifacts"], artifacts)
    monkeypatch.setenv("CALHOUSING_ARTIFACTS_DIR", str(artifacts))
    for name in NOTEBOOK_NAMES:
        notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
        client = NotebookClient(
            notebook,
            kernel_name="python3",
            timeout=600,
            resources={"metadata": {"path": str(NOTEBOOKS)}},
        )
        client.execute()
        errors = [
            output
            for cell in notebook.cells
            for output in cell.get("outputs", [])
            if output.output_type == "error"
        ]
        assert errors == [], name
        shown = [cell for cell in notebook.cells if cell.cell_type == "code" and cell.outputs]
        assert shown, f"{name} showed nothing"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_make_lab_starts_jupyterlab_on_the_notebooks(tmp_path):
    port = _free_port()
    token = "calhousing-test"
    flags = f"--no-browser --port={port} --ServerApp.ip=127.0.0.1 --IdentityProvider.token={token}"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    lab = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"LAB_FLAGS={flags}"],
        cwd=project_root(),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        status, contents = None, None
        deadline = time.monotonic() + LAB_START_SECONDS
        while time.monotonic() < deadline and lab.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=5) as reply:
                    status = json.load(reply)
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/contents",
                    headers={"Authorization": f"token {token}"},
                )
                with urllib.request.urlopen(request, timeout=5) as reply:
                    contents = json.load(reply)
                break
            except OSError:
                time.sleep(1)
        assert status is not None, f"make lab did not answer on /api within {LAB_START_SECONDS} s"
        assert "version" in status
        listed = {item["name"] for item in contents["content"]}
        assert set(NOTEBOOK_NAMES) <= listed
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab", timeout=10) as reply:
            assert reply.status == 200
    finally:
        _stop(lab)


def _stop(process: subprocess.Popen) -> None:
    """End `process` and its children (make, then jupyter), which share its session."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
