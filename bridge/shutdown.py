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
from types import FrameType
from typing import Any

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
