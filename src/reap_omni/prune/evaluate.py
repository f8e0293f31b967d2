"""``reap-omni eval``: judge expert selections on held-out rows, with one model in memory.

Every selection (REAP-OMNI's affinity, S1 saliency alone, routing frequency, seeded random) keeps the same
K experts per layer. Each is evaluated on the one loaded original model by masking the dropped experts out
of the router (``router_mask``), which routes exactly as the pruned checkpoint would. Per batch the
original runs first: its next-token distributions at the answer tokens become the reference (top-k
log-probabilities plus a tail bucket), and its audio/vision encoder outputs are recorded; every selection
then reuses those encoder outputs (``encoder_replay``: the encoders hold no experts) and is scored against
the reference. ``--pruned P`` evaluates a written checkpoint too, after the original is freed; several named
checkpoints (``pruned=P healed=H``) load one after another, and the later ones' recovered share of the
first one's gap to the original is reported (``eval_recovery``).

Inputs are the calibration path's own (``inputs.build_inputs``: the stratum's media through the model's
processor and chat template, the row's text as the assistant turn), so the numbers measure what the
calibration measured. ASR rows (``task: asr``) are also transcribed greedily with a transcription
instruction and scored by WER/CER.
"""

from __future__ import annotations

import gc
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reap_omni.errors import ReapOmniError
from reap_omni.output_guard import resolve_path
from reap_omni.prune.inputs import InputOptions, Sample, iter_batches, load_samples

if TYPE_CHECKING:
    from reap_omni.prune.distributed import Dist

#: selections computed from the scores, in report order
METHODS = ("reap-omni", "reap-s1", "frequency", "random")
ORIGINAL, PRUNED = "original", "pruned"
NEEDS_SCORES = ("reap-omni", "reap-s1", "frequency")
DEFAULT_ASR_PROMPT = "Transcribe the audio into text."
EVAL_FORMAT = "reap-omni-eval/1"


@dataclass
class EvalOptions:
    model_path: str
    output: str
    scores: str | None = None
    retention_rate: float = 0.5
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    pruned: str | None = None
    #: several named checkpoints (``--pruned NAME=PATH`` ...), evaluated after ``pruned`` in this order
    pruned_named: list[tuple[str, str]] = field(default_factory=list)
    audio_data: str | None = None
    video_data: str | None = None
    mixed_data: str | None = None
    samples: int = 100
    max_new_tokens: int = 128  # 0: no transcripts
    asr_prompt: str = DEFAULT_ASR_PROMPT
    calibration_lock: list[str] = field(default_factory=list)
    skip_calibration_rows: bool = False
    lam: float = 1.0
    beta: float = 1.0
    seed: int = 0
    kl_top_k: int = 64
    device: str | None = None
    device_map: str | dict[str, Any] | None = None
    max_memory: dict[Any, int] | None = None
    offload_folder: str | None = None
    dtype: str = "auto"
    batch_size: int = 1
    inputs: InputOptions = field(default_factory=InputOptions)
    progress: bool = False


@dataclass
class EvalRow:
    """One held-out row: its inputs (``sample``) and what the metrics need to know about it."""

    stratum: str
    sample: Sample
    task: str | None
    lang: str | None
    eval_split: bool | None
    sha256: list[str]

    @property
    def asr(self) -> bool:
        return (self.task or "").lower() == "asr" and bool(self.sample.text)


# -- selections --------------------------------------------------------------------------------------------

