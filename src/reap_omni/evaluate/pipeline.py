"""``reap-omni eval``: judge expert selections on held-out rows, with one model in memory.

Every selection (REAP-OMNI's affinity, S1 saliency alone, routing frequency, seeded random; ``selections``)
keeps the same K experts per layer. Each is evaluated on the one loaded original model by masking the
dropped experts out of the router (``router_mask``), which routes exactly as the pruned checkpoint would.
Per batch the original runs first: its next-token distributions at the answer tokens become the reference
(top-k log-probabilities plus a tail bucket), and its audio/vision encoder outputs are recorded; every
selection then reuses those encoder outputs (``encoder_replay``: the encoders hold no experts) and is scored
against the reference (``runner``). ``--pruned P`` evaluates a written checkpoint too, after the original is
freed; several named checkpoints (``pruned=P healed=H``) load one after another, and the later ones'
recovered share of the first one's gap to the original is reported (``recovery``).

Inputs are the calibration path's own (``inputs.build_inputs``: the stratum's media through the model's
processor and chat template, the row's text as the assistant turn), so the numbers measure what the
calibration measured. ASR rows (``task: asr``) are also transcribed greedily with a transcription
instruction and scored by WER/CER. Text rows (``--text-data``, S0) are scored on their answer tokens like the
others, so every selection shows what it costs in text. ``--retention`` with several values evaluates every
selection at each on the same passes (``retention``: the curve, the thinker's size, the retentions worth writing).
This module checks every input, then runs the passes and writes.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reap_omni.errors import ReapOmniError
from reap_omni.evaluate.accumulate import reduce_accumulators
from reap_omni.evaluate.options import (
    EVAL_FORMAT,
    ORIGINAL,
    TEXT_METHODS,
    EvalOptions,
    check_options,
    checkpoints,
    default_methods,
)
from reap_omni.evaluate.rows import EvalRow, check_held_out, load_rows
from reap_omni.evaluate.selections import kept_overlap, pruned_kept, selections
from reap_omni.output_guard import resolve_path

if TYPE_CHECKING:
    from reap_omni.model.distributed import Dist
    from reap_omni.model.info import ModelInfo


def run_eval(opts: EvalOptions, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Evaluate; writes ``eval.json``, ``eval.md``, ``eval_rows.jsonl`` and the PNGs into ``opts.output``.

    Returns the ``eval.json`` document. Every input is checked before a model is loaded.

    Under torchrun (``WORLD_SIZE`` > 1) every rank checks all rows (the held-out check included, so every
    rank reaches the same verdict), evaluates its shard of each stratum (row ``i`` on rank ``i % N``) and
    the sums are all-reduced; rank 0 alone writes. Ranks other than 0 return ``{"rank": r}``.
    """
    from reap_omni.model.distributed import Dist, env_rank
    from reap_omni.model.preflight import check_model
    from reap_omni.prune.checks import check_numbers, check_pruned, check_scores

    log = log or (lambda msg: print(msg, file=sys.stderr))
    if env_rank() != 0:  # under torchrun every rank checks the same inputs; rank 0 alone speaks
        log = _quiet
    check_options(opts)
    _guard_outputs(opts, log)
    facts = check_model(opts.model_path, "thinker")  # config, index, shard headers: no weight read
    layers, n_exp, top_k = facts.layers, facts.num_experts, facts.top_k
    scores = check_scores(opts.scores, facts) if opts.scores else None
    methods = _methods(opts, scores, log)
    rates = opts.rates
    ks = {r: check_numbers(facts, opts.lam, opts.beta, r if methods else None, opts.gamma) for r in rates}
    k = ks[rates[0]]
    kept = {(m, r): sel for r in rates for m, sel in selections(methods, scores, layers, n_exp, ks[r], opts.lam,
                                                                    opts.beta, opts.seed, opts.gamma).items()}
    kept = {(m, r): kept[(m, r)] for m in methods for r in rates}  # methods outer: the tables' row order
    # each a sound checkpoint with fewer experts than the original
    infos = {path: check_pruned(path, facts) for _name, path in checkpoints(opts)}
    infos[opts.model_path] = facts

    paths = {"S1": opts.audio_data, "S2": opts.video_data, "S3": opts.mixed_data, "S0": opts.text_data}
    rows = {s: load_rows(p, s, opts.samples) for s, p in paths.items() if p}
    rows, held_out = check_held_out(rows, opts, scores.meta if scores else None, log)
    asr_rows = sum(r.asr for part in rows.values() for r in part)
    if asr_rows and opts.max_new_tokens:
        from reap_omni.evaluate.metrics import jiwer_available

        if not jiwer_available():
            from reap_omni.install_hint import install_command

            raise ReapOmniError(f"scoring transcripts needs jiwer (the [prune] extra): {install_command('prune')}")
    all_kept = {m: kept[(m, rates[0])] for m in methods}
    for name, path in checkpoints(opts):
        saved = pruned_kept(path)
        if saved is not None and tuple(saved.shape) == (len(layers), saved.shape[1]):
            all_kept[name] = saved
    meta = {
        "format": EVAL_FORMAT, "model_path": str(opts.model_path), "scores": opts.scores, "pruned": opts.pruned,
        "retention_rate": rates[0] if methods else None, "retention_rates": rates if methods else [],
        "kept_per_layer": k, "num_experts": n_exp,
        "num_experts_per_tok": top_k, "layers": layers, "methods": [ORIGINAL, *methods]
        + [name for name, _ in checkpoints(opts)], "lambda": opts.lam, "beta": opts.beta, "gamma": opts.gamma,
        "seed": opts.seed,
        "samples": opts.samples, "kl_top_k": opts.kl_top_k, "max_new_tokens": opts.max_new_tokens,
        "asr_prompt": opts.asr_prompt, "batch_size": opts.batch_size, "held_out": held_out,
        "kept": {m: v.tolist() for m, v in all_kept.items()}, "overlap": kept_overlap(all_kept),
    }
    if opts.pruned_named:
        meta["checkpoints"] = dict(checkpoints(opts))
    axis = _retention_axis(facts, rates, ks, kept) if methods else None

    dist = Dist.from_env()
    try:
        return _evaluate(opts, rows, kept, meta, log, dist, infos, axis)
    finally:
        dist.close()


