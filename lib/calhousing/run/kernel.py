"""One Jupyter kernel for all the notebooks of a run: a kernel per notebook would re-import
pandas, scikit-learn and matplotlib, most of a run's time. It listens on Unix sockets in a
private folder: over TCP any local user could connect."""

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
    """Keeps every client it hands out, to close them: nbclient leaves each one connected (a
    heartbeat thread, some 12 file descriptors)."""

    handed_out = List()

    def client(self, **kwargs: Any) -> Any:
        self.handed_out.append(super().client(**kwargs))
        return self.handed_out[-1]


@contextmanager
def shared_kernel(*, cwd: Path) -> Iterator[AsyncKernelManager]:
    """A kernel manager to pass to papermill as ``km``; its kernel, started at once in `cwd`,
    lives for the block. A signal kills it, so even a running cell stops at once, and the
    block ends in :class:`KeyboardInterrupt`."""
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
    """Delete every name the previous notebook defined in the kernel (no-op before it starts);
    NamespaceError at once when the kernel dies, fails or does not answer in `timeout` s."""
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
    """Kill the kernel, remove its files and close every client now, not in ``__del__`` at
    exit, where traitlets can print a traceback. Reaped first, the kernel is found dead by
    ``shutdown_kernel``, which then does not poll. Errors in cleaning up (``InvalidStateError``
    after a Ctrl-C during start-up) are dropped: the error being handled matters more."""
    with signals.deferred():
        with suppress(Exception):
            if (process := _kill(manager)) is not None:
                process.wait(timeout=10)
                run_sync(manager.shutdown_kernel)(now=True)
        with suppress(Exception):
            run_sync(manager.cleanup_resources)()
        for client in manager.handed_out:
            client.stop_channels()
