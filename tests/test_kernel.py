"""The pipeline's shared kernel: one process for a run, a clean namespace per notebook."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import nbformat
import papermill
import pytest

from calhousing.errors import NamespaceError
from calhousing.run.kernel import clear_namespace, shared_kernel


def _notebook(path: Path, *sources: str) -> str:
    notebook = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "P"}}
    )
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, path)
    return str(path)


def _outputs(path: str) -> list[str]:
    notebook = nbformat.read(path, as_version=4)
    return [o.get("text", "") for c in notebook.cells for o in c.get("outputs", [])]


def test_notebooks_share_one_kernel_process_but_not_names(tmp_path):
    first = _notebook(
        tmp_path / "a.ipynb", "import os\nleaked, _leaked = 1, 2\nprint(os.getpid())", "leaked"
    )
    second = _notebook(
        tmp_path / "b.ipynb",
        "import os\nprint(os.getpid())\nprint('leaked' in dir(), '_leaked' in dir(), __name__)",
    )
    with shared_kernel(cwd=tmp_path) as kernel:
        for path in (first, second):
            clear_namespace(kernel)
            papermill.execute_notebook(path, path, km=kernel, progress_bar=False)
    pid_a = _outputs(first)[0].strip()
    pid_b, *names = "".join(_outputs(second)).split()
    assert pid_a == pid_b
    assert names == ["False", "False", "__main__"]


def test_without_clearing_the_namespace_a_name_would_carry_over(tmp_path):
    """Why clear_namespace exists: nbclient keeps the kernel, names and all, between notebooks."""
    first = _notebook(tmp_path / "a.ipynb", "leaked = 1")
    second = _notebook(tmp_path / "b.ipynb", "print('leaked' in dir())")
    with shared_kernel(cwd=tmp_path) as kernel:
        for path in (first, second):
            papermill.execute_notebook(path, path, km=kernel, progress_bar=False)
    assert _outputs(second)[0].strip() == "True"


def test_kernel_is_shut_down_and_its_files_removed_when_a_notebook_fails(tmp_path):
    failing = _notebook(tmp_path / "f.ipynb", "raise ValueError('boom')")
    with pytest.raises(papermill.PapermillExecutionError, match="boom"):
        with shared_kernel(cwd=tmp_path) as kernel:
            papermill.execute_notebook(failing, failing, km=kernel, progress_bar=False)
    assert not kernel.has_kernel
    assert not Path(kernel.connection_file).parent.exists()


def test_kernel_talks_over_unix_sockets_and_prints_no_tcp_warning(tmp_path):
    path = _notebook(tmp_path / "n.ipynb", "print(1 + 1)")
    script = textwrap.dedent(
        f"""
        import papermill, pathlib
        from calhousing.run.kernel import shared_kernel
        with shared_kernel(cwd=pathlib.Path({str(tmp_path)!r})) as kernel:
            papermill.execute_notebook({path!r}, {path!r}, km=kernel, progress_bar=False)
            print(kernel.transport)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ipc"]
    assert "TCP" not in result.stderr
    assert "WARNING" not in result.stderr
    assert _outputs(path)[0].strip() == "2"


_SLEEPER = textwrap.dedent(
    """
    import pathlib, sys, papermill
    from calhousing.run.kernel import shared_kernel
    try:
        with shared_kernel(cwd=pathlib.Path(sys.argv[1]).parent) as kernel:
            papermill.execute_notebook(sys.argv[1], sys.argv[2], km=kernel, progress_bar=False)
    except KeyboardInterrupt as error:
        print("interrupted", error)
        sys.exit(130)
    """
)


@pytest.mark.parametrize("attempt", range(6))
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_a_cell_stops_the_kernel_at_once(tmp_path, signum, attempt):
    marker = tmp_path / "started"
    path = _notebook(
        tmp_path / "s.ipynb",
        f"import pathlib, time\npathlib.Path({str(marker)!r}).touch()",
        "time.sleep(120)",
    )
    process = subprocess.Popen(
        [sys.executable, "-c", _SLEEPER, path, str(tmp_path / "out.ipynb")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    assert marker.exists(), process.communicate()
    started = time.monotonic()
    os.kill(process.pid, signum)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert stdout.split() == ["interrupted", signal.Signals(signum).name]
    assert time.monotonic() - started < 10


def test_clearing_the_namespace_of_a_killed_kernel_fails_at_once(tmp_path):
    """A signal kills the kernel; clearing must then fail fast, not wait out its timeout."""
    path = _notebook(tmp_path / "n.ipynb", "x = 1")
    with shared_kernel(cwd=tmp_path) as kernel:
        papermill.execute_notebook(path, path, km=kernel, progress_bar=False)
        kernel.provisioner.process.kill()
        kernel.provisioner.process.wait(timeout=10)
        started = time.monotonic()
        with pytest.raises(NamespaceError, match="died"):
            clear_namespace(kernel, timeout=60)
        assert time.monotonic() - started < 5


def test_a_run_leaves_no_threads_or_open_files_behind(tmp_path):
    """nbclient keeps each notebook's client connected; the run closes them all."""
    path = _notebook(tmp_path / "n.ipynb", "x = 1")

    def run_twice() -> None:
        with shared_kernel(cwd=tmp_path) as kernel:
            for _ in range(2):
                clear_namespace(kernel)
                papermill.execute_notebook(path, path, km=kernel, progress_bar=False)

    run_twice()  # warm up: imports, the event loop, logging
    gc.collect()
    threads, files = threading.active_count(), len(os.listdir("/proc/self/fd"))
    run_twice()
    gc.collect()
    assert threading.active_count() == threads
    assert len(os.listdir("/proc/self/fd")) <= files


def test_kernel_runs_in_the_given_folder_and_keeps_no_history_file(tmp_path):
    (tmp_path / "here").mkdir()
    path = _notebook(
        tmp_path / "n.ipynb",
        "import os\nprint(os.getcwd())\nprint(get_ipython().history_manager.hist_file)",
    )
    with shared_kernel(cwd=tmp_path / "here") as kernel:
        papermill.execute_notebook(path, path, km=kernel, progress_bar=False)
    assert "".join(_outputs(path)).split() == [str(tmp_path / "here"), ":memory:"]


def test_every_notebook_keeps_the_output_of_its_first_cell(tmp_path):
    """A kernel shared by eight notebooks loses no message of any."""
    paths = [_notebook(tmp_path / f"n{i}.ipynb", f"print({i})", "1") for i in range(8)]
    with shared_kernel(cwd=tmp_path) as kernel:
        for path in paths:
            clear_namespace(kernel)
            papermill.execute_notebook(path, path, km=kernel, progress_bar=False)
    assert [_outputs(path)[0].strip() for path in paths] == [str(i) for i in range(8)]
