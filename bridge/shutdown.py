"""A process-wide "please stop" flag, set by SIGTERM/SIGINT, checked between writes.

The daemon must never stop in the middle of a write: the signal handler only sets this
flag, and long loops (the push's apply loop, the scheduler) look at ``stop_requested()``
between steps and return early. What is left is in the push journal, which the next
run finishes.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime
from types import FrameType
from typing import Any

from bridge.timeutil import utcnow

log = logging.getLogger(__name__)

_stop = threading.Event()
_callbacks: list[Any] = []


def request_stop(reason: str = "requested") -> None:
    """Ask every loop to stop at its next safe point (idempotent)."""
    first = not _stop.is_set()
    _stop.set()
    if first:
        log.info("stop %s: finishing the write in flight, then stopping", reason)
        for cb in list(_callbacks):
            try:
                cb()
            except Exception:  # a callback must not break the signal handler
                log.exception("stop callback failed")


def stop_requested() -> bool:
    """True once a stop was asked for: finish the current write, then return."""
    return _stop.is_set()


def stop_event() -> threading.Event:
    """The underlying event, for ``wait(timeout)`` loops that should wake up on stop."""
    return _stop


def reset() -> None:
    """Clear the flag (tests, and a daemon that starts afresh in the same process)."""
    _stop.clear()
    _callbacks.clear()


def on_stop(callback: Any) -> None:
    """Call ``callback()`` (once) when a stop is first requested, e.g. to wake a scheduler."""
    _callbacks.append(callback)


def install_signal_handlers() -> None:
    """SIGTERM and SIGINT set the stop flag instead of raising mid-write.

    A second SIGINT while stopping raises KeyboardInterrupt, for a person who really
    means it (the journal still makes that safe to resume). Main thread only.
    """

    def handler(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if _stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        request_stop(f"on {name}")

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


class Terminated(BaseException):
    """A one-shot command (``sync``, ``push``, …) got SIGTERM: it unwinds like Ctrl-C,
    so that its run rows are closed as ``interrupted`` on the way out (bridge.lock)
    instead of staying ``running``. A BaseException, so that no ``except Exception``
    swallows it. The push journal makes stopping between any two statements safe."""

    def __init__(self, signal_name: str = "SIGTERM") -> None:
        super().__init__(f"stopped by {signal_name}")
        self.signal_name = signal_name
        self.at: datetime = utcnow()


def terminate_on_sigterm() -> Callable[[], None]:
    """Make SIGTERM raise ``Terminated`` in the main thread (a command run from the
    command line); returns the function that puts the previous handler back. Outside the
    main thread nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise Terminated(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, handler)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore
