"""``reap-omni prune``: REAP-OMNI expert pruning (needs the ``[prune]`` extra; torch is imported lazily)."""

from __future__ import annotations

import argparse
import contextlib
import json

from reap_omni.cli.model_args import add_input_arguments, input_options, placement_options, require_prune_extra


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prune",
        help="score MoE experts on audio/video/mixed calibration sets and write a pruned checkpoint",
        description="REAP-OMNI: A = S1 + lambda*ReLU(S3 - beta*S2) (+ gamma*S0) per expert; keep the top "
        "retention-rate fraction in every MoE layer and write a pruned Hugging Face checkpoint.",
    )
    p.add_argument("--model-path", required=True, help="Qwen3-Omni-MoE checkpoint folder (safetensors)")
    p.add_argument("--output-path", help="folder for the pruned checkpoint (required unless --dry-run)")
    p.add_argument("--audio-data", help="S1: unified JSONL of audio-only rows")
    p.add_argument("--video-data", help="S2: unified JSONL of video rows (their audio is not used)")
    p.add_argument("--mixed-data", help="S3: unified JSONL of videos whose audio track is used")
    p.add_argument("--text-data", help="S0 (optional): unified JSONL of text rows (answer in 'text', instruction in "
                   "meta.question); its statistics are stored beside the others, for --gamma and eval's text baseline")
    p.add_argument("--retention-rate", type=float, default=0.5, help="fraction of experts kept per layer (0, 1]")
    p.add_argument("--calibration-samples", type=int, default=100, help="rows used from each stratum")
    p.add_argument("--lambda", dest="lam", type=float, default=1.0,
                   help="weight of the audio-video bonus (finite, >= 0)")
    p.add_argument("--beta", type=float, default=1.0,
                   help="how much video-only salience is subtracted from S3 (finite, >= 0)")
    p.add_argument("--gamma", type=float, default=0.0,
                   help="add gamma*S0 (text saliency) to the affinity, to protect text ability (finite, >= 0; "
                   "default 0: REAP-OMNI's formula unchanged; needs S0: --text-data or scores holding it)")
    p.add_argument("--component", choices=("thinker", "talker"), default="thinker", help="which MoE to prune")
    p.add_argument("--device", help="one torch device for calibration, e.g. cuda:0 (default cpu)")
    p.add_argument("--device-map", help="spread the model over devices with accelerate: auto, balanced, "
                   "balanced_low_0, sequential, or a JSON object / file of module name -> device")
    p.add_argument("--max-memory", help="memory per device for --device-map, e.g. 0=20GiB,1=20GiB,cpu=60GiB")
    p.add_argument("--offload-folder", help="with --device-map: put weights that fit nowhere else on disk here")
    p.add_argument("--plan-only", action="store_true",
                   help="print the memory plan (parameters and bytes per device, from config.json) and stop")
    p.add_argument("--dtype", default="auto", help="auto, bfloat16, float16 or float32")
    p.add_argument("--batch-size", type=int, default=1, help="calibration samples per forward pass")
    add_input_arguments(p)
    p.add_argument("--dry-run", action="store_true", help="score and select, print the selection, write no model")
    p.add_argument("--scores-out", help="also write scores here (JSON + .safetensors + .png heatmap)")
    p.add_argument("--from-scores", help="prune from saved scores (a pruned folder, its reap_omni/scores.json, or "
                   ".safetensors), skipping calibration")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output-path")
    p.add_argument("--checkpoint-every", type=int, default=8, metavar="N",
                   help="checkpoint calibration statistics every N batches (0: never); a rerun resumes")
    p.add_argument("--checkpoint-dir", help="where calibration checkpoints go (default: beside the scores output, "
                   "<output>.calibration/)")
    p.add_argument("--tokens", choices=("all", "media"), default="all",
                   help="tokens that count towards the saliency: all non-padding tokens (REAP, default) or only "
                   "media tokens (audio/video placeholders and their span markers)")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors (no progress bars)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.set_defaults(func=run_prune_cmd)


def run_prune_cmd(args: argparse.Namespace) -> int:
    from reap_omni.model.preflight import check_for_plan, check_model

    # before torch loads: a broken download fails in milliseconds (--plan-only also works on config.json alone)
    (check_for_plan if args.plan_only else check_model)(args.model_path, args.component)
    require_prune_extra("pruning")
    from reap_omni.prune.pipeline import PruneOptions, run_prune
    from reap_omni.prune.progress import progress_enabled

    opts = PruneOptions(
        model_path=args.model_path, output_path=args.output_path, audio_data=args.audio_data,
        video_data=args.video_data, mixed_data=args.mixed_data, text_data=args.text_data,
        retention_rate=args.retention_rate, calibration_samples=args.calibration_samples, lam=args.lam,
        beta=args.beta, gamma=args.gamma, component=args.component,
        placement=placement_options(args), plan_only=args.plan_only, batch_size=args.batch_size,
        max_seq_len=args.max_seq_len,
        dry_run=args.dry_run, scores_out=args.scores_out, from_scores=args.from_scores, overwrite=args.overwrite,
        inputs=input_options(args),
        checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every,
        progress=progress_enabled(args.quiet), tokens=args.tokens,
    )
    with _quiet_transformers(args.quiet):
        summary = run_prune(opts, log=(lambda _msg: None) if args.quiet else None)
    if args.json and summary.get("rank", 0) == 0:  # under torchrun, rank 0 speaks for all
        print(json.dumps(summary, default=str))
    return 0


@contextlib.contextmanager
def _quiet_transformers(quiet: bool):
    """With --quiet, transformers' own loading bars and notes are hidden too (restored afterwards)."""
    if not quiet:
        yield
        return
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()
