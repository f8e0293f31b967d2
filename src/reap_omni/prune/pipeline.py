"""The end-to-end REAP-OMNI run: calibrate S1/S2/S3, and S0 when ``--text-data`` is given (or load saved scores),
select, save, prune.

Everything a user can get wrong (paths, manifests, numbers, output folder) and every fault of the checkpoint
or the saved scores that can be seen without reading weights (``preflight``) is checked before the model is
loaded, so mistakes cost seconds, not a 60 GB load.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reap_omni.errors import ReapOmniError
from reap_omni.model.info import ModelInfo
from reap_omni.model.inputs import STRATUM_FLAGS, InputOptions, Sample, load_samples
from reap_omni.model.placement import Placement, placement_keywords
from reap_omni.model.preflight import check_for_plan, check_model
from reap_omni.prune.checks import check_numbers, check_scores
from reap_omni.prune.scores import (
    Scores,
    Selection,
    check_scores_fit,
    save_scores,
    scores_in_folder,
    select,
)


@placement_keywords
@dataclass
class PruneOptions:
    model_path: str
    output_path: str | None
    audio_data: str | None = None
    video_data: str | None = None
    mixed_data: str | None = None
    text_data: str | None = None  # S0: text rows (optional); their statistics are stored with the others
    retention_rate: float = 0.5
    calibration_samples: int = 100
    lam: float = 1.0
    beta: float = 1.0
    gamma: float = 0.0  # weight of S0 added to the affinity (0: REAP-OMNI's formula unchanged)
    component: str = "thinker"
    placement: Placement = field(default_factory=Placement)  # device, device map, memory, offload, dtype
    plan_only: bool = False  # print the memory plan and stop
    batch_size: int = 1
    max_seq_len: int = 4096
    dry_run: bool = False
    scores_out: str | None = None
    from_scores: str | None = None
    overwrite: bool = False
    inputs: InputOptions = field(default_factory=InputOptions)
    checkpoint_dir: str | None = None  # default: beside the scores output (see checkpoint_folder)
    checkpoint_every: int = 8  # batches between calibration checkpoints; 0: no checkpoints
    progress: bool = False  # tqdm bars (the CLI turns them on for a terminal without --quiet)
    tokens: str = "all"  # which tokens count: all (REAP) or media (placeholders and span markers)


def checkpoint_folder(opts: PruneOptions) -> Path | None:
    """Where calibration checkpoints go: ``--checkpoint-dir``, else beside the scores output
    (``<scores stem>.calibration/`` or ``<output>.calibration/``); None when nothing is written."""
    if opts.checkpoint_every <= 0:
        return None
    if opts.checkpoint_dir:
        return Path(opts.checkpoint_dir)
    if opts.scores_out:
        p = _named(opts.scores_out)
        return p.with_name(p.stem + ".calibration") if p.name else None
    if opts.output_path and not opts.dry_run:
        p = _named(opts.output_path)
        return p.with_name(p.name + ".calibration") if p.name else None  # '/': refused by the output guard
    return None


def _named(path: str) -> Path:
    """``path`` with a last component to name a sibling after (``.``, ``..`` and ``/`` resolved)."""
    p = Path(path)
    return Path(os.path.realpath(path)) if p.name in ("", ".", "..") else p


def run_prune(opts: PruneOptions, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the whole pipeline; returns a summary dict (also printed through ``log``).

    Under torchrun (``WORLD_SIZE`` > 1) every rank calibrates its shard of the samples and gets the
    all-reduced statistics; only rank 0 logs and writes. Ranks other than 0 return ``{"rank": r}``.
    """
    from reap_omni.model.distributed import Dist

    log = log or (lambda msg: print(msg, file=sys.stderr))
    # config, index, shard headers: no weight read (--plan-only: the config alone when no weights are there yet)
    facts = (check_for_plan if opts.plan_only else check_model)(opts.model_path, opts.component)
    k = check_numbers(facts, opts.lam, opts.beta, opts.retention_rate, opts.gamma)
    opts.placement.check()
    if opts.plan_only:
        return _plan_only(opts, facts, log)
    _check_output(opts, log, facts, k)
    scores = check_scores(opts.from_scores, facts) if opts.from_scores else None
    if opts.gamma and (not scores.has_text if scores is not None else not opts.text_data):
        where = f"{opts.from_scores} holds no S0 statistics" if scores is not None else "no --text-data is given"
        raise ReapOmniError(f"--gamma {opts.gamma} weighs the text stratum S0, but {where}: calibrate with "
                            "--text-data (or leave --gamma at 0)")
    samples = None if opts.from_scores else _load_all_samples(opts)

    dist = Dist.from_env()
    try:
        if not dist.is_main:
            log = _quiet
        summary = _score_and_write(opts, samples, facts, log, dist, scores)
    finally:
        dist.close()
    return summary