def _methods(opts: EvalOptions, scores, log: Callable[[str], None]) -> list[str]:
    """The selections to evaluate: ``--methods``, or the default (with REAP on text and on all rows when the scores
    hold S0); a method that needs S0, or ``--gamma``, with scores that lack it is a one-line error."""
    has_text = scores is not None and scores.has_text
    methods = default_methods(has_text) if opts.methods is None else list(opts.methods)
    needs = [m for m in methods if m == TEXT_METHODS[0]] + (["--gamma"] if opts.gamma and "reap-omni" in methods
                                                              else [])
    if needs and scores is not None and not has_text:
        raise ReapOmniError(f"{' and '.join(needs)} {'needs' if len(needs) == 1 else 'need'} S0 statistics, but "
                            f"{opts.scores} holds none: prune with --text-data (or --from-scores of scores that have "
                            "them)")
    if opts.methods is None and scores is not None and not has_text:
        log("eval: the scores hold no S0 (text) statistics, so reap-text and reap-all are left out; prune with "
            "--text-data to compare REAP-OMNI with the text-only REAP a user would otherwise run")
    return methods


def _retention_axis(info: ModelInfo, rates: list[float], ks: dict[float, int], kept: dict) -> dict[str, Any]:
    """The retention axis known before any pass: the retentions, K at each, the thinker's size at each (and at 1,
    the original) and, for a sweep, every selection's kept ids per retention."""
    from reap_omni.evaluate.retention import rate_key
    from reap_omni.evaluate.sizes import thinker_sizes

    sizes = thinker_sizes(info, [info.num_experts, *ks.values()])
    axis: dict[str, Any] = {"rates": rates, "kept_per_layer": {rate_key(r): ks[r] for r in rates},
                            "size": {rate_key(1.0): sizes[info.num_experts],
                                     **{rate_key(r): sizes[ks[r]] for r in rates}}}
    if len(rates) > 1:
        axis["kept"] = {rate_key(r): {m: v.tolist() for (m, rr), v in kept.items() if rr == r} for r in rates}
    return axis


def _quiet(_msg: str) -> None:
    pass


def _guard_outputs(opts: EvalOptions, log: Callable[[str], None]) -> None:
    """``--output`` and ``--offload-folder`` against every input (``reap_omni.output_guard``), before any
    model is loaded: the models, the scores, the calibration locks, the manifests and their media."""
    from reap_omni.evaluate.report import output_folder
    from reap_omni.model.distributed import env_rank
    from reap_omni.output_guard import guard_outputs, manifest_inputs, written_folder
    from reap_omni.prune.previous import scores_inputs

    outputs = [output_folder(opts.output)]
    if opts.placement.offload_folder:
        outputs.append(written_folder(opts.placement.offload_folder, "--offload-folder"))
    inputs = scores_inputs("--scores", opts.scores) + [("--calibration-lock", p) for p in opts.calibration_lock]
    for flag, path in (("--audio-data", opts.audio_data), ("--video-data", opts.video_data),
                       ("--mixed-data", opts.mixed_data), ("--text-data", opts.text_data)):
        inputs += manifest_inputs(flag, path)
    models = [("--model", opts.model_path)] + [("--pruned", path) for _name, path in checkpoints(opts)]
    guard_outputs(outputs, model_dirs=models, inputs=inputs, clean=env_rank() == 0, log=log)


