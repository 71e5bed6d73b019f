"""The pipeline's shared kernel: one process for a run, a clean namespace per notebook."""

from __future__ import annotations

import nbformat
import papermill
import pytest

from calhousing.kernel import SharedKernelEngine, shared_kernel


def _notebook(path, *sources: str) -> str:
    notebook = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "P"}}
    )
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, path)
    return str(path)


def _outputs(path) -> list[str]:
    notebook = nbformat.read(path, as_version=4)
    return [o.get("text", "") for c in notebook.cells for o in c.get("outputs", [])]


def test_notebooks_share_one_kernel_process_but_not_names(tmp_path):
    first = _notebook(tmp_path / "a.ipynb", "import os\nleaked = 1\nprint(os.getpid())")
    second = _notebook(
        tmp_path / "b.ipynb", "import os\nprint(os.getpid())\nprint('leaked' in dir())"
    )
    with shared_kernel() as engine:
        for path in (first, second):
            papermill.execute_notebook(path, path, engine_name=engine, progress_bar=False)
    pid_a = _outputs(first)[0].strip()
    pid_b, leaked = _outputs(second)[0].split()
    assert pid_a == pid_b
    assert leaked == "False"


def test_kernel_is_shut_down_when_a_notebook_fails(tmp_path):
    failing = _notebook(tmp_path / "f.ipynb", "raise ValueError('boom')")
    with pytest.raises(papermill.PapermillExecutionError, match="boom"):
        with shared_kernel() as engine:
            manager = SharedKernelEngine.kernel_manager
            papermill.execute_notebook(failing, failing, engine_name=engine, progress_bar=False)
    assert not manager.has_kernel
    assert SharedKernelEngine.kernel_manager is None


def test_engine_refuses_to_run_outside_a_shared_kernel(tmp_path):
    path = _notebook(tmp_path / "x.ipynb", "1")
    with pytest.raises(RuntimeError, match="only inside shared_kernel"):
        papermill.execute_notebook(path, path, engine_name="calhousing-shared-kernel")
