"""SIGINT and SIGTERM: how every command stops when asked to, in one place.

The first signal raises :class:`KeyboardInterrupt` where the program is, so every ``finally``
cleans up; later ones are ignored, so they cannot cut that clean-up short. While a child
process does the work, the signal kills it instead (:func:`stop_by_killing`): raising inside
the event loop that waits for the kernel could leave it waiting forever.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)


class _State:
    """What the handler needs: the signals seen, and how to stop the current work."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.stoppers: list[Callable[[], object]] = []
        self.deferring = 0
        self.held: int | None = None


_STATE = _State()


def stopping() -> bool:
    return bool(_STATE.received)


def check() -> None:
    """Raise :class:`KeyboardInterrupt` if a signal asked the work to stop, unless deferred."""
    if _STATE.received and not _STATE.deferring:
        raise KeyboardInterrupt(_describe(_STATE.received[0]))


@contextmanager
def handled() -> Iterator[None]:
    """Within the block, the first SIGINT or SIGTERM stops the work; later ones are ignored.
    A no-op when nested or outside the main thread (where Python cannot set handlers)."""
    if _is_installed() or threading.current_thread() is not threading.main_thread():
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
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        _STATE.__init__()


@contextmanager
def stop_by_killing(kill: Callable[[], object]) -> Iterator[None]:
    """Within the block, a signal calls `kill` (to kill a child process) instead of raising;
    the block then ends in :class:`KeyboardInterrupt`, chained to the dead child's failure."""
    with handled():
        _STATE.stoppers.append(kill)
        try:
            yield
        except Exception as error:
            if _STATE.received:
                raise KeyboardInterrupt(_describe(_STATE.received[0])) from error
            raise
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
        if not _STATE.deferring and _STATE.held is not None:
            signum, _STATE.held = _STATE.held, None
            raise KeyboardInterrupt(_describe(signum))


def _is_installed() -> bool:
    return any(signal.getsignal(signum) is _on_signal for signum in SIGNALS)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _STATE.received.append(signum)
    if len(_STATE.received) > 1:
        return  # already stopping
    if _STATE.deferring:
        _STATE.held = signum
        return
    if _STATE.stoppers:
        _STATE.stoppers[-1]()
        return
    raise KeyboardInterrupt(_describe(signum))


def _describe(signum: int) -> str:
    return signal.Signals(signum).name
