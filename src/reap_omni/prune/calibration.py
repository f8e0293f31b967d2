"""Run S1, S2 and S3 (and S0, text, when given) through the model with the REAP observer attached: one
``StratumStats`` each.

This module wires the parts: placement (where the weights go), inputs (the processor's batches), the
observer (the statistics), and data parallelism (which samples this rank runs, and the all-reduce).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reap_omni.errors import ReapOmniError
from reap_omni.model.distributed import Dist
from reap_omni.model.info import ModelInfo, media_token_ids
from reap_omni.model.inputs import InputOptions, Sample, iter_batches, media_token_mask
from reap_omni.model.load import load_on_rank, load_processor, to_device
from reap_omni.model.moe import find_moe_blocks
from reap_omni.model.placement import Placement, placement_keywords
from reap_omni.prune.observer import StratumStats
from reap_omni.prune.scores import STRATA, TEXT_STRATUM, Scores


@placement_keywords
@dataclass
class CalibrationSettings:
    model_path: str
    component: str = "thinker"
    placement: Placement = field(default_factory=Placement)  # device, device map, memory, offload, dtype
    batch_size: int = 1
    calibration_samples: int = 100
    inputs: InputOptions = field(default_factory=InputOptions)
    checkpoint_dir: str | None = None  # resumable partial statistics go here (None: no checkpoints)
    checkpoint_every: int = 8  # batches between checkpoints
    progress: bool = False  # draw a tqdm bar per stratum (rank 0)
    tokens: str = "all"  # token policy, see TOKEN_POLICIES

    def key_options(self) -> dict[str, Any]:
        """The options that change the statistics (a checkpoint resumes only under the same ones)."""
        return {"component": self.component, "dtype": self.placement.dtype, "batch_size": self.batch_size,
                "inputs": asdict(self.inputs), "tokens": self.tokens}


#: Which tokens count towards S. ``all`` is REAP's choice; ``media`` keeps S1/S2/S3 from being diluted by
#: the chat template's and the answer's text, which every stratum shares. S0 (text) has no media token: every
#: non-padding token counts there under either policy (what text-only REAP counts).
TOKEN_POLICIES = {
    "all": "all non-padding tokens",
    "media": "media tokens only: audio/video/image placeholders and their span markers",
}


@dataclass
class StratumRun:
    """What one stratum cost: samples and non-padding tokens (all ranks), wall seconds on this rank."""

    samples: int
    tokens: int
    seconds: float

    def rates(self) -> str:
        s = max(self.seconds, 1e-9)
        return f"{self.samples / s:.2f} samples/s, {self.tokens / s:.0f} tokens/s"


def calibrate(s: CalibrationSettings, samples: dict[str, list[Sample]], log: Callable[[str], None],
              dist: Dist | None = None, info: ModelInfo | None = None) -> tuple[Scores, dict[str, StratumRun]]:
    """Statistics of every stratum over all ranks' shards; every rank returns the same (reduced) statistics.

    Rank 0's scores also name every row of every rank (``meta.calibration_rows``, see ``calibration_rows``),
    taken from the full ``samples`` before sharding, so a resumed or data-parallel run records the same rows.
    With ``s.checkpoint_dir`` this rank's partial statistics are checkpointed every ``checkpoint_every``
    batches and after each stratum; a rerun with the same inputs resumes from them (see ``checkpoint``).
    ``info`` is the model's description from ``check_model`` (read from ``s.model_path`` when not given).
    """
    import torch

    from reap_omni.prune.checkpoint import CalibrationCheckpoint, calibration_key

    dist = dist or Dist()
    if s.tokens not in TOKEN_POLICIES:
        raise ReapOmniError(f"--tokens must be one of {', '.join(TOKEN_POLICIES)}, got {s.tokens!r}")
    if s.component != "thinker":
        raise ReapOmniError(
            "calibrating the talker needs its speech-generation pass, which reap-omni does not run yet; "
            "score the thinker, or pass talker scores with --from-scores"
        )
    ckpt = states = None
    if s.checkpoint_dir:
        key = calibration_key(s.model_path, samples, s.key_options(), dist.rank, dist.world_size)
        ckpt = CalibrationCheckpoint(s.checkpoint_dir, key, dist.rank, dist.world_size)
        states = ckpt.load()
        if states:
            done = {n: ("complete" if st.complete else f"{len(st.done)} samples") for n, st in states.items()}
            log(f"resuming calibration from {ckpt.folder}: " + ", ".join(f"{n} {d}" for n, d in done.items()))
        elif ckpt.stale:
            log(f"the calibration checkpoint {ckpt.path} is for other inputs or options; starting over")
    states = states or {}

    err: BaseException | None = None
    loaded = rows = None
    try:
        # hashed before the forwards (the bytes the run reads) and inside the collective check (a vanished
        # file on rank 0 stops every rank); only rank 0 writes the scores, so only it reads the media twice
        rows = calibration_rows(samples) if dist.is_main else None
        info = info or ModelInfo.read(s.model_path, s.component)
        loaded = _load(s, info, dist, log)
    except Exception as exc:  # noqa: BLE001 - reported collectively, then re-raised on this rank
        err = exc
    dist.check(err, "model loading")
    processor, root, blocks, device, dtype = loaded

    from reap_omni.prune.observer import ReapObserver

    strata: dict[str, StratumStats] = {}
    runs: dict[str, StratumRun] = {}
    with ReapObserver(blocks) as obs, torch.inference_mode():
        for name in [*STRATA, *([TEXT_STRATUM] if TEXT_STRATUM in samples else [])]:
            err, t0 = None, time.perf_counter()
            try:
                local = _run_stratum(s, name, dist.shard(samples[name]), processor, root, obs, device, dtype,
                                     states, ckpt, dist, log)
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
            "dtype": str(dtype).removeprefix("torch."), "tokens": s.tokens, "token_policy": TOKEN_POLICIES[s.tokens],
            "world_size": dist.world_size, "batch_size": s.batch_size, **provenance(info)}
    if rows is not None:
        meta["calibration_rows"] = rows
    scores = Scores(s.component, [b.layer for b in blocks], blocks[0].num_experts, blocks[0].top_k, strata, meta)
    return scores, runs


def _run_stratum(s: CalibrationSettings, name: str, shard: list[Sample], processor, root, obs, device, dtype,
                 states: dict, ckpt, dist: Dist, log: Callable[[str], None]) -> StratumStats:
    """This rank's statistics of one stratum, resumed from and checkpointed to ``ckpt`` when given."""
    from reap_omni.model.inputs import media_seconds
    from reap_omni.prune.checkpoint import StratumState
    from reap_omni.prune.progress import StratumProgress

    st = states.get(name)
    if st is not None and st.complete and st.done == [x.id for x in shard]:
        return StratumStats(st.sums, st.counts, st.tokens)
    if st is not None and st.done != [x.id for x in shard[:len(st.done)]]:
        st = None  # not a prefix of this shard (cannot happen with an unchanged key): recompute
    if st is not None:
        obs.reset(StratumStats(st.sums, st.counts, st.tokens))
        done = list(st.done)
    else:
        obs.reset()
        done = []
    media_ids = media_token_ids(root.config) if s.tokens == "media" and name != TEXT_STRATUM else None
    label = f" (rank 0 of {dist.world_size})" if dist.active else ""
    every = max(1, int(s.checkpoint_every))
    with StratumProgress(name, len(shard), len(done), enabled=s.progress and dist.is_main, label=label) as bar:
        for n_batch, (inputs, chunk) in enumerate(
                iter_batches(processor, shard[len(done):], name, s.batch_size, s.inputs), start=1):
            batch = {k: to_device(k, v, device, dtype) for k, v in inputs.items()}
            mask = batch.get("attention_mask")
            if media_ids is not None:
                mask = media_token_mask(batch["input_ids"], mask, media_ids)
            obs.set_attention_mask(mask)
            root(**batch, use_cache=False)
            done.extend(x.id for x in chunk)
            if ckpt is not None and n_batch % every == 0:
                partial = obs.stats()
                states[name] = StratumState(partial.sums, partial.counts, partial.tokens, list(done), False)
                ckpt.save(states)
            tokens = int(mask.sum()) if mask is not None else 0
            bar.update(len(chunk), tokens, media_seconds(inputs))
    local = obs.stats()
    if ckpt is not None:
        states[name] = StratumState(local.sums, local.counts, local.tokens, done, True)
        ckpt.save(states)
    return local


