"""``ordered_map``: input order, errors handed back per item, a bounded number of items in flight."""

from __future__ import annotations

import threading

import pytest

from reap_omni.parallel import ordered_map


@pytest.mark.parametrize("jobs", [1, 3])
def test_order_and_errors(jobs: int) -> None:
    def fn(x: int) -> int:
        if x % 5 == 0:
            raise ValueError(f"bad {x}")
        return x * x

    out = list(ordered_map(fn, range(1, 40), jobs))
    assert [item for item, _ in out] == list(range(1, 40))
    for item, result in out:
        if item % 5 == 0:
            assert isinstance(result, ValueError) and str(result) == f"bad {item}"
        else:
            assert result == item * item


def test_items_are_pulled_lazily() -> None:
    pulled = []
    lock = threading.Lock()

    def source():
        for i in range(1000):
            with lock:
                pulled.append(i)
            yield i

    it = ordered_map(lambda x: x, source(), 2)
    assert next(it) == (0, 0)
    assert len(pulled) <= 2 * 4 + 1  # the window, not the whole input
    it.close()
