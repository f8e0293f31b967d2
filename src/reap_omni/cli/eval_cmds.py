"""``reap-omni eval``: REAP-OMNI's expert selection against baselines on held-out rows (needs ``[prune]``)."""

from __future__ import annotations

import argparse
import json

from reap_omni.cli.model_args import add_input_arguments, input_options, placement_options, require_prune_extra
from reap_omni.errors import ReapOmniError

METHOD_NAMES = ("reap-omni", "reap-s1", "reap-text", "reap-all", "frequency", "random")


def parse_retentions(text: str) -> list[float]:
    """``--retention 0.25,0.5,0.75`` (or one value) as floats, in the order given; a one-line error otherwise."""
    try:
        rates = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ReapOmniError(f"--retention takes numbers in (0, 1], comma-separated (e.g. 0.25,0.5), not {text!r}") \
            from None
    if not rates:
        raise ReapOmniError("--retention needs at least one value in (0, 1]")
    return rates


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate expert selections (REAP-OMNI, S1 only, REAP on text / on all rows, frequency, random) at one "
        "or several retentions, and pruned checkpoints, on held-out audio/video/mixed/text rows",
        description="Each selection keeps the same K experts per layer and is evaluated on the loaded original "
        "model by masking the other experts out of the router (the same routing as the pruned checkpoint). "
        "Per stratum and method: teacher-forced NLL/perplexity of the answer tokens, KL(original || method), "
        "top-1 agreement, WER/CER of greedy transcripts for ASR rows, wall time. --retention 0.25,0.5,... evaluates "
        "every selection at each retention on the same passes (the curve per stratum, with the pruned thinker's "
        "size). Writes eval.json, eval.md, eval_rows.jsonl and PNGs into --output. Data parallel: "
        "torchrun --nproc-per-node N -m reap_omni eval ... gives each rank a shard of the rows and sums the metrics "
        "over the ranks (rank 0 writes).",
    )
    p.add_argument("--model", "--model-path", dest="model", required=True,
                   help="the original Qwen3-Omni-MoE checkpoint")
    p.add_argument("--scores", help="saved scores: a pruned folder, its reap_omni/scores.json, or --scores-out's file")
    p.add_argument("--retention", "--retention-rate", dest="retention", default="0.5",
                   help="fraction of experts every selection keeps per layer (0, 1]; several, comma-separated "
                   "(0.25,0.5,0.75), evaluate each on the one loaded model: eval.json gets a retention axis, "
                   "eval_retention.png the curves, eval.md the prune commands of the retentions worth writing")
    p.add_argument("--methods", default=None,
                   help=f"comma-separated selections to evaluate, from {', '.join(METHOD_NAMES)}; '' for none "
                   "(the original is always evaluated). Default: reap-omni, reap-s1, frequency, random, plus "
                   "reap-text and reap-all when the scores hold S0 (text) statistics")
    p.add_argument("--pruned", action="append", default=[], metavar="[NAME=]PATH",
                   help="also evaluate this written checkpoint (loaded after the original is freed); repeat with "
                   "names to compare several, e.g. --pruned pruned=P --pruned healed=H: the later ones' recovered "
                   "share of the first one's gap to the original is reported per stratum and pooled")
    p.add_argument("--audio-data", help="S1: held-out unified JSONL of audio rows")
    p.add_argument("--video-data", help="S2: held-out unified JSONL of video rows")
    p.add_argument("--mixed-data", help="S3: held-out unified JSONL of videos whose audio track is used")
    p.add_argument("--text-data", help="S0: held-out unified JSONL of text rows (NLL/KL/top-1 on their answer tokens)")
    p.add_argument("--samples", type=int, default=100, help="rows used from each stratum (the first N)")
    p.add_argument("--max-new-tokens", type=int, default=128,
                   help="greedy transcript length for ASR rows (task asr); 0: no transcripts")
    p.add_argument("--asr-prompt", default=None, help="instruction of the transcription turn "
                   "(default: 'Transcribe the audio into text.')")
    p.add_argument("--calibration-lock", action="append", default=[], metavar="LOCK",
                   help="manifest.lock.json of the calibration set (or its folder); rows in it are refused; repeatable")
    p.add_argument("--skip-calibration-rows", action="store_true",
                   help="drop rows that are in the calibration set instead of refusing to run")
    p.add_argument("--output", required=True, help="folder for eval.json, eval.md, eval_rows.jsonl and the PNGs")
    p.add_argument("--lambda", dest="lam", type=float, default=1.0, help="REAP-OMNI's lambda (as prune; finite, >= 0)")
    p.add_argument("--beta", type=float, default=1.0, help="REAP-OMNI's beta (as prune; finite, >= 0)")
    p.add_argument("--gamma", type=float, default=0.0, help="REAP-OMNI's S0 weight (as prune; finite, >= 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random selection")
    p.add_argument("--kl-top-k", type=int, default=64,
                   help="the original's top-k log-probabilities kept per token for KL (the rest is one bucket)")
    p.add_argument("--device", help="one torch device, e.g. cuda:0 (default cpu); under torchrun, cuda means "
                   "cuda:LOCAL_RANK")
    p.add_argument("--device-map", help="spread the model over devices: auto, balanced, balanced_low_0, sequential, "
                   "or a JSON object / file of module name -> device (as prune; under torchrun, each rank's slice "
                   "of the GPUs)")
    p.add_argument("--max-memory", help="memory per device for --device-map, e.g. 0=20GiB,1=20GiB,cpu=60GiB")
    p.add_argument("--offload-folder", help="with --device-map: put weights that fit nowhere else on disk here")
    p.add_argument("--dtype", default="auto", help="auto, bfloat16, float16 or float32")
    p.add_argument("--batch-size", type=int, default=1, help="rows per forward")
    add_input_arguments(p)
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors (no progress bars)")
    p.add_argument("--json", action="store_true",
                   help="print eval.json's strata (and a sweep's retention axis) on stdout")
    p.set_defaults(func=run_eval_cmd)


