"""One Jupyter kernel for all the notebooks of a pipeline run, passed to papermill as ``km``.

A fresh kernel per notebook would re-import pandas, scikit-learn and matplotlib: most of a
run's time. The kernel talks over Unix sockets in a private folder, not TCP on localhost,
where it would warn that the connection is not encrypted and any local user could connect.
"""

from __future__ import annotations

import queue
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from traitlets import List

from calhousing.errors import NamespaceError
from calhousing.run import signals


class _Manager(AsyncKernelManager):
    """Keeps every client it hands out, for :func:`shared_kernel` to close: nbclient leaves
    each one connected (a heartbeat thread, some 12 file descriptors)."""

    handed_out = List()

    def client(self, **kwargs: Any) -> Any:
        self.handed_out.append(super().client(**kwargs))
        return self.handed_out[-1]


@contextmanager
def shared_kernel(*, cwd: Path) -> Iterator[AsyncKernelManager]:
    """A kernel manager to pass to papermill as ``km``, and a kernel that lives for the block.

    The kernel starts at once, in `cwd`, and boots while the caller goes on (importing
    papermill, say). Within the block SIGINT and SIGTERM kill it, so a running cell stops at
    once, and the block ends in :class:`KeyboardInterrupt` (:mod:`calhousing.run.signals`).
    """
    with tempfile.TemporaryDirectory(prefix="calhousing-kernel-") as sockets, ExitStack() as stack:
        # A signal inside __init__ would leave a half-built manager whose __del__ prints a
        # traceback at interpreter exit; held here, it stops the run once the manager is whole.
        with signals.deferred():
            manager = _Manager(
                kernel_name="python3",
                transport="ipc",
                connection_file=str(Path(sockets) / "kernel.json"),  # sockets beside it
            )
            stack.callback(_shut_down, manager)
        with signals.stop_by_killing(lambda: _kill(manager)):
            # as nbclient would start it: no history database written
            run_sync(manager.start_kernel)(
                extra_arguments=["--HistoryManager.hist_file=:memory:"], cwd=str(cwd)
            )
            signals.check()  # a signal before the kernel's process existed killed nothing
            yield manager


# Delete every name but IPython's own (`user_ns_hidden`) and dunders. `%reset -f` also
# collects garbage and rebuilds IPython's aliases: 0.1-0.5 s per notebook, measured.
_CLEAR_NAMESPACE = (
    "[ip.user_ns.pop(n) for ip in [get_ipython()] for n in list(ip.user_ns)"
    " if n not in ip.user_ns_hidden and not (n.startswith('__') and n.endswith('__'))]"
)


def clear_namespace(manager: AsyncKernelManager, *, timeout: float = 60) -> None:
    """Delete every name the previous notebook defined in the kernel (no-op before it starts).

    Raises NamespaceError at once when the kernel dies (a signal killed it, say), or when it
    fails or does not answer within `timeout` seconds.
    """
    if not manager.has_kernel:
        return
    client = manager.blocking_client()
    client.start_channels(iopub=False, stdin=False, hb=False, control=False)
    try:
        request = client.execute(_CLEAR_NAMESPACE, silent=True, store_history=False)
        deadline, reply = time.monotonic() + timeout, None
        while reply is None or reply["parent_header"].get("msg_id") != request:
            if not client.is_alive() or time.monotonic() > deadline:
                raise NamespaceError(
                    f"the kernel died or did not clear its namespace in {timeout} s"
                )
            with suppress(queue.Empty):
                reply = client.get_shell_msg(timeout=0.2)
    finally:
        client.stop_channels()
    if reply["content"]["status"] != "ok":
        raise NamespaceError(f"the kernel could not clear its namespace: {reply['content']}")


def _kill(manager: AsyncKernelManager) -> subprocess.Popen[bytes] | None:
    """Kill the kernel's process if it runs (safe in a signal handler); return the process."""
    process = getattr(manager.provisioner, "process", None)
    if process is not None and process.poll() is None:
        process.kill()
    return process


def _shut_down(manager: _Manager) -> None:
    """Kill the kernel, remove its files and close every client, whatever signal arrives: now,
    not in the manager's ``__del__`` at interpreter exit, where traitlets can fail and print a
    traceback.

    Reaped first, the kernel is found dead by ``shutdown_kernel``, which then does not poll
    every 0.1 s. After a Ctrl-C during start-up cleaning up can raise (``InvalidStateError``);
    the error being handled and the interrupt matter more.
    """
    with signals.deferred():
        with suppress(Exception):
            if (process := _kill(manager)) is not None:
                process.wait(timeout=10)
                run_sync(manager.shutdown_kernel)(now=True)
        with suppress(Exception):
            run_sync(manager.cleanup_resources)()
        for client in manager.handed_out:
            client.stop_channels()