def _quiet(_msg: str) -> None:
    pass


def _plan_only(opts: PruneOptions, info: ModelInfo, log: Callable[[str], None]) -> dict[str, Any]:
    from reap_omni.model.distributed import Dist
    from reap_omni.model.load import plan_for_rank

    plan = plan_for_rank(info, opts.placement, Dist(), check_devices=False)
    for line in plan.lines():
        log(line)
    return {"component": opts.component, "parameters": plan.parameters, "bytes": plan.bytes, "dtype": plan.dtype,
            "per_device": {d: {"parameters": n, "bytes": b} for d, (n, b) in plan.per_device.items()},
            "device_map": plan.device_map}


def _settings(opts: PruneOptions):
    from reap_omni.prune.calibration import CalibrationSettings

    return CalibrationSettings(
        model_path=opts.model_path, component=opts.component, placement=opts.placement, batch_size=opts.batch_size,
        calibration_samples=opts.calibration_samples, inputs=opts.inputs,
        checkpoint_dir=str(folder) if (folder := checkpoint_folder(opts)) else None,
        checkpoint_every=opts.checkpoint_every, progress=opts.progress, tokens=opts.tokens,
    )


def _score_and_write(opts, samples, info: ModelInfo, log, dist, scores: Scores | None = None) -> dict[str, Any]:
    """Calibrate (unless ``scores`` were loaded from ``--from-scores``), then select and write on rank 0."""
    layers, n_exp = info.layers, info.num_experts
    runs = None
    if not opts.from_scores:
        from reap_omni.prune.calibration import calibrate

        scores, runs = calibrate(_settings(opts), samples, log, dist, info)
        check_scores_fit(scores, opts.component, layers, n_exp, "calibration")
    if not dist.is_main:
        dist.check(None, "writing on rank 0")  # exit with rank 0's outcome
        _remove_checkpoint(opts, dist)
        return {"rank": dist.rank}
    err: BaseException | None = None
    summary: dict[str, Any] = {}
    try:
        if opts.from_scores:
            log(f"loaded scores from {opts.from_scores}; calibration skipped")
        summary = _select_and_write(opts, scores, info, log)
        if runs is not None:
            summary["calibration"] = {name: {"samples": r.samples, "tokens": r.tokens, "seconds": r.seconds}
                                      for name, r in runs.items()}
            summary["world_size"] = dist.world_size
    except Exception as exc:  # noqa: BLE001 - reported to the other ranks, then re-raised
        err = exc
    dist.check(err, "writing on rank 0")
    _remove_checkpoint(opts, dist)
    return summary


def _remove_checkpoint(opts: PruneOptions, dist) -> None:
    """The run is complete: this rank's calibration checkpoint is no longer needed."""
    folder = checkpoint_folder(opts)
    if folder is None or opts.from_scores:
        return
    from reap_omni.prune.checkpoint import CalibrationCheckpoint

    CalibrationCheckpoint(folder, "", dist.rank, dist.world_size).remove()