def calibration_rows(samples: dict[str, list[Sample]]) -> dict[str, list[dict[str, Any]]]:
    """Per stratum, every calibration row as ``{"id", "sha256": {media: digest}}`` (S0: ``{"text": digest}`` of
    its instruction and answer, ``text_inputs.text_digest``).

    ``reap-omni eval --scores`` refuses evaluation rows with one of these ids or media digests (see
    ``heldout``), so the held-out check works without the calibration folder's lock. The digests are of the
    files as calibration reads them (a manifest's stored digest may predate an edited file). An S3 row's
    extracted 16 kHz track (its manifest ``audio``) is hashed too: it is the same sound as the video's track.
    """
    from reap_omni.manifest.lock import file_sha256

    cache: dict[Path, str] = {}

    def digest(path: Path) -> str:
        if path not in cache:
            try:
                cache[path] = file_sha256(path)
            except OSError as exc:
                raise ReapOmniError(f"cannot read calibration media {path}: {exc}") from None
        return cache[path]

    out: dict[str, list[dict[str, Any]]] = {}
    for name, rows in samples.items():
        if name == TEXT_STRATUM:
            from reap_omni.model.text_inputs import text_digest

            out[name] = [{"id": x.id, "sha256": {"text": text_digest(x)}} for x in rows]
            continue
        tracks = _extracted_tracks(rows) if name == "S3" else {}
        recorded = []
        for x in rows:
            media = {"audio": x.audio or tracks.get(x.where), "video": x.video}
            recorded.append({"id": x.id, "sha256": {k: digest(Path(p)) for k, p in media.items() if p is not None}})
        out[name] = recorded
    return out


