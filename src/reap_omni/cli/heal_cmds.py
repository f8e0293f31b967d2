"""``reap-omni heal``: prepare (and with ``--run`` start) the recovery of a pruned checkpoint from its original."""

from __future__ import annotations

import argparse

from reap_omni.cli.model_args import add_input_arguments, input_options, placement_options, require_prune_extra
from reap_omni.heal.commands import TrainSettings

#: the trainer settings' defaults are the flags' defaults (one place says them)
DEFAULTS = TrainSettings()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "heal",
        help="recover a pruned checkpoint by distilling it from the original (writes ms-swift / LLaMA-Factory "
        "training files)",
        description="Trains only what pruning changed: the thinker's routers and kept experts (full parameters; "
        "attention, embeddings, audio/vision encoders, talker and code2wav stay frozen). ms-swift: GKD with the "
        "pruned model as student and the original as teacher (heal.sh). LLaMA-Factory (no logit distillation): "
        "the original answers the prompts (greedy, batched; torchrun -m reap_omni heal ... shares the rows out; "
        "a rerun resumes) and its answers are the SFT targets (heal_llamafactory.yaml). Prompts are eval's, so "
        "eval measures what was trained. Writes heal.json, rows/, data/ and the scripts into --output.",
    )
    p.add_argument("--original", required=True, help="the original Qwen3-Omni-MoE checkpoint (the teacher)")
    p.add_argument("--pruned", required=True, help="the checkpoint `reap-omni prune` wrote (the student)")
    p.add_argument("--audio-data", help="S1: unified JSONL of audio rows (e.g. the calibration set's)")
    p.add_argument("--video-data", help="S2: unified JSONL of video rows")
    p.add_argument("--mixed-data", help="S3: unified JSONL of videos with their audio track")
    p.add_argument("--text-data", help="text rows with a meta.question prompt (trained with their own answers)")
    p.add_argument("--output", required=True, help="folder for the training files (new, empty or a previous heal's)")
    p.add_argument("--trainer", choices=("ms-swift", "llamafactory"), default="ms-swift",
                   help="ms-swift: GKD (logit distillation) in heal.sh; llamafactory: SFT on the original's answers")
    p.add_argument("--samples", type=int, help="rows per stratum (the first N; default all)")
    p.add_argument("--teacher-answers", action="store_true",
                   help="ms-swift: also answer with the original and write heal_sft.sh (SFT on those answers)")
    p.add_argument("--learning-rate", type=float,
                   help="default: 0.005 x the RMS of the trainable weights (the same relative step on any model)")
    p.add_argument("--epochs", type=float, default=DEFAULTS.epochs, help="passes over the rows (default 3)")
    p.add_argument("--max-steps", type=int, help="stop after this many optimiser steps instead")
    p.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, help="rows per device and step (default 1)")
    p.add_argument("--grad-accum", type=int, default=DEFAULTS.grad_accum,
                   help="gradient accumulation steps (default 1)")
    p.add_argument("--lmbda", type=float, default=DEFAULTS.lmbda,
                   help="GKD: share of steps on the student's own generations (default 0: off-policy)")
    p.add_argument("--beta", type=float, default=DEFAULTS.beta,
                   help="GKD: 0 forward KL, 1 reverse KL, between: JSD (0.5)")
    p.add_argument("--temperature", type=float, default=DEFAULTS.temperature, help="GKD sampling temperature (0.9)")
    p.add_argument("--max-new-tokens", type=int, default=128, help="length of the original's answers")
    p.add_argument("--teacher-batch-size", type=int, default=4, help="rows per generate call of the original")
    p.add_argument("--device", help="the original's device for its answers, e.g. cuda:0 (default cpu); under "
                   "torchrun, cuda means cuda:LOCAL_RANK")
    p.add_argument("--device-map", help="spread the original over devices (as prune)")
    p.add_argument("--max-memory", help="memory per device for --device-map, e.g. 0=20GiB,cpu=60GiB")
    p.add_argument("--offload-folder", help="with --device-map: weights that fit nowhere else go on disk here")
    p.add_argument("--dtype", default="auto", help="auto, bfloat16, float16 or float32 (the original's answers)")
    add_input_arguments(p)
    p.add_argument("--run", action="store_true", help="start the trainer on the written files (it must be importable)")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run_heal_cmd)


def run_heal_cmd(args: argparse.Namespace) -> int:
    require_prune_extra("heal")
    from reap_omni.heal.run import HealOptions, run_heal
    from reap_omni.heal.teacher import TeacherOptions
    from reap_omni.prune.progress import progress_enabled

    teacher = TeacherOptions(
        model_path=args.original, max_new_tokens=args.max_new_tokens, batch_size=args.teacher_batch_size,
        placement=placement_options(args), inputs=input_options(args),
        progress=progress_enabled(args.quiet),
    )
    opts = HealOptions(
        original=args.original, pruned=args.pruned, output=args.output, trainer=args.trainer,
        audio_data=args.audio_data, video_data=args.video_data, mixed_data=args.mixed_data, text_data=args.text_data,
        samples=args.samples, teacher_answers=args.teacher_answers, teacher=teacher, run=args.run,
        train=TrainSettings(learning_rate=args.learning_rate, epochs=args.epochs, max_steps=args.max_steps,
                            batch_size=args.batch_size, grad_accum=args.grad_accum, lmbda=args.lmbda, beta=args.beta,
                            temperature=args.temperature),
    )
    run_heal(opts, log=(lambda _msg: None) if args.quiet else None)
    return 0
