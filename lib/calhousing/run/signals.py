"""SIGINT and SIGTERM: how every command stops when asked to, in one place.

The first signal raises :class:`KeyboardInterrupt` where the program is, so every ``finally``
cleans up; later ones are ignored, so they cannot cut that clean-up short. Raising inside the
event loop that waits for the pipeline's kernel could leave it waiting forever: there the
signal kills the kernel instead (:func:`stop_by_killing`).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)


class _State:
    def __init__(self) -> None:
        self.received: list[int] = []
        self.stoppers: list[Callable[[], object]] = []  # the innermost kills the current work
        self.deferring = 0


_STATE = _State()


def stopping() -> bool:
    """Whether a signal has asked the current work to stop."""
    return bool(_STATE.received)


def check() -> None:
    """Raise :class:`KeyboardInterrupt` if a signal has asked the work to stop."""
    if _STATE.received and not _STATE.deferring:
        raise KeyboardInterrupt(signal.Signals(_STATE.received[0]).name)


@contextmanager
def handled() -> Iterator[None]:
    """Within the block, the first SIGINT or SIGTERM stops the work; later ones are ignored.

    Nested use is a no-op, as is use outside the main thread (where Python cannot set handlers).
    """
    installed = any(signal.getsignal(signum) is _on_signal for signum in SIGNALS)
    if installed or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    _STATE.__init__()
    for signum in SIGNALS:
        signal.signal(signum, _on_signal)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        _STATE.__init__()


@contextmanager
def stop_by_killing(kill: Callable[[], object]) -> Iterator[None]:
    """Within the block, a signal calls `kill` (to kill a child process) instead of raising;
    the block then ends in :class:`KeyboardInterrupt`, chained to what the dead child led to."""
    with handled():
        _STATE.stoppers.append(kill)
        try:
            yield
        finally:
            _STATE.stoppers.remove(kill)
            check()


@contextmanager
def deferred() -> Iterator[None]:
    """Hold a signal that arrives within the block; it stops the work when the block ends."""
    with handled():
        _STATE.deferring += 1
        try:
            yield
        finally:
            _STATE.deferring -= 1
            check()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _STATE.received.append(signum)
    if len(_STATE.received) == 1 and not _STATE.deferring:  # later ones: already stopping
        if _STATE.stoppers:
            _STATE.stoppers[-1]()
        else:
            check()