def _extracted_tracks(rows: list[Sample]) -> dict[str, Path]:
    """``{sample.where: path}`` of the manifest ``audio`` of video rows (a ``Sample`` carries only the video)."""
    from reap_omni.manifest.record import iter_records

    lines: dict[str, set[int]] = {}
    for x in rows:
        path, _, line = x.where.rpartition(":")
        if path and line.isdigit():
            lines.setdefault(path, set()).add(int(line))
    out: dict[str, Path] = {}
    for path, wanted in lines.items():
        last = max(wanted)
        for line, rec in iter_records(path):
            if line in wanted and rec.audio:
                p = Path(rec.audio)
                if not p.is_absolute() and not p.exists():
                    p = Path(path).parent / p
                if p.is_file():
                    out[f"{path}:{line}"] = p
            if line >= last:
                break
    return out


def provenance(info: ModelInfo) -> dict[str, Any]:
    """What the scores were computed from: the component's fingerprint (``text_config_sha256``, which
    ``check_scores`` compares), and the library versions."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, Any] = {"text_config_sha256": info.fingerprint}
    versions = {}
    for pkg in ("reap-omni", "torch", "transformers", "accelerate"):
        with contextlib.suppress(PackageNotFoundError):
            versions[pkg] = version(pkg)
    out["versions"] = versions
    return out


def _load(s: CalibrationSettings, info: ModelInfo, dist: Dist, log: Callable[[str], None]):
    processor = load_processor(s.model_path)
    root, _model, device, dtype = load_on_rank(info, s.placement, dist, log)
    return processor, root, find_moe_blocks(root), device, dtype
