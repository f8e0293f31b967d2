"""Run S1, S2 and S3 through the model with the REAP observer attached: one ``StratumStats`` each.

This module wires the parts: placement (where the weights go), inputs (the processor's batches), the
observer (the statistics), and data parallelism (which samples this rank runs, and the all-reduce).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reap_omni.errors import ReapOmniError
from reap_omni.prune.distributed import Dist, rank_device_map, rank_max_memory
from reap_omni.prune.inputs import InputOptions, Sample, iter_batches
from reap_omni.prune.model_io import execution_device, find_moe_blocks, load_for_scoring, read_config
from reap_omni.prune.observer import StratumStats
from reap_omni.prune.scores import STRATA, Scores


@dataclass
class CalibrationSettings:
    model_path: str
    component: str = "thinker"
    device: str | None = None
    device_map: str | dict[str, Any] | None = None
    max_memory: dict[Any, int] | None = None
    offload_folder: str | None = None
    dtype: str = "auto"
    batch_size: int = 1
    calibration_samples: int = 100
    inputs: InputOptions = field(default_factory=InputOptions)


@dataclass
class StratumRun:
    """What one stratum cost: samples and non-padding tokens (all ranks), wall seconds on this rank."""

    samples: int
    tokens: int
    seconds: float

    def rates(self) -> str:
        s = max(self.seconds, 1e-9)
        return f"{self.samples / s:.2f} samples/s, {self.tokens / s:.0f} tokens/s"


def placement_for_rank(s: CalibrationSettings, dist: Dist, check_devices: bool = True):
    """The memory plan of this rank's replica (or device-map slice); see ``placement.plan_placement``."""
    from reap_omni.prune.placement import plan_placement

    device_map, max_memory = s.device_map, s.max_memory
    if dist.active and device_map is not None:
        import torch

        if isinstance(device_map, str):
            max_memory = rank_max_memory(dist, max_memory, torch.cuda.device_count())
        else:
            device_map = rank_device_map(dist, device_map)
    return plan_placement(s.model_path, read_config(s.model_path), s.component, s.dtype,
                          device=dist.rank_device(s.device), device_map=device_map, max_memory=max_memory,
                          offload_folder=_rank_folder(s.offload_folder, dist), check_devices=check_devices)


def _rank_folder(folder: str | None, dist: Dist) -> str | None:
    if folder is None or not dist.active:
        return folder
    return f"{folder.rstrip('/')}/rank{dist.rank}"


def calibrate(s: CalibrationSettings, samples: dict[str, list[Sample]], log: Callable[[str], None],
              dist: Dist | None = None) -> tuple[Scores, dict[str, StratumRun]]:
    """Statistics of every stratum over all ranks' shards; every rank returns the same (reduced) scores."""
    import torch

    dist = dist or Dist()
    if s.component != "thinker":
        raise ReapOmniError(
            "calibrating the talker needs its speech-generation pass, which reap-omni does not run yet; "
            "score the thinker, or pass talker scores with --from-scores"
        )
    err: BaseException | None = None
    loaded = None
    try:
        loaded = _load(s, dist, log)
    except Exception as exc:  # noqa: BLE001 - reported collectively, then re-raised on this rank
        err = exc
    dist.check(err, "model loading")
    processor, root, blocks, device, dtype = loaded

    from reap_omni.prune.observer import ReapObserver

    strata: dict[str, StratumStats] = {}
    runs: dict[str, StratumRun] = {}
    with ReapObserver(blocks) as obs, torch.inference_mode():
        for name in STRATA:
            shard = dist.shard(samples[name])
            err, t0 = None, time.perf_counter()
            try:
                obs.reset()
                for inputs, _chunk in iter_batches(processor, shard, name, s.batch_size, s.inputs):
                    batch = {k: _to(k, v, device, dtype) for k, v in inputs.items()}
                    obs.set_attention_mask(batch.get("attention_mask"))
                    root(**batch, use_cache=False)
                local = obs.stats()
            except Exception as exc:  # noqa: BLE001 - reported collectively, then re-raised on this rank
                err = exc
            dist.check(err, f"stratum {name}")
            sums, counts, tokens = dist.all_reduce_sum([local.sums, local.counts, local.tokens])
            strata[name] = StratumStats(sums, counts, tokens)
            runs[name] = StratumRun(len(samples[name]), int(tokens[0]), time.perf_counter() - t0)
            log(f"{name}: {runs[name].samples} samples, {runs[name].tokens} tokens per MoE layer "
                f"in {runs[name].seconds:.1f} s ({runs[name].rates()})"
                + (f" over {dist.world_size} ranks" if dist.active else ""))
    meta = {"model_path": str(s.model_path), "calibration_samples": s.calibration_samples,
            "dtype": str(dtype).removeprefix("torch."), "token_policy": "all non-padding tokens",
            "world_size": dist.world_size, "batch_size": s.batch_size}
    return Scores(s.component, [b.layer for b in blocks], blocks[0].num_experts, blocks[0].top_k, strata, meta), runs


def _load(s: CalibrationSettings, dist: Dist, log: Callable[[str], None]):
    from transformers import AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(s.model_path)
    except (OSError, ValueError, TypeError) as exc:
        raise ReapOmniError(f"cannot load the processor from {s.model_path}: {exc}") from None
    plan = placement_for_rank(s, dist)
    for line in plan.lines():
        log(line)
    device_map = None if s.device_map is None else plan.device_map
    root, _model = load_for_scoring(s.model_path, s.component, dist.rank_device(s.device), s.dtype,
                                    device_map=device_map, offload_folder=_rank_folder(s.offload_folder, dist))
    blocks = find_moe_blocks(root)
    dtype = next(root.parameters()).dtype
    device = execution_device(root, root.get_input_embeddings())
    return processor, root, blocks, device, dtype


_MODEL_DTYPE_INPUTS = ("input_features", "pixel_values", "pixel_values_videos")


def _to(key: str, value, device, dtype):
    """Move an input to the device; media features take the model dtype, timings stay float32."""
    import torch

    if isinstance(value, torch.Tensor):
        value = value.to(device)
        return value.to(dtype) if key in _MODEL_DTYPE_INPUTS else value
    return value
