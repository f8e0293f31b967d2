"""Bounded, order-preserving parallel map for I/O-bound work such as probing media files.

Probing thousands of files one by one is dominated by open/seek latency; a few threads hide it. Results
come back in input order with at most ``jobs * 4`` in flight, so memory stays flat on long inputs, and an
exception is handed back as the result for its item instead of stopping the whole run.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(fn: Callable[[T], R], items: Iterable[T], jobs: int) -> Iterator[tuple[T, R | Exception]]:
    """``(item, fn(item))`` in input order, ``jobs`` at a time, with a bounded number in flight."""
    if jobs <= 1:
        for item in items:
            try:
                yield item, fn(item)
            except Exception as exc:  # handed to the caller, which decides
                yield item, exc
        return
    with ThreadPoolExecutor(jobs) as pool:
        window: deque[tuple[T, Future]] = deque()
        for item in items:
            window.append((item, pool.submit(fn, item)))
            if len(window) >= jobs * 4:
                yield _result(*window.popleft())
        while window:
            yield _result(*window.popleft())


def _result(item: T, fut: Future) -> tuple[T, Any]:
    try:
        return item, fut.result()
    except Exception as exc:
        return item, exc