def _evaluate(opts: EvalOptions, rows: dict[str, list[EvalRow]], kept: dict[Any, Any], meta: dict[str, Any],
              log: Callable[[str], None], dist: Dist, infos: dict[str, ModelInfo],
              axis: dict[str, Any] | None = None) -> dict[str, Any]:
    """The passes over this rank's shard, the all-reduce of the sums, and rank 0's outputs. ``infos``: the
    checked description of ``--model`` and of each ``--pruned`` folder, by path.

    Every step that can fail on one rank is followed by a collective ``dist.check``, so a failure anywhere
    stops every rank (non-zero exit) instead of leaving the others waiting in a collective.
    """
    out_dir = resolve_path(opts.output, "--output")  # '.' and symlinks: the folder the guard checked
    err: BaseException | None = None
    if dist.is_main:  # only rank 0 writes; it creates --output before any model is loaded
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            err = ReapOmniError(f"cannot create --output {out_dir}: {exc.strerror or exc}")
    dist.check(err, "creating --output")

    t_start = time.perf_counter()
    order = {(s, r.sample.id): i for s, part in rows.items() for i, r in enumerate(part)}
    from reap_omni.evaluate.runner import Runner

    runner = Runner(opts, {s: dist.shard(part) for s, part in rows.items()}, log, dist)
    runner.run_original_and_masked(kept, infos[opts.model_path])
    _free_memory()  # the original is gone before the pruned checkpoint loads: one model in memory at a time
    for name, path in checkpoints(opts):  # one checkpoint in memory at a time
        runner.run_pruned(name, infos[path])
        _free_memory()
    runner.acc = reduce_accumulators(runner.acc, dist)
    records = [r for part in dist.gather_objects(runner.row_records) for r in part]
    # one order whatever the world size: passes (original and masks, then pruned), strata, rows as listed
    strata = list(rows)
    passes = {name: i + 1 for i, (name, _) in enumerate(checkpoints(opts))}
    records.sort(key=lambda r: (passes.get(r["method"], 0), strata.index(r["stratum"]),
                                order[(r["stratum"], r["id"])]))
    devices = dist.gather_objects(runner.meta.get("device"))
    doc = runner.document()
    doc["meta"].update(meta)
    if axis is not None:
        _lay_out(doc, axis)
    from reap_omni.evaluate.recovery import recovery

    rec = recovery(doc["strata"], [name for name, _ in checkpoints(opts)], ORIGINAL)
    if rec is not None:
        doc["recovery"] = rec
    doc["meta"]["world_size"] = dist.world_size
    if dist.active:
        doc["meta"]["devices"] = devices
    if not dist.is_main:
        dist.check(None, "writing on rank 0")  # exit with rank 0's outcome
        return {"rank": dist.rank}
    doc["meta"]["seconds"] = round(time.perf_counter() - t_start, 3)
    err = None
    try:
        from reap_omni.evaluate.report import write_output_set

        write_output_set(out_dir, doc, records)  # one atomic set: the old one or the new one, never a mix
    except Exception as exc:  # noqa: BLE001 - reported to the other ranks, then re-raised
        err = exc
    dist.check(err, "writing on rank 0")
    log(f"wrote {Path(opts.output) / 'eval.json'}, eval.md and plots")
    return doc


def _lay_out(doc: dict[str, Any], axis: dict[str, Any]) -> None:
    """``doc["strata"]`` as a one-value run writes it (every method at the first retention) and ``doc["retention"]``:
    the axis, every method at every retention, the retentions worth writing and their ``prune`` commands."""
    from reap_omni.evaluate.retention import lay_out, prune_commands, worth_keeping

    rates = axis["rates"]
    doc["strata"], curves = lay_out(doc["strata"], rates)
    keep = worth_keeping(curves, rates)
    doc["retention"] = {**axis, "strata": curves, "worth_keeping": keep,
                        "commands": prune_commands(doc["meta"], keep)}


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()

