"""Stop signals: handled like Ctrl-C, and never lost when CPython swallows the first raise."""

from __future__ import annotations

import gc
import signal

import pytest

from reap_omni import interrupts
from reap_omni.fileio import atomic_output


class _RaisesInFinalizer:
    """A signal delivered while a finalizer runs: CPython prints "Exception ignored" and goes on."""

    def __del__(self) -> None:
        signal.raise_signal(signal.SIGTERM)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the swallowed raise, on purpose
def test_a_swallowed_interrupt_still_stops_the_commit(tmp_path):
    out = tmp_path / "out.txt"
    out.write_text("previous\n")
    with interrupts.stop_signals_interrupt():
        with pytest.raises(KeyboardInterrupt), atomic_output(out, "w") as f:
            f.write("new\n")
            obj = _RaisesInFinalizer()
            del obj  # the KeyboardInterrupt raised in __del__ is dropped by CPython
            gc.collect()
            f.write("more\n")  # the run went on as if nothing happened ...
        assert interrupts.received() == signal.SIGTERM
        assert interrupts.exit_code() == 128 + signal.SIGTERM
    # ... but the output was not committed and no temp is left
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_handlers_are_restored_and_state_reset():
    before = {s: signal.getsignal(s) for s in interrupts.SIGNALS}
    with interrupts.stop_signals_interrupt():
        assert interrupts.received() is None
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        assert interrupts.received() == signal.SIGINT and interrupts.exit_code() == 130
    assert {s: signal.getsignal(s) for s in interrupts.SIGNALS} == before
    with interrupts.stop_signals_interrupt():
        assert interrupts.received() is None
