"""Running sums of ``eval``'s metrics per stratum and method, and their reduction across torchrun ranks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reap_omni.model.distributed import Dist


@dataclass
class Acc:
    """One stratum × method's running sums: counts (int64) and float64 sums add up exactly across ranks.

    WER/CER are kept as jiwer's counts (edits, reference words/characters), not as strings, so the rate
    from summed counts equals jiwer over all rows. Times are this rank's wall seconds; across ranks the
    maximum is kept (the slowest rank is the run's wall time).
    """

    rows: int = 0
    tokens: int = 0
    top1: int = 0
    wer_errors: int = 0
    wer_words: int = 0
    wer_rows: int = 0
    cer_errors: int = 0
    cer_chars: int = 0
    cer_rows: int = 0
    nll: float = 0.0
    kl: float = 0.0
    seconds: float = 0.0
    gen_seconds: float = 0.0

    INTS = ("rows", "tokens", "top1", "wer_errors", "wer_words", "wer_rows", "cer_errors", "cer_chars", "cer_rows")
    SUMS = ("nll", "kl")
    TIMES = ("seconds", "gen_seconds")

    def result(self) -> dict[str, Any]:
        from reap_omni.evaluate.metrics import rate

        t = max(self.tokens, 1)
        nll = self.nll / t if self.tokens else None
        out: dict[str, Any] = {
            "nll": nll, "ppl": math.exp(nll) if nll is not None and nll < 700 else None,
            "kl": self.kl / t if self.tokens else None, "top1": self.top1 / t if self.tokens else None,
            "rows": self.rows, "tokens": self.tokens, "seconds": round(self.seconds, 4),
        }
        for name, errors, length, n in (("wer", self.wer_errors, self.wer_words, self.wer_rows),
                                        ("cer", self.cer_errors, self.cer_chars, self.cer_rows)):
            if n:
                out[name] = rate(errors, length)
                out[f"{name}_rows"] = n
        if self.wer_rows or self.cer_rows:
            out["gen_seconds"] = round(self.gen_seconds, 4)
        return out


def reduce_accumulators(acc: dict[str, dict[str, Acc]], dist: Dist) -> dict[str, dict[str, Acc]]:
    """Every rank's sums added up (int64 counts, float64 sums; times: the maximum), the same on every rank.

    Every rank holds the same strata and methods in the same order (each runs every method on its shard,
    empty or not), so three collectives carry everything.
    """
    import torch

    keys = [(s, m) for s, accs in acc.items() for m in accs]
    if not dist.active or not keys:
        return acc
    ints = torch.tensor([[getattr(acc[s][m], f) for f in Acc.INTS] for s, m in keys], dtype=torch.int64)
    sums = torch.tensor([[getattr(acc[s][m], f) for f in Acc.SUMS] for s, m in keys], dtype=torch.float64)
    times = torch.tensor([[getattr(acc[s][m], f) for f in Acc.TIMES] for s, m in keys], dtype=torch.float64)
    ints, sums = dist.all_reduce_sum([ints, sums])
    (times,) = dist.all_reduce_max([times])
    out: dict[str, dict[str, Acc]] = {s: {} for s in acc}
    for i, (s, m) in enumerate(keys):
        values = dict(zip(Acc.INTS, (int(v) for v in ints[i].tolist()), strict=True))
        values |= dict(zip(Acc.SUMS, sums[i].tolist(), strict=True))
        values |= dict(zip(Acc.TIMES, times[i].tolist(), strict=True))
        out[s][m] = Acc(**values)
    return out