def run_eval_cmd(args: argparse.Namespace) -> int:
    from reap_omni.model.preflight import check_model

    check_model(args.model, "thinker")  # before torch loads: a broken download fails in milliseconds
    require_prune_extra("evaluation")
    from reap_omni.evaluate.options import DEFAULT_ASR_PROMPT, ORIGINAL, PRUNED, EvalOptions
    from reap_omni.evaluate.pipeline import run_eval
    from reap_omni.evaluate.recovery import parse_named_checkpoints
    from reap_omni.prune.progress import progress_enabled

    methods = None if args.methods is None else [m.strip() for m in args.methods.split(",") if m.strip()]
    rates = parse_retentions(args.retention)
    named = parse_named_checkpoints(args.pruned, PRUNED, (ORIGINAL, *METHOD_NAMES))
    one = len(named) == 1 and named[0][0] == PRUNED  # the single unnamed --pruned of before: same outputs
    opts = EvalOptions(
        model_path=args.model, output=args.output, scores=args.scores, retention_rate=rates[0],
        retention_rates=rates if len(rates) > 1 else [], methods=methods, pruned=named[0][1] if one else None,
        pruned_named=[] if one else named, audio_data=args.audio_data, video_data=args.video_data,
        mixed_data=args.mixed_data, text_data=args.text_data, samples=args.samples,
        max_new_tokens=args.max_new_tokens,
        asr_prompt=args.asr_prompt or DEFAULT_ASR_PROMPT, calibration_lock=list(args.calibration_lock),
        skip_calibration_rows=args.skip_calibration_rows, lam=args.lam, beta=args.beta, gamma=args.gamma,
        seed=args.seed,
        kl_top_k=args.kl_top_k, placement=placement_options(args), batch_size=args.batch_size,
        inputs=input_options(args),
        progress=progress_enabled(args.quiet),
    )
    doc = run_eval(opts, log=(lambda _msg: None) if args.quiet else None)
    if args.json and doc.get("rank", 0) == 0:  # under torchrun, rank 0 speaks for all
        out = {"strata": doc["strata"]}
        if len(rates) > 1:
            out["retention"] = doc.get("retention")
        print(json.dumps(out, default=str))
    return 0
