"""Progress of one calibration stratum: a tqdm bar on stderr (samples, tokens/s, media seconds/s, ETA).

Shown only on a terminal and without ``--quiet``; under torchrun only rank 0 draws it (its own shard, which
is 1/N of the stratum). Nothing is drawn into logs or pipes.
"""

from __future__ import annotations

import sys
import time
from typing import IO


def progress_enabled(quiet: bool, stream: IO[str] | None = None) -> bool:
    stream = stream if stream is not None else sys.stderr
    if quiet:
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class StratumProgress:
    """``update(samples, tokens, media_seconds)`` after each batch; a no-op when disabled."""

    def __init__(self, name: str, total: int, done: int = 0, *, enabled: bool, file: IO[str] | None = None,
                 label: str = ""):
        self._bar = None
        self._t0 = time.perf_counter()
        self._tokens = 0
        self._media = 0.0
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=min(done, total), desc=f"{name}{label}", unit="sample",
                             file=file if file is not None else sys.stderr, dynamic_ncols=True, leave=True)

    def update(self, samples: int, tokens: int, media_seconds: float) -> None:
        if self._bar is None:
            return
        self._tokens += tokens
        self._media += media_seconds
        dt = max(time.perf_counter() - self._t0, 1e-9)
        self._bar.set_postfix_str(f"{self._tokens / dt:.0f} tok/s, {self._media / dt:.1f} media s/s", refresh=False)
        self._bar.update(samples)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> StratumProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