def selections(methods: list[str], scores, layers: list[int], num_experts: int, k: int, lam: float, beta: float,
               seed: int):
    """``{method: kept [L, K] int64}`` (ascending ids per layer, rows following ``layers``)."""
    import torch

    from reap_omni.prune.scores import affinity, select_experts

    out = {}
    for m in methods:
        if m == "reap-omni":
            a = affinity(scores.saliency("S1"), scores.saliency("S2"), scores.saliency("S3"), lam, beta)
            out[m] = select_experts(a, k)
        elif m == "reap-s1":
            out[m] = select_experts(scores.saliency("S1"), k)
        elif m == "frequency":  # routing frequency over the whole calibration set (all strata's tokens)
            counts = sum(scores.strata[s].counts.double() for s in scores.strata)
            tokens = sum(scores.strata[s].tokens.double() for s in scores.strata)
            out[m] = select_experts(counts / tokens.clamp(min=1)[:, None], k)
        elif m == "random":
            gen = torch.Generator().manual_seed(seed)
            out[m] = torch.stack([torch.randperm(num_experts, generator=gen)[:k].sort().values for _ in layers])
        else:
            raise ReapOmniError(f"unknown method {m!r} (choose from {', '.join(METHODS)})")
    return out


def kept_overlap(kept: dict[str, Any]) -> dict[str, list[float]]:
    """Per layer |A ∩ B| / K for every pair of selections: ``{"a|b": [per layer]}``."""
    names = list(kept)
    out = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ka, kb = kept[a].tolist(), kept[b].tolist()
            out[f"{a}|{b}"] = [len(set(x) & set(y)) / max(len(x), 1) for x, y in zip(ka, kb, strict=True)]
    return out


# -- rows --------------------------------------------------------------------------------------------------

def load_rows(path: str, stratum: str, limit: int) -> list[EvalRow]:
    """The first ``limit`` rows of a stratum's manifest, with their task, language, split and media digests."""
    from reap_omni.calibration_set.report_summary import eval_split_of
    from reap_omni.manifest.lock import file_sha256
    from reap_omni.manifest.record import iter_records

    samples = load_samples(path, stratum, limit)
    records = []
    for _line, rec in iter_records(path):
        records.append(rec)
        if len(records) >= len(samples):
            break
    rows = []
    for s, rec in zip(samples, records, strict=True):
        media = [p for p in (s.audio, s.video) if p is not None]
        if rec.audio and s.audio is None:  # an S3 row's extracted track: also a calibration clip's file
            extra = Path(rec.audio)
            if not extra.is_absolute() and not extra.exists():
                extra = Path(path).parent / extra
            if extra.is_file():
                media.append(extra)
        rows.append(EvalRow(stratum, s, rec.task, rec.lang, eval_split_of(rec.source)[0],
                            [file_sha256(p) for p in media]))
    return rows


def check_held_out(rows: dict[str, list[EvalRow]], opts: EvalOptions, scores_meta: dict[str, Any] | None,
                   log: Callable[[str], None]) -> tuple[dict[str, list[EvalRow]], dict[str, Any]]:
    """Refuse (or with ``skip_calibration_rows`` drop) rows of the calibration set; flag evaluation-split rows."""
    from reap_omni.prune.heldout import calibration_set, find_overlap, overlap_message

    cal = calibration_set(opts.calibration_lock, scores_meta)
    info: dict[str, Any] = {"checked_against": cal.sources, "calibration_rows_skipped": []}
    if not cal.known:
        log("held-out check: the calibration set is unknown (the scores name no rows); pass --calibration-lock "
            "<calibration>/manifest.lock.json to check that no evaluation row was a calibration row")
    else:
        flat = [r for part in rows.values() for r in part]
        overlap = find_overlap(((r.sample.id, r.sample.where, r.sha256) for r in flat), cal)
        if overlap and not opts.skip_calibration_rows:
            raise ReapOmniError(overlap_message(overlap, len(flat), cal))
        if overlap:
            bad = {o.row_id for o in overlap}
            log(f"held-out check: skipping {len(bad)} calibration rows ({', '.join(sorted(bad)[:5])}"
                f"{', ...' if len(bad) > 5 else ''})")
            info["calibration_rows_skipped"] = sorted(bad)
            rows = {s: [r for r in part if r.sample.id not in bad] for s, part in rows.items()}
            empty = [s for s, part in rows.items() if not part]
            if empty:
                raise ReapOmniError(f"stratum {empty[0]} has no rows left after dropping calibration rows")
    info["eval_split_rows"] = {s: [r.sample.id for r in part if r.eval_split] for s, part in rows.items()}
    flagged = sum(len(v) for v in info["eval_split_rows"].values())
    if flagged:
        log(f"held-out check: {flagged} evaluation rows come from benchmark evaluation splits (flagged in eval.json)")
    return rows, info


