"""Background threads of the service run at a lower CPU priority than ingestion.

The writer thread and the event loop answer requests; the real-time evaluator, workflows and
the web app's background jobs can wait a few milliseconds. On a 2-core machine they otherwise
compete with the writer for the same cores and a single ``/v1/track`` waits behind them. Linux
schedules threads as tasks, so raising the *niceness* of one thread (no privilege needed to
lower a priority) leaves the others as they are. Elsewhere this does nothing.

Example:
    >>> import threading
    >>> t = background_thread(lambda: None, "segmint-example")
    >>> t.start(); t.join()
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

__all__ = ["BACKGROUND_NICE", "background_thread", "lower_priority"]

log = logging.getLogger("segmint.server")

#: niceness added to background threads (0..19; higher runs less when cores are busy)
BACKGROUND_NICE = 10


def lower_priority(increment: int = BACKGROUND_NICE) -> bool:
    """Make the *calling* thread ``increment`` nicer (True when it took effect)."""
    if increment <= 0 or not hasattr(os, "setpriority"):
        return False
    try:
        tid = threading.get_native_id()
        now = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(now + increment, 19))
    except OSError as exc:  # not Linux-style per-thread priorities: run as we are
        log.debug("could not lower the priority of %s: %s", threading.current_thread().name, exc)
        return False
    return True


def background_thread(
    target: Callable[[], object], name: str, *, nice: int = BACKGROUND_NICE
) -> threading.Thread:
    """A daemon thread that lowers its own priority by ``nice`` before running ``target``."""

    def run() -> None:
        lower_priority(nice)
        target()

    return threading.Thread(target=run, name=name, daemon=True)
