"""The trainer commands ``heal`` writes: ``heal.sh`` (ms-swift GKD), ``heal_sft.sh`` (ms-swift SFT on the
teacher's answers) and ``heal_llamafactory.yaml`` (LLaMA-Factory SFT on the teacher's answers).

Each trains the same module set (``modules``): full parameters on the thinker's routers and kept experts,
everything else frozen. ms-swift: ``--tuner_type full --freeze_parameters_ratio 1`` freezes all, then
``--trainable_parameters_regex`` unfreezes the MoE modules (the regex alone freezes nothing). LLaMA-Factory:
``finetuning_type: freeze`` with every decoder layer's ``mlp`` trainable; its ``full`` type cannot leave
attention frozen, and it already keeps the vision and audio towers and projectors frozen (their ``.N.mlp``
names are excluded by ``freeze_vision_tower`` / ``freeze_multi_modal_projector``). Its loader trains the
thinker alone (``model.thinker``), so the talker never enters the optimiser.

The scripts pick bf16 on a GPU and fp32 on a CPU when they start; extra arguments to a script go to the
trainer after the written ones (the last value of a flag wins).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from reap_omni.heal.modules import ModuleCounts

HEADER = "# written by reap-omni heal"
#: GKD defaults: off-policy (the dataset's answers; on-policy made S1 worse in the measurement of issue 19 and
#: costs a generation per step), ms-swift's own beta (JSD between forward and reverse KL) and temperature
LMBDA, BETA, TEMPERATURE = 0.0, 0.5, 0.9
LLAMAFACTORY_TEMPLATE = "qwen3_omni_nothink"  # the Instruct checkpoint's; the Thinking one uses qwen3_omni


@dataclass(frozen=True)
class TrainSettings:
    """What the trainer is told; ``heal`` fills the learning rate (``modules.default_learning_rate`` when
    None) and the sequence and video settings (eval's) before writing the scripts."""

    learning_rate: float | None = None
    epochs: float = 3.0
    max_steps: int | None = None
    batch_size: int = 1
    grad_accum: int = 1
    lmbda: float = LMBDA
    beta: float = BETA
    temperature: float = TEMPERATURE
    max_length: int = 4096
    video_fps: float = 2.0
    video_max_pixels: int | None = None


def _q(value: object) -> str:
    return shlex.quote(str(value))


def _args(pairs: list[tuple[str, object]]) -> list[str]:
    return [f"--{k} {_q(v)}" for k, v in pairs]


def _steps(s: TrainSettings) -> list[tuple[str, object]]:
    return [("max_steps", s.max_steps)] if s.max_steps else [("num_train_epochs", s.epochs)]


def _video_env(s: TrainSettings) -> list[str]:
    """ms-swift reads the video sampling from the environment (qwen-omni-utils): eval's fps and frame size."""
    env = [f"export FPS={s.video_fps}"]
    if s.video_max_pixels:
        low = min(s.video_max_pixels, 128 * 32 * 32)  # eval's shortest_edge: the same frames eval scores
        env.append(f"export VIDEO_MAX_PIXELS={s.video_max_pixels} VIDEO_MIN_PIXELS={low}")
    return env


_DTYPE = ('if python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then\n'
          "    DTYPE=bfloat16\nelse\n    DTYPE=float32\nfi")


def _script(title: list[str], env: list[str], command: list[str]) -> str:
    lines = ["#!/usr/bin/env bash", HEADER + ": " + title[0], *[f"# {t}" for t in title[1:]],
             "set -euo pipefail", _DTYPE, *env]
    return "\n".join(lines) + "\n" + " \\\n    ".join(command) + ' \\\n    "$@"\n'


def _frozen(regex: str) -> list[tuple[str, object]]:
    return [("tuner_type", "full"), ("freeze_parameters_ratio", 1), ("trainable_parameters_regex", regex)]


def msswift_gkd(pruned: Path, original: Path, datasets: list[Path], output_dir: Path, regex: str,
                counts: ModuleCounts, s: TrainSettings) -> str:
    """``heal.sh``: GKD with student = pruned, teacher = original, only the MoE modules trainable."""
    title = ["self-distillation of the pruned model from the original (ms-swift GKD)",
             f"student {pruned}, teacher {original}",
             counts.describe() + "; everything else frozen",
             f"lmbda {s.lmbda}: {'off-policy (the dataset answers)' if not s.lmbda else 'on-policy share'}; "
             f"beta {s.beta}; temperature {s.temperature}; learning rate {s.learning_rate:g}",
             f"the healed checkpoint: {output_dir}/last-checkpoint"]
    if s.lmbda:
        title.append("on-policy: if the student samples media placeholder tokens, ms-swift's re-encoding fails; "
                     "list their ids under suppress_tokens in the student's generation_config.json")
    cmd = ["swift rlhf", *_args([("rlhf_type", "gkd"), ("model", pruned), ("teacher_model", original)]),
           "--dataset " + " ".join(_q(d) for d in datasets),
           *_args([*_frozen(regex), ("lmbda", s.lmbda), ("beta", s.beta), ("temperature", s.temperature),
                   ("learning_rate", f"{s.learning_rate:g}"), *_steps(s),
                   ("per_device_train_batch_size", s.batch_size), ("gradient_accumulation_steps", s.grad_accum),
                   ("max_length", s.max_length)]),
           '--torch_dtype "$DTYPE"',
           *_args([("output_dir", output_dir), ("add_version", "false"), ("save_only_model", "true"),
                   ("check_model", "false")])]
    return _script(title, _video_env(s), cmd)


def msswift_sft(pruned: Path, datasets: list[Path], output_dir: Path, regex: str, counts: ModuleCounts,
                s: TrainSettings) -> str:
    """``heal_sft.sh``: the LoRA-free fallback, SFT on the original's answers, the same modules trainable."""
    title = ["sequence-level distillation: SFT of the pruned model on the original's answers (ms-swift)",
             counts.describe() + "; everything else frozen",
             f"learning rate {s.learning_rate:g}; the healed checkpoint: {output_dir}/last-checkpoint"]
    cmd = ["swift sft", *_args([("model", pruned)]), "--dataset " + " ".join(_q(d) for d in datasets),
           *_args([*_frozen(regex), ("learning_rate", f"{s.learning_rate:g}"), *_steps(s),
                   ("per_device_train_batch_size", s.batch_size), ("gradient_accumulation_steps", s.grad_accum),
                   ("max_length", s.max_length)]),
           '--torch_dtype "$DTYPE"',
           *_args([("output_dir", output_dir), ("add_version", "false"), ("save_only_model", "true"),
                   ("check_model", "false")])]
    return _script(title, _video_env(s), cmd)


def llamafactory_yaml(pruned: Path, dataset_dir: Path, datasets: list[str], output_dir: Path, num_layers: int,
                      counts: ModuleCounts, s: TrainSettings, bf16: bool) -> str:
    """``heal_llamafactory.yaml``: SFT on the original's answers, every thinker layer's ``mlp`` trainable."""
    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"{v:g}" if isinstance(v, float) else str(v)

    rows: list[tuple[str, object] | str] = [
        "# model", ("model_name_or_path", str(pruned)), ("trust_remote_code", True),
        "# method: full parameters of the routers and kept experts (mlp) of every thinker layer, the rest frozen",
        ("stage", "sft"), ("do_train", True), ("finetuning_type", "freeze"),
        ("freeze_trainable_layers", num_layers), ("freeze_trainable_modules", "mlp"),
        ("freeze_vision_tower", True), ("freeze_multi_modal_projector", True),
        "# data: the original's answers to eval's prompts; mixed rows pair each video with its track",
        ("dataset_dir", str(dataset_dir)), ("dataset", ",".join(datasets)), ("template", LLAMAFACTORY_TEMPLATE),
        ("cutoff_len", s.max_length), ("video_fps", float(s.video_fps)), ("use_audio_in_video", True),
    ]
    if s.video_max_pixels:
        rows.append(("video_max_pixels", s.video_max_pixels))
        rows.append(("video_min_pixels", min(s.video_max_pixels, 128 * 32 * 32)))
    rows += [
        "# training", ("output_dir", str(output_dir)), ("overwrite_output_dir", True),
        ("per_device_train_batch_size", s.batch_size), ("gradient_accumulation_steps", s.grad_accum),
        ("learning_rate", float(s.learning_rate)), ("lr_scheduler_type", "cosine"),
    ]
    rows.append(("max_steps", s.max_steps) if s.max_steps else ("num_train_epochs", float(s.epochs)))
    rows += [("logging_steps", 5), ("save_only_model", True), ("bf16", bf16), ("report_to", "none")]
    head = [HEADER + ": sequence-level distillation of the pruned model (LLaMA-Factory has no logit distillation)",
            "# " + counts.describe(), "# run: llamafactory-cli train " + "<this file>"]
    body = [r if isinstance(r, str) else f"{r[0]}: {value(r[1])}" for r in rows]
    return "\n".join(head + body) + "\n"