# -- accumulation ------------------------------------------------------------------------------------------

@dataclass
class _Acc:
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
        from reap_omni.prune.eval_metrics import rate

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


def reduce_accumulators(acc: dict[str, dict[str, _Acc]], dist: Dist) -> dict[str, dict[str, _Acc]]:
    """Every rank's sums added up (int64 counts, float64 sums; times: the maximum), the same on every rank.

    Every rank holds the same strata and methods in the same order (each runs every method on its shard,
    empty or not), so three collectives carry everything.
    """
    import torch

    keys = [(s, m) for s, accs in acc.items() for m in accs]
    if not dist.active or not keys:
        return acc
    ints = torch.tensor([[getattr(acc[s][m], f) for f in _Acc.INTS] for s, m in keys], dtype=torch.int64)
    sums = torch.tensor([[getattr(acc[s][m], f) for f in _Acc.SUMS] for s, m in keys], dtype=torch.float64)
    times = torch.tensor([[getattr(acc[s][m], f) for f in _Acc.TIMES] for s, m in keys], dtype=torch.float64)
    ints, sums = dist.all_reduce_sum([ints, sums])
    (times,) = dist.all_reduce_max([times])
    out: dict[str, dict[str, _Acc]] = {s: {} for s in acc}
    for i, (s, m) in enumerate(keys):
        values = dict(zip(_Acc.INTS, (int(v) for v in ints[i].tolist()), strict=True))
        values |= dict(zip(_Acc.SUMS, sums[i].tolist(), strict=True))
        values |= dict(zip(_Acc.TIMES, times[i].tolist(), strict=True))
        out[s][m] = _Acc(**values)
    return out


class _InstructionProcessor:
    """The processor, with the user turn's instruction replaced (greedy transcripts ask for a transcript)."""

    def __init__(self, processor, instruction: str):
        self._processor = processor
        self._instruction = instruction

    def __getattr__(self, name):
        return getattr(self._processor, name)

    def __call__(self, *args, **kwargs):
        return self._processor(*args, **kwargs)

    def apply_chat_template(self, conversation, **kwargs):
        conv = []
        for msg in conversation:
            content = msg["content"]
            if msg["role"] == "user" and isinstance(content, list):
                content = [{**c, "text": self._instruction} if c.get("type") == "text" else c for c in content]
            conv.append({**msg, "content": content})
        return self._processor.apply_chat_template(conv, **kwargs)


_MODEL_DTYPE_INPUTS = ("input_features", "pixel_values", "pixel_values_videos")


def _to(batch: dict[str, Any], device, dtype) -> dict[str, Any]:
    import torch

    out = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor):
            v = v.to(device)
            if k in _MODEL_DTYPE_INPUTS:
                v = v.to(dtype)
        out[k] = v
    return out


def _sync(device) -> None:
    import torch

    if getattr(device, "type", "cpu") == "cuda":
        torch.cuda.synchronize(device)


class _LogitsAt:
    """While active, the LM head computes logits only at the given positions (a pre-hook slices its input)."""

    def __init__(self, head):
        self.head = head
        self.positions = None
        self._handle = head.register_forward_pre_hook(self._hook)

    def _hook(self, _mod, args):
        if self.positions is None:
            return None
        h = args[0]
        return (h[:, self.positions.to(h.device), :], *args[1:])

    def close(self) -> None:
        self._handle.remove()


# -- the run -----------------------------------------------------------------------------------------------

