"""One Jupyter kernel for all the notebooks of a pipeline run.

Papermill starts a fresh kernel per notebook, which re-imports pandas, scikit-learn and
matplotlib: most of a run's time. Given a kernel manager (``execute_notebook(..., km=...)``)
nbclient reuses its kernel and leaves it running; :func:`clear_namespace` empties the names
between notebooks, so none can use another's, while modules stay imported. The kernel talks
over Unix sockets (IPC) in a private temporary folder, not TCP on localhost, where it would
warn that the connection is not encrypted and any local user could try to connect.
"""

from __future__ import annotations

import contextlib
import queue
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync

from calhousing.errors import KernelStopped, NamespaceError
from calhousing.run import signals

KERNEL_NAME = "python3"
_HISTORY_IN_MEMORY = ["--HistoryManager.hist_file=:memory:"]


@contextmanager
def shared_kernel(*, cwd: Path) -> Iterator[AsyncKernelManager]:
    """A kernel manager to pass to papermill as ``km``, and a kernel that lives for the block.

    The kernel starts at once, in `cwd`, and boots while the caller goes on (importing
    papermill, say). Within the block SIGINT and SIGTERM kill it, so a running cell stops at
    once, and the block ends in :class:`KeyboardInterrupt` (:mod:`calhousing.run.signals`).
    """
    with tempfile.TemporaryDirectory(prefix="calhousing-kernel-") as sockets:
        manager: AsyncKernelManager | None = None
        clients: list[Any] = []
        try:
            # A signal inside __init__ would leave a half-built manager whose __del__ prints a
            # traceback at interpreter exit; held here, it stops the run just after.
            with signals.deferred():
                manager = AsyncKernelManager(
                    kernel_name=KERNEL_NAME,
                    transport="ipc",
                    connection_file=str(Path(sockets) / "kernel.json"),  # sockets beside it
                )
                clients = _track_clients(manager)
            with signals.stop_by_killing(partial(_kill, manager)):
                # as nbclient would start it: no history database written
                run_sync(manager.start_kernel)(extra_arguments=_HISTORY_IN_MEMORY, cwd=str(cwd))
                yield manager
        finally:
            with signals.deferred():  # the kernel goes, whatever else arrives
                if manager is not None:
                    _shut_down(manager)
                for client in clients:
                    client.stop_channels()


# Delete every name but IPython's own (`user_ns_hidden`) and dunders. `%reset -f` also
# collects garbage and rebuilds IPython's aliases: 0.1-0.5 s per notebook, measured.
_CLEAR_NAMESPACE = """
[get_ipython().user_ns.pop(name) for name in [
    name for name in get_ipython().user_ns
    if name not in get_ipython().user_ns_hidden
    and not (name.startswith("__") and name.endswith("__"))
]]
"""


def clear_namespace(manager: AsyncKernelManager, *, timeout: float = 60) -> None:
    """Delete every name the previous notebook defined in the kernel (no-op before it starts).

    Raises NamespaceError when the kernel dies, fails or does not answer within `timeout` seconds.
    """
    if not manager.has_kernel:
        return
    client = manager.blocking_client()
    client.start_channels(iopub=False, stdin=False, hb=False, control=False)
    try:
        request = client.execute(_CLEAR_NAMESPACE, silent=True, store_history=False)
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply = client.get_shell_msg(timeout=0.2)
            except queue.Empty:
                if not _is_running(manager):  # killed by a signal, say: no answer will come
                    raise NamespaceError("the kernel died while clearing its namespace") from None
                if time.monotonic() > deadline:
                    raise NamespaceError(
                        f"the kernel did not clear its namespace in {timeout} s"
                    ) from None
                continue
            if reply["parent_header"].get("msg_id") == request:
                break
    finally:
        client.stop_channels()
    if reply["content"]["status"] != "ok":
        raise NamespaceError(f"the kernel could not clear its namespace: {reply['content']}")


def stop_if_asked(**_: object) -> None:
    """An nbclient ``on_cell_start`` hook: stop before the next cell once a signal came.

    A signal before the kernel's process exists has nothing to kill; this stops the run at
    the first cell instead of after the first notebook.
    """
    if signals.stopping():
        raise KernelStopped("stopped by a signal before the next cell")


def _track_clients(manager: AsyncKernelManager) -> list[Any]:
    """List every client `manager` hands out, for :func:`shared_kernel` to close: nbclient
    leaves each one connected (a heartbeat thread, some 12 file descriptors)."""
    clients: list[Any] = []
    make_client = manager.client

    def client(**kwargs: Any) -> Any:
        clients.append(make_client(**kwargs))
        return clients[-1]

    manager.client = client  # type: ignore[method-assign]
    return clients


def _kill(manager: AsyncKernelManager) -> None:
    """Kill the kernel's process if it is running (safe in a signal handler)."""
    if _is_running(manager):
        manager.provisioner.process.kill()


def _is_running(manager: AsyncKernelManager) -> bool:
    process = getattr(manager.provisioner, "process", None)
    return process is not None and process.poll() is None


def _shut_down(manager: AsyncKernelManager) -> None:
    """Kill the kernel, wait for it, and remove its connection files.

    Nothing in it is worth a graceful shutdown (``now=True`` kills too, but then polls every
    0.1 s). After a Ctrl-C during start-up, cleaning up can raise ``InvalidStateError``; the
    error being handled and the user's interrupt matter more.
    """
    try:
        if manager.provisioner is None:
            return  # never started
        if _is_running(manager):
            manager.provisioner.process.kill()
            manager.provisioner.process.wait(timeout=10)
        with contextlib.suppress(Exception):
            run_sync(manager.shutdown_kernel)(now=True)  # nothing left to stop: removes its files
    finally:
        # Now, even for a start cut short: else the manager's __del__ does it at interpreter
        # exit, where traitlets can fail and print a traceback after a clean one-line stop.
        with contextlib.suppress(Exception):
            run_sync(manager.cleanup_resources)()
