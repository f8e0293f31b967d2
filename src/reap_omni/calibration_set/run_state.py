"""Mutable state of one dataset while a build runs: its row quota (thread-safe) and what its units claimed."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from reap_omni.calibration_set.plan import PlanItem
from reap_omni.calibration_set.resume import DatasetProgress
from reap_omni.catalog.spec import SourceSpec
from reap_omni.manifest.stats import DatasetStats


class Quota:
    """Thread-safe row count of one dataset, so concurrent units never write more than its target."""

    def __init__(self, have: int, target: int):
        self.have, self.target = have, target
        self._lock = threading.Lock()

    def reserve(self) -> bool:
        with self._lock:
            if self.have >= self.target:
                return False
            self.have += 1
            return True

    def full(self) -> bool:
        with self._lock:
            return self.have >= self.target

    def release(self) -> None:
        """Give back a reservation whose row could not be written."""
        with self._lock:
            self.have -= 1


@dataclass
class DatasetRun:
    """Mutable state of one dataset while it is built (stats, quota, progress bar)."""

    item: PlanItem
    stats: DatasetStats
    quota: Quota
    progress: DatasetProgress
    bar: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    messages: list[str] = field(default_factory=list)
    claimed: set[str] = field(default_factory=set)  # keys being written now (not yet in progress.keys)
    specs: dict[str, SourceSpec] = field(default_factory=dict)  # source id -> the spec being read

    def claim(self, key: str) -> bool:
        """Reserve ``key`` for writing; False when a row with it exists or is being written."""
        with self.lock:
            if key in self.progress.keys or key in self.claimed:
                return False
            self.claimed.add(key)
            return True

    def settle(self, key: str, written: bool) -> None:
        """End a claim: the key joins the done keys when its row was appended."""
        with self.lock:
            self.claimed.discard(key)
            if written:
                self.progress.keys.add(key)