def _check_options(opts: EvalOptions) -> None:
    unknown = [m for m in opts.methods if m not in METHODS]
    if unknown:
        raise ReapOmniError(f"unknown --methods entry {unknown[0]!r} (choose from {', '.join(METHODS)})")
    if len(set(opts.methods)) != len(opts.methods):
        raise ReapOmniError("--methods names a method twice")
    names = [name for name, _ in checkpoints(opts)]
    taken = [n for n in names if n in (ORIGINAL, *METHODS)]
    if taken or len(set(names)) != len(names):
        raise ReapOmniError(f"--pruned names must be unique and not {ORIGINAL} or a method: {', '.join(names)}")
    if any(m in NEEDS_SCORES for m in opts.methods) and not opts.scores:
        need = ", ".join(m for m in opts.methods if m in NEEDS_SCORES)
        raise ReapOmniError(f"--scores is required for {need} (a pruned folder or its reap_omni/scores.json)")
    if opts.samples < 1:
        raise ReapOmniError("--samples must be at least 1")
    if opts.batch_size < 1:
        raise ReapOmniError("--batch-size must be at least 1")
    if opts.kl_top_k < 1:
        raise ReapOmniError("--kl-top-k must be at least 1")
    if opts.max_new_tokens < 0:
        raise ReapOmniError("--max-new-tokens must be 0 (no transcripts) or more")
    if opts.device is not None and opts.device_map is not None:
        raise ReapOmniError("pass --device (one device) or --device-map (several), not both")
    if not any((opts.audio_data, opts.video_data, opts.mixed_data)):
        raise ReapOmniError("pass at least one of --audio-data, --video-data, --mixed-data")
    out = Path(opts.output)
    if out.exists() and not out.is_dir():
        raise ReapOmniError(f"--output {out} is a file; pass a folder")


