"""One Jupyter kernel for all the notebooks of a pipeline run (a papermill engine).

Papermill starts a fresh kernel for every notebook, and each kernel then imports
pandas, scikit-learn and matplotlib again: most of a run's time went there. The
engine here executes each notebook exactly as papermill's default engine does,
but in a kernel that lives for the whole run. Before each notebook the kernel's
namespace is cleared (``%reset -f``), so no notebook can use a name another one
defined; modules stay imported, which is the point. Each notebook still runs
alone, in its own kernel, under ``papermill`` and ``pytest --nbmake``.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import nbformat
from jupyter_client.manager import KernelManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.utils import merge_kwargs, remove_args

ENGINE_NAME = "calhousing-shared-kernel"
KERNEL_NAME = "python3"


class _FreshNamespaceClient(PapermillNotebookClient):
    """Clears the kernel's user namespace, then executes the notebook as papermill does."""

    def papermill_execute_cells(self) -> None:
        # nbclient has just routed SIGINT/SIGTERM to its event loop, where they would
        # shut the shared kernel down under a running cell and leave the run waiting for
        # a reply forever; the caller's handlers (the CLI's clean unwind) take them back.
        _restore_signal_handlers()
        reply = self.wait_for_reply(self.kc.execute("%reset -f", silent=True, store_history=False))
        if reply is None or reply["content"]["status"] != "ok":
            raise RuntimeError("could not clear the shared kernel's namespace between notebooks")
        super().papermill_execute_cells()


class SharedKernelEngine(NBClientEngine):
    """Papermill's nbclient engine, with the kernel manager of the current run."""

    kernel_manager: ClassVar[KernelManager | None] = None

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: int = 60,
        execution_timeout: int | None = None,
        **kwargs: Any,
    ) -> nbformat.NotebookNode:
        if cls.kernel_manager is None:
            raise RuntimeError(f"the {ENGINE_NAME} engine runs only inside shared_kernel()")
        kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
        client = _FreshNamespaceClient(
            nb_man,
            km=cls.kernel_manager,
            **merge_kwargs(
                kwargs,
                timeout=execution_timeout,
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
            ),
        )
        try:
            return client.execute()
        finally:
            _restore_signal_handlers()  # nbclient resets them to the defaults on its way out


papermill_engines.register(ENGINE_NAME, SharedKernelEngine)


@contextmanager
def shared_kernel() -> Iterator[str]:
    """Within the block, papermill's `engine_name` returned here shares one kernel.

    The kernel starts with the first notebook and is shut down when the block
    ends, whether the run succeeded, failed or was interrupted.
    """
    if SharedKernelEngine.kernel_manager is not None:
        raise RuntimeError("shared_kernel() is already active in this process")
    # nbclient's own factory, so the manager is of the class nbclient expects
    client = NotebookClient(nbformat.v4.new_notebook(), kernel_name=KERNEL_NAME)
    SharedKernelEngine.kernel_manager = client.create_kernel_manager()
    _SAVED_HANDLERS.clear()
    _SAVED_HANDLERS.update({signum: signal.getsignal(signum) for signum in _SIGNALS})
    _INTERRUPTS.clear()
    _install_interrupt_handler()
    try:
        yield ENGINE_NAME
    except Exception as error:
        if _INTERRUPTS:  # the kernel was killed on purpose: report the interrupt, not its echo
            raise KeyboardInterrupt(f"signal {_INTERRUPTS[0]}") from error
        raise
    finally:
        kernel_manager, SharedKernelEngine.kernel_manager = SharedKernelEngine.kernel_manager, None
        _shut_down(kernel_manager)
        for signum, handler in _SAVED_HANDLERS.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_SAVED_HANDLERS: dict[int, Any] = {}


_INTERRUPTS: list[int] = []


def _install_interrupt_handler() -> None:
    for signum in _SIGNALS:
        if signal.getsignal(signum) is not _on_interrupt:
            signal.signal(signum, _on_interrupt)


def _restore_signal_handlers() -> None:
    """Take SIGINT/SIGTERM back from nbclient, which routes them to its event loop."""
    _install_interrupt_handler()


def _on_interrupt(signum: int, frame: Any) -> None:
    """Stop a run cleanly: kill the kernel if it is running, else defer to the caller.

    Raising KeyboardInterrupt inside nbclient's event loop can leave it waiting for a
    reply forever; a killed kernel instead ends the running cell with nbclient's
    DeadKernelError, which shared_kernel() reports as the interrupt it was.
    """
    _INTERRUPTS.append(signum)
    manager = SharedKernelEngine.kernel_manager
    process = getattr(getattr(manager, "provisioner", None), "process", None)
    if process is not None and process.poll() is None:
        process.kill()
        return
    previous = _SAVED_HANDLERS.get(signum)
    if callable(previous):
        previous(signum, frame)
    else:
        raise KeyboardInterrupt(f"signal {signum}")


def _shut_down(kernel_manager: KernelManager) -> None:
    """Stop the kernel; if its manager is left inconsistent, kill the process outright.

    A Ctrl-C that lands while the kernel is still starting leaves jupyter_client's
    manager in a state where a clean shutdown raises (``InvalidStateError``); the
    error being handled, and the user's interrupt, matter more than that one.
    """
    try:
        if kernel_manager.has_kernel:
            run_sync(kernel_manager.shutdown_kernel)(now=True)
    except Exception:
        process = getattr(kernel_manager.provisioner, "process", None)
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)
