"""Signals that end a run: Ctrl-C (SIGINT), a scheduler's time limit or ``docker stop`` (SIGTERM), a closed
terminal (SIGHUP).

Each raises ``KeyboardInterrupt`` in the main thread, so every one takes the path Ctrl-C takes: temp files and
folders are removed by the ``except BaseException`` clean-ups, finished rows are kept, the command exits
``128 + signal``. Each is also remembered: CPython drops an exception raised inside a finalizer (a generator
closed by the garbage collector prints "Exception ignored" and the run goes on), so a signal that lands there
would let the run finish and commit its output as if nobody had asked it to stop. Every commit point calls
``raise_if_interrupted()``, which raises the remembered interrupt again before anything is renamed into place.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

#: The signals handled like Ctrl-C (SIGHUP does not exist on Windows).
SIGNALS: tuple[int, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)

_received: int | None = None


def _on_signal(signum: int, _frame) -> None:
    global _received
    _received = signum
    raise KeyboardInterrupt


def received() -> int | None:
    """The signal that asked this run to stop, if any."""
    return _received


def exit_code() -> int:
    """The shell's convention: 128 + the signal number (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP)."""
    return 128 + (_received or signal.SIGINT)


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` if a stop signal arrived, even one whose first raise was swallowed."""
    if _received is not None:
        raise KeyboardInterrupt


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """While the block runs (in the main thread), SIGINT, SIGTERM and SIGHUP raise ``KeyboardInterrupt``;
    the previous handlers are restored afterwards. Elsewhere (a worker thread) it changes nothing."""
    global _received
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, object] = {}
    for sig in SIGNALS:
        with contextlib.suppress(OSError, ValueError):
            previous[sig] = signal.signal(sig, _on_signal)
    _received = None
    try:
        yield
    finally:
        for sig, handler in previous.items():
            with contextlib.suppress(OSError, ValueError, TypeError):
                signal.signal(sig, handler)  # type: ignore[arg-type]