def run_eval(opts: EvalOptions, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Evaluate; writes ``eval.json``, ``eval.md``, ``eval_rows.jsonl`` and the PNGs into ``opts.output``.

    Returns the ``eval.json`` document. Every input is checked before a model is loaded.

    Under torchrun (``WORLD_SIZE`` > 1) every rank checks all rows (the held-out check included, so every
    rank reaches the same verdict), evaluates its shard of each stratum (row ``i`` on rank ``i % N``) and
    the sums are all-reduced; rank 0 alone writes. Ranks other than 0 return ``{"rank": r}``.
    """
    from reap_omni.prune.distributed import Dist, env_rank
    from reap_omni.prune.preflight import check_model, check_numbers, check_pruned, check_scores

    log = log or (lambda msg: print(msg, file=sys.stderr))
    if env_rank() != 0:  # under torchrun every rank checks the same inputs; rank 0 alone speaks
        log = _quiet
    _check_options(opts)
    _guard_outputs(opts, log)
    facts = check_model(opts.model_path, "thinker")  # config, index, shard headers: no weight read
    layers, n_exp, top_k = facts.layers, facts.num_experts, facts.top_k
    k = check_numbers(facts, opts.lam, opts.beta, opts.retention_rate if opts.methods else None)
    scores = check_scores(opts.scores, facts) if opts.scores else None
    kept = selections(opts.methods, scores, layers, n_exp, k, opts.lam, opts.beta, opts.seed) if opts.methods else {}
    for _name, path in checkpoints(opts):
        check_pruned(path, facts)  # a sound checkpoint with fewer experts than the original

    paths = {"S1": opts.audio_data, "S2": opts.video_data, "S3": opts.mixed_data}
    rows = {s: load_rows(p, s, opts.samples) for s, p in paths.items() if p}
    rows, held_out = check_held_out(rows, opts, scores.meta if scores else None, log)
    asr_rows = sum(r.asr for part in rows.values() for r in part)
    if asr_rows and opts.max_new_tokens:
        from reap_omni.prune.eval_metrics import jiwer_available

        if not jiwer_available():
            from reap_omni.install_hint import install_command

            raise ReapOmniError(f"scoring transcripts needs jiwer (the [prune] extra): {install_command('prune')}")
    all_kept = dict(kept)
    for name, path in checkpoints(opts):
        pruned_kept = _pruned_kept(path)
        if pruned_kept is not None and tuple(pruned_kept.shape) == (len(layers), pruned_kept.shape[1]):
            all_kept[name] = pruned_kept
    meta = {
        "format": EVAL_FORMAT, "model_path": str(opts.model_path), "scores": opts.scores, "pruned": opts.pruned,
        "retention_rate": opts.retention_rate if opts.methods else None, "kept_per_layer": k, "num_experts": n_exp,
        "num_experts_per_tok": top_k, "layers": layers, "methods": [ORIGINAL, *opts.methods]
        + [name for name, _ in checkpoints(opts)], "lambda": opts.lam, "beta": opts.beta, "seed": opts.seed,
        "samples": opts.samples, "kl_top_k": opts.kl_top_k, "max_new_tokens": opts.max_new_tokens,
        "asr_prompt": opts.asr_prompt, "batch_size": opts.batch_size, "held_out": held_out,
        "kept": {m: v.tolist() for m, v in all_kept.items()}, "overlap": kept_overlap(all_kept),
    }
    if opts.pruned_named:
        meta["checkpoints"] = dict(checkpoints(opts))

    dist = Dist.from_env()
    try:
        return _evaluate(opts, rows, kept, meta, log, dist)
    finally:
        dist.close()


def _quiet(_msg: str) -> None:
    pass


def _guard_outputs(opts: EvalOptions, log: Callable[[str], None]) -> None:
    """``--output`` and ``--offload-folder`` against every input (``reap_omni.output_guard``), before any
    model is loaded: the models, the scores, the calibration locks, the manifests and their media."""
    from reap_omni.output_guard import guard_outputs, manifest_inputs, written_folder
    from reap_omni.prune.distributed import env_rank
    from reap_omni.prune.eval_report import output_folder
    from reap_omni.prune.previous import scores_inputs

    outputs = [output_folder(opts.output)]
    if opts.offload_folder:
        outputs.append(written_folder(opts.offload_folder, "--offload-folder"))
    inputs = scores_inputs("--scores", opts.scores) + [("--calibration-lock", p) for p in opts.calibration_lock]
    for flag, path in (("--audio-data", opts.audio_data), ("--video-data", opts.video_data),
                       ("--mixed-data", opts.mixed_data)):
        inputs += manifest_inputs(flag, path)
    models = [("--model", opts.model_path)] + [("--pruned", path) for _name, path in checkpoints(opts)]
    guard_outputs(outputs, model_dirs=models, inputs=inputs, clean=env_rank() == 0, log=log)


def _evaluate(opts: EvalOptions, rows: dict[str, list[EvalRow]], kept: dict[str, Any], meta: dict[str, Any],
              log: Callable[[str], None], dist: Dist) -> dict[str, Any]:
    """The passes over this rank's shard, the all-reduce of the sums, and rank 0's outputs.

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
    runner = _Runner(opts, {s: dist.shard(part) for s, part in rows.items()}, log, dist)
    runner.run_original_and_masked(kept)
    _free_memory()  # the original is gone before the pruned checkpoint loads: one model in memory at a time
    for name, path in checkpoints(opts):  # one checkpoint in memory at a time
        runner.run_pruned(name, path)
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
    from reap_omni.prune.eval_recovery import recovery

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
        from reap_omni.prune.eval_report import write_output_set

        write_output_set(out_dir, doc, records)  # one atomic set: the old one or the new one, never a mix
    except Exception as exc:  # noqa: BLE001 - reported to the other ranks, then re-raised
        err = exc
    dist.check(err, "writing on rank 0")
    log(f"wrote {Path(opts.output) / 'eval.json'}, eval.md and plots")
    return doc


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def checkpoints(opts: EvalOptions) -> list[tuple[str, str]]:
    """The written checkpoints to evaluate, in order: ``(name, path)``; the first is the recovery reference."""
    return ([(PRUNED, opts.pruned)] if opts.pruned else []) + list(opts.pruned_named)


def _pruned_kept(path: str):
    """The pruned checkpoint's kept ids (old numbering) from its saved scores, if it has them."""
    import json

    import torch

    from reap_omni.prune.scores import resolve_scores_path

    try:
        doc = json.loads(resolve_scores_path(path).read_text())
        return torch.tensor(doc["kept"], dtype=torch.int64)
    except (ReapOmniError, OSError, ValueError, KeyError, TypeError):
        return None


class _Runner:
    """Holds the rows, the original's references and the running sums, across the models it loads."""

    def __init__(self, opts: EvalOptions, rows: dict[str, list[EvalRow]], log: Callable[[str], None],
                 dist: Dist | None = None):
        from reap_omni.prune.distributed import Dist

        self.opts = opts
        self.rows = rows  # this rank's shard of each stratum
        self.log = log
        self.dist = dist or Dist()
        self.acc: dict[str, dict[str, _Acc]] = {s: {} for s in rows}
        self.refs: dict[tuple[str, str], Any] = {}  # (stratum, row id) -> Reference (CPU)
        self.row_records: list[dict[str, Any]] = []
        self.meta: dict[str, Any] = {}
        self.processor = None

    # model loading -----------------------------------------------------------------------------------
    def _load(self, path: str):
        from reap_omni.prune.calibration import CalibrationSettings, load_on_rank

        o = self.opts
        settings = CalibrationSettings(model_path=path, device=o.device, device_map=o.device_map,
                                       max_memory=o.max_memory, offload_folder=o.offload_folder, dtype=o.dtype)
        # this rank's device, device-map slice and memory share, as calibration loads
        root, model, device, dtype = load_on_rank(settings, self.dist, self.log)
        self.meta.setdefault("dtype", str(dtype).removeprefix("torch."))
        self.meta.setdefault("device", str(device))
        return root, model, device, dtype

    def _processor(self):
        if self.processor is None:
            from reap_omni.prune.calibration import load_processor

            self.processor = load_processor(self.opts.model_path)
        return self.processor

    def _collective(self, step: Callable[[], Any], what: str) -> Any:
        """Run ``step``; whether it failed is agreed on by every rank (``Dist.check``) before going on."""
        err: BaseException | None = None
        out = None
        try:
            out = step()
        except Exception as exc:  # noqa: BLE001 - reported collectively, then re-raised on this rank
            err = exc
        self.dist.check(err, what)
        return out

    # passes ------------------------------------------------------------------------------------------
    def run_original_and_masked(self, kept: dict[str, Any]) -> None:
        import torch

        from reap_omni.prune.encoder_replay import EncoderReplay
        from reap_omni.prune.model_io import find_moe_blocks
        from reap_omni.prune.router_mask import RouterMask, kept_by_layer

        root, model, device, dtype = self._collective(lambda: self._load(self.opts.model_path), "model loading")
        blocks = find_moe_blocks(root)
        layers = [b.layer for b in blocks]
        masks = {m: kept_by_layer(layers, v) for m, v in kept.items()}
        replay = EncoderReplay(root)
        head = _LogitsAt(root.get_output_embeddings())
        mask = RouterMask(blocks)
        try:
            with torch.inference_mode():
                for stratum in self.rows:
                    self._collective(lambda s=stratum: self._stratum(s, root, device, dtype, head, mask, replay,
                                                                     masks), f"stratum {stratum}")
        finally:
            mask.close()
            head.close()
            replay.clear()

    def run_pruned(self, name: str = PRUNED, path: str | None = None) -> None:
        import torch

        path = path or self.opts.pruned
        root, model, device, dtype = self._collective(lambda: self._load(path),
                                                      f"loading the pruned checkpoint {path}")
        head = _LogitsAt(root.get_output_embeddings())
        try:
            with torch.inference_mode():
                for stratum in self.rows:
                    self._collective(lambda s=stratum: self._stratum(s, root, device, dtype, head, None, None, {},
                                                                     pruned=name), f"stratum {stratum} ({name})")
        finally:
            head.close()

    def _stratum(self, stratum, root, device, dtype, head, mask, replay, masks, pruned: str | None = None) -> None:
        from reap_omni.prune.inputs import media_seconds
        from reap_omni.prune.progress import StratumProgress

        rows = self.rows[stratum]
        by_id = {r.sample.id: r for r in rows}
        processor = self._processor()
        o = self.opts
        methods = [pruned] if pruned else [ORIGINAL, *masks]
        for m in methods:
            self.acc[stratum].setdefault(m, _Acc())
        label = f" ({pruned})" if pruned else f" ({len(methods)} models)"
        if self.dist.active:
            label += f" (rank 0 of {self.dist.world_size})"
        with StratumProgress(stratum, len(rows), enabled=o.progress and self.dist.is_main, label=label) as bar:
            for inputs, chunk in iter_batches(processor, [r.sample for r in rows], stratum, o.batch_size, o.inputs):
                batch_rows = [by_id[s.id] for s in chunk]
                self._teacher_forced(stratum, batch_rows, inputs, root, device, dtype, head, mask, replay, masks,
                                     pruned)
                self._transcripts(stratum, batch_rows, root, device, dtype, mask, methods, masks)
                tokens = int(inputs["attention_mask"].sum()) if "attention_mask" in inputs else 0
                bar.update(len(chunk), tokens, media_seconds(inputs))

    def _teacher_forced(self, stratum, batch_rows, inputs, root, device, dtype, head, mask, replay, masks,
                        pruned) -> None:
        import torch

        from reap_omni.prune.eval_metrics import (
            Reference,
            answer_positions,
            bucket_kl,
            log_probs,
            reference,
            token_nll,
            top1_agreement,
        )

        samples = [r.sample for r in batch_rows]
        positions = answer_positions(self._processor(), samples, stratum, inputs["input_ids"],
                                     inputs.get("attention_mask"))
        counts = [int(p.numel()) for p in positions]
        n_tok = sum(counts)
        if n_tok == 0:
            return
        # logits at p - 1 predict the answer token at p; the head computes only those positions
        union = torch.unique(torch.cat([p - 1 for p in positions]))
        gather_b = torch.cat([torch.full((c,), b, dtype=torch.long) for b, c in enumerate(counts)])
        gather_p = torch.searchsorted(union, torch.cat([p - 1 for p in positions]))
        targets = torch.cat([inputs["input_ids"][b, p] for b, p in enumerate(positions)])
        batch = _to(inputs, device, dtype)
        head.positions = union

        def forward() -> torch.Tensor:
            _sync(device)
            out = root(**batch, use_cache=False, output_router_logits=False)
            logits = out.logits[gather_b.to(out.logits.device), gather_p.to(out.logits.device)]
            return log_probs(logits)

        def record(method: str, logq, ref, seconds: float) -> None:
            nll = token_nll(logq, targets)
            kl = bucket_kl(ref, logq)
            top1 = top1_agreement(ref, logq).double()
            a = self.acc[stratum][method]
            a.rows += sum(c > 0 for c in counts)
            a.tokens += n_tok
            a.nll += float(nll.double().sum())
            a.kl += float(kl.double().sum())
            a.top1 += int(top1.sum())
            a.seconds += seconds
            start = 0
            for r, c in zip(batch_rows, counts, strict=True):
                if c:
                    sl = slice(start, start + c)
                    self.row_records.append({
                        "stratum": stratum, "id": r.sample.id, "method": method, "tokens": c,
                        "nll": float(nll[sl].double().mean()), "kl": float(kl[sl].double().mean()),
                        "top1": float(top1[sl].mean())})
                start += c

        try:
            if pruned:
                ref = Reference.cat([self.refs[(stratum, r.sample.id)] for r, c in zip(batch_rows, counts,
                                                                                        strict=True) if c])
                t0 = time.perf_counter()
                logq = forward()
                _sync(device)
                record(pruned, logq, ref, time.perf_counter() - t0)
                return
            t0 = time.perf_counter()
            mask.set(None)
            with replay.record():
                logp = forward()
            ref = reference(logp, self.opts.kl_top_k)
            _sync(device)
            record(ORIGINAL, logp, ref, time.perf_counter() - t0)
            start = 0
            cpu_ref = ref.to("cpu")
            for r, c in zip(batch_rows, counts, strict=True):
                if c:
                    self.refs[(stratum, r.sample.id)] = cpu_ref.rows(start, start + c)
                start += c
            del logp
            for method, kept in masks.items():
                t0 = time.perf_counter()
                mask.set(kept)
                with replay.replay():
                    logq = forward()
                _sync(device)
                record(method, logq, ref, time.perf_counter() - t0)
                del logq
        finally:
            head.positions = None
            if mask is not None:
                mask.set(None)
            if replay is not None:
                replay.clear()

    def _transcripts(self, stratum, batch_rows, root, device, dtype, mask, methods, masks) -> None:
        import re

        import torch
        from transformers import GenerationConfig

        from reap_omni.prune.eval_metrics import error_counts, scorable, uses_cer

        o = self.opts
        asr = [r for r in batch_rows if r.asr]
        if not asr or not o.max_new_tokens:
            return
        cer = {r.sample.id: uses_cer(r.lang, r.sample.text) for r in asr}
        asr = [r for r in asr if scorable(r.sample.text, cer[r.sample.id])]
        if not asr:
            return
        processor = self._processor()
        tok = processor.tokenizer
        eos = [i for i in {tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>")}
               if isinstance(i, int) and i >= 0 and i != tok.unk_token_id]
        gen_cfg = GenerationConfig(max_new_tokens=o.max_new_tokens, do_sample=False, num_beams=1,
                                   eos_token_id=eos or None,
                                   pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else (eos or [0])[0])
        prompt_proc = _InstructionProcessor(processor, o.asr_prompt)
        side = tok.padding_side
        tok.padding_side = "left"  # batched greedy decoding continues every row from its last real token
        try:
            gen_samples = [replace(r.sample, text="") for r in asr]
            inputs, _ = next(iter(iter_batches(prompt_proc, gen_samples, stratum, len(gen_samples), o.inputs)))
        finally:
            tok.padding_side = side
        batch = _to(inputs, device, dtype)
        n_in = int(batch["input_ids"].shape[1])
        for method in methods:
            if mask is not None:
                mask.set(masks.get(method))
            t0 = time.perf_counter()
            try:
                with torch.inference_mode():
                    out = root.generate(**batch, generation_config=gen_cfg)
            finally:
                if mask is not None:
                    mask.set(None)
            _sync(device)
            seconds = time.perf_counter() - t0
            hyps = [re.sub(r"<think>.*?</think>", "", h, flags=re.S).strip()
                    for h in tok.batch_decode(out[:, n_in:], skip_special_tokens=True)]
            a = self.acc[stratum][method]
            a.gen_seconds += seconds
            for r, h in zip(asr, hyps, strict=True):
                by_cer = cer[r.sample.id]
                errors, length = error_counts([r.sample.text], [h], cer=by_cer)  # jiwer sums these per row
                if by_cer:
                    a.cer_errors, a.cer_chars, a.cer_rows = a.cer_errors + errors, a.cer_chars + length, a.cer_rows + 1
                else:
                    a.wer_errors, a.wer_words, a.wer_rows = a.wer_errors + errors, a.wer_words + length, a.wer_rows + 1
                self.row_records.append({"stratum": stratum, "id": r.sample.id, "method": method,
                                         "reference": r.sample.text, "transcript": h,
                                         "metric": "cer" if by_cer else "wer"})

    def document(self) -> dict[str, Any]:
        strata = {s: {m: a.result() for m, a in accs.items()} for s, accs in self.acc.items()}
        return {"strata": strata, "meta": dict(self.meta)}

