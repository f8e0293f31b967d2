"""Data-parallel calibration with torch.distributed: ``torchrun --nproc-per-node N -m reap_omni prune ...``.

Every rank reads the same manifests and takes a disjoint, deterministic shard of each stratum's samples
(sample ``i`` goes to rank ``i % world_size``). After a stratum, the ranks' float64 sums and int64
counts/token totals are all-reduced (gloo, on the CPU: a few hundred KB per stratum, whatever the model's
devices), so every rank holds the statistics of the whole stratum; only rank 0 writes anything.

Failures are collective: at each check point every rank says whether it failed (one small all-reduce), so
an exception on one rank makes every rank stop with a non-zero exit instead of waiting in a collective
until a timeout. A rank that dies outright (killed, segfault) is handled by torchrun, which then stops the
others. The launcher's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``PORT``) is
what torchrun and ``accelerate launch`` both set.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from reap_omni.errors import ReapOmniError

T = TypeVar("T")


class RankFailed(ReapOmniError):
    """Another rank failed; this one stops too."""


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    _group: bool = False

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, timeout_s: float = 1800.0) -> Dist:
        """Join the launcher's process group when ``WORLD_SIZE`` > 1; a single process otherwise."""
        world = _env_int("WORLD_SIZE", 1)
        if world <= 1:
            return cls()
        import torch.distributed as tdist

        rank = _env_int("RANK", 0)
        d = cls(rank, world, _env_int("LOCAL_RANK", rank), _env_int("LOCAL_WORLD_SIZE", world))
        if not tdist.is_initialized():
            try:
                tdist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=timeout_s))
            except (RuntimeError, ValueError) as exc:
                raise ReapOmniError(f"rank {rank}: cannot join the torch.distributed group: {exc}") from None
            d._group = True
        return d

    def close(self) -> None:
        if self._group:
            import torch.distributed as tdist

            if tdist.is_initialized():
                # leave together: a rank tearing gloo down while another still talks to it can abort the other
                with contextlib.suppress(RuntimeError):
                    tdist.barrier()
                tdist.destroy_process_group()
            self._group = False

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's items: every ``world_size``-th, starting at ``rank`` (disjoint, covers all)."""
        return list(items[self.rank::self.world_size])

    def check(self, error: BaseException | None, what: str) -> None:
        """Collective: every rank reports whether ``what`` failed on it; if any did, every rank raises."""
        if not self.active:
            if error is not None:
                raise error
            return
        import torch
        import torch.distributed as tdist

        # the lowest failing rank + 1 (0: all fine): ranks report -(rank + 1), the minimum wins
        flag = torch.tensor([-(self.rank + 1) if error is not None else 0], dtype=torch.int64)
        tdist.all_reduce(flag, op=tdist.ReduceOp.MIN)
        failed = -int(flag.item()) - 1
        if error is not None:
            raise error
        if failed >= 0:
            raise RankFailed(f"rank {failed} failed during {what} (its error is printed above); stopping rank "
                             f"{self.rank} too")

    def all_reduce_sum(self, tensors: Sequence[Any]) -> list[Any]:
        """Element-wise sums over the ranks of CPU tensors (float64 / int64 stay exact in their dtype)."""
        return self._all_reduce(tensors, "SUM")

    def all_reduce_max(self, tensors: Sequence[Any]) -> list[Any]:
        """Element-wise maxima over the ranks of CPU tensors (wall times: the slowest rank sets the pace)."""
        return self._all_reduce(tensors, "MAX")

    def _all_reduce(self, tensors: Sequence[Any], op: str) -> list[Any]:
        if not self.active:
            return list(tensors)
        import torch.distributed as tdist

        out = []
        for t in tensors:
            t = t.detach().cpu().clone().contiguous()
            tdist.all_reduce(t, op=getattr(tdist.ReduceOp, op))
            out.append(t)
        return out

    def gather_objects(self, obj: Any) -> list[Any]:
        """Every rank's picklable ``obj``, in rank order (small things: per-row records, device names)."""
        if not self.active:
            return [obj]
        import torch.distributed as tdist

        out: list[Any] = [None] * self.world_size
        tdist.all_gather_object(out, obj)
        return out

    def rank_device(self, device: str | None) -> str | None:
        """``--device`` for this rank: ``cuda`` (or nothing, when GPUs exist) means ``cuda:LOCAL_RANK``."""
        if not self.active:
            return device
        if device in (None, "cuda"):
            import torch

            if torch.cuda.is_available() and torch.cuda.device_count() > self.local_rank:
                return f"cuda:{self.local_rank}"
            return "cpu" if device is None else device
        return device

    def gpus_per_rank(self, n_gpus: int) -> list[int]:
        """The GPUs this rank's device map may use: an equal, disjoint slice of the node's GPUs."""
        per = n_gpus // self.local_world_size if self.active else n_gpus
        if self.active and per < 1:
            raise ReapOmniError(
                f"{self.local_world_size} ranks on this node but {n_gpus} GPU(s): use at most one rank per GPU"
            )
        start = self.local_rank * per if self.active else 0
        return list(range(start, start + per))


def env_rank() -> int:
    """The launcher's ``RANK`` (0 without one), known before joining: ranks other than 0 can stay quiet."""
    return _env_int("RANK", 0) if _env_int("WORLD_SIZE", 1) > 1 else 0


def rank_folder(folder: str | None, dist: Dist) -> str | None:
    """A per-rank subfolder (``<folder>/rank<r>``) for things ranks must not share, e.g. disk offload."""
    if folder is None or not dist.active:
        return folder
    return f"{folder.rstrip('/')}/rank{dist.rank}"


def rank_max_memory(dist: Dist, max_memory: dict[Any, int] | None, n_gpus: int) -> dict[Any, int] | None:
    """``--max-memory`` for one rank's slice of the node: its own GPUs, and an equal share of the host."""
    if not dist.active:
        return max_memory
    mine = dist.gpus_per_rank(n_gpus)
    if max_memory is None:
        from accelerate.utils import get_max_memory

        max_memory = get_max_memory(None)
    out: dict[Any, int] = {k: v for k, v in max_memory.items() if isinstance(k, int) and k in mine}
    for key in ("mps", "cpu", "disk"):
        if key in max_memory:
            out[key] = max_memory[key] // dist.local_world_size if key != "disk" else max_memory[key]
    return out


def rank_device_map(dist: Dist, device_map: dict[str, Any]) -> dict[str, Any]:
    """A JSON device map describes one rank's slice: rank ``r`` shifts its GPU indices by ``r`` slices."""
    gpus = sorted({v for v in device_map.values() if isinstance(v, int)})
    if not dist.active or not gpus:
        return dict(device_map)
    width = max(gpus) + 1
    return {k: (v + dist.local_rank * width if isinstance(v, int) else v) for k, v in device_map.items()}