def _select_and_write(opts: PruneOptions, scores: Scores, info: ModelInfo,
                      log: Callable[[str], None]) -> dict[str, Any]:
    layers, n_exp = info.layers, info.num_experts
    sel = select(scores, opts.lam, opts.beta, opts.retention_rate, opts.gamma)
    k = sel.k
    kept = {layer: sel.kept[i].tolist() for i, layer in enumerate(scores.layers)}
    summary: dict[str, Any] = {
        "component": opts.component, "num_experts": n_exp, "kept_per_layer": k, "layers": len(layers),
        "kept": kept, "dry_run": opts.dry_run,
    }
    if opts.scores_out:
        _write_scores(Path(opts.scores_out), scores, sel)
        summary["scores"] = opts.scores_out
        log(f"wrote scores to {opts.scores_out}")
    if opts.dry_run:
        log(f"dry run: would keep {k}/{n_exp} experts in each of {len(layers)} {opts.component} MoE layers")
        for layer, ids in kept.items():
            log(f"  layer {layer}: {ids}")
        return summary

    from reap_omni.prune.surgery import prune_checkpoint

    def add_files(folder: Path) -> None:
        _write_scores(scores_in_folder(folder), scores, sel)

    report = prune_checkpoint(opts.model_path, opts.output_path, opts.component, kept,
                              overwrite=opts.overwrite, add_files=add_files, info=info)
    summary.update(output=str(report.output), shards=report.shards, bytes_in=report.bytes_in,
                   bytes_out=report.bytes_out, tensors_dropped=report.tensors_dropped)
    log(f"pruned {opts.component}: {n_exp} -> {k} experts per layer in {len(layers)} layers; "
        f"{report.bytes_in / 1e9:.3f} GB -> {report.bytes_out / 1e9:.3f} GB; wrote {report.output}")
    return summary


def _check_output(opts: PruneOptions, log: Callable[[str], None] | None = None, info: ModelInfo | None = None,
                  k: int | None = None) -> None:
    """Every path this run writes against every input it reads (``reap_omni.output_guard``), before any weight
    or media is read: the model folder, ``--from-scores``, the manifests and all the media they reference."""
    from reap_omni.model.distributed import env_rank
    from reap_omni.output_guard import guard_outputs, manifest_inputs, replaced_folder, written_folder
    from reap_omni.prune.previous import is_pruned_output, scores_inputs, scores_outputs

    if not opts.dry_run and not opts.output_path:
        raise ReapOmniError("--output-path is required unless --dry-run is given")
    outputs = [] if opts.dry_run else [replaced_folder(opts.output_path, "--output-path", is_pruned_output)]
    if opts.scores_out:
        outputs += scores_outputs(opts.scores_out)
    folder = checkpoint_folder(opts)
    if folder is not None and not opts.from_scores:
        outputs.append(written_folder(folder, "--checkpoint-dir" if opts.checkpoint_dir else "the checkpoint folder"))
    if opts.placement.offload_folder:
        outputs.append(written_folder(opts.placement.offload_folder, "--offload-folder"))
    if not outputs:
        return
    inputs = scores_inputs("--from-scores", opts.from_scores)
    for stratum, path in (("S1", opts.audio_data), ("S2", opts.video_data), ("S3", opts.mixed_data),
                          ("S0", opts.text_data)):
        inputs += manifest_inputs(STRATUM_FLAGS[stratum], path)
    guard_outputs(outputs, model_dirs=[("--model-path", opts.model_path)], inputs=inputs, overwrite=opts.overwrite,
                  clean=env_rank() == 0, log=log)
    if not opts.dry_run and info is not None and k:  # a full disk is found now, not after calibrating
        from reap_omni.output_guard import check_space
        from reap_omni.prune.surgery import output_bytes

        check_space(outputs[0], output_bytes(info, k))


def _load_all_samples(opts: PruneOptions) -> dict[str, list[Sample]]:
    if opts.calibration_samples < 1:
        raise ReapOmniError("--calibration-samples must be at least 1")
    if opts.batch_size < 1:
        raise ReapOmniError("--batch-size must be at least 1")
    paths = {"S1": opts.audio_data, "S2": opts.video_data, "S3": opts.mixed_data}
    missing = [STRATUM_FLAGS[s] for s, p in paths.items() if not p]
    if missing:
        raise ReapOmniError(f"{', '.join(missing)} required to calibrate (or pass --from-scores)")
    if opts.text_data:  # S0 is optional: REAP's text stratum, for --gamma and eval's text-only baseline
        paths["S0"] = opts.text_data
    return {s: load_samples(p, s, opts.calibration_samples) for s, p in paths.items()}


def _write_scores(json_path: Path, scores: Scores, sel: Selection) -> None:
    from reap_omni.prune.plot import save_heatmap

    save_scores(json_path, scores, sel)
    save_heatmap(json_path.with_suffix(".png"), sel.affinity.numpy(), sel.kept.numpy())
