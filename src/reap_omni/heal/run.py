"""``reap-omni heal`` end to end: check, build the rows, (answer with the original,) write the trainer's files.

Everything is checked before anything heavy runs: the output folder against every input (the shared
``output_guard``), both checkpoints (``model.preflight``, ``prune.checks``: the pruned one must be a pruned
copy of the original), every row's media. The output folder holds ``heal.json`` (what was written, and the recogniser
of a previous heal output), ``rows/`` (the unified rows trained on), ``data/`` (the trainer's files),
``teacher/`` (the original's answers, resumable) and the scripts; the trainer writes into ``output/``.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reap_omni.errors import ReapOmniError
from reap_omni.fileio import atomic_write_bytes
from reap_omni.heal.commands import TrainSettings
from reap_omni.heal.dataset import FLAGS, NAMES, TEXT, Rows
from reap_omni.heal.teacher import TeacherOptions

TRAINERS = ("ms-swift", "llamafactory")
HEAL_FORMAT = "reap-omni-heal/1"
#: what ``--run`` needs importable, and how to get it
TRAINER_MODULES = {"ms-swift": ("swift", "pip install 'ms-swift>=4.6,<5' qwen-omni-utils decord"),
                   "llamafactory": ("llamafactory", "pip install 'llamafactory==0.9.5'")}


@dataclass
class HealOptions:
    original: str
    pruned: str
    output: str
    trainer: str = "ms-swift"
    audio_data: str | None = None
    video_data: str | None = None
    mixed_data: str | None = None
    text_data: str | None = None
    samples: int | None = None  # rows per stratum (the first N); None: all
    teacher_answers: bool = False  # ms-swift: also write heal_sft.sh on the original's answers
    train: TrainSettings = field(default_factory=TrainSettings)  # learning rate None: the default rule
    teacher: TeacherOptions = field(default_factory=lambda: TeacherOptions(""))
    run: bool = False


def is_heal_output(folder: Path) -> bool:
    """A folder ``heal`` wrote (its ``heal.json``): the only non-empty ``--output`` it writes into."""
    try:
        return json.loads((folder / "heal.json").read_text()).get("format") == HEAL_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _check_options(o: HealOptions) -> dict[str, str]:
    if o.trainer not in TRAINERS:
        raise ReapOmniError(f"unknown --trainer {o.trainer!r} (choose from {', '.join(TRAINERS)})")
    manifests = {s: p for s, p in (("S1", o.audio_data), ("S2", o.video_data), ("S3", o.mixed_data),
                                   (TEXT, o.text_data)) if p}
    if not set(manifests) - {TEXT}:
        raise ReapOmniError("pass at least one of --audio-data, --video-data, --mixed-data")
    finite = math.isfinite
    checks = [(o.samples is None or o.samples >= 1, "--samples must be at least 1"),
              (finite(o.train.epochs) and o.train.epochs > 0, "--epochs must be a finite positive number"),
              (o.train.max_steps is None or o.train.max_steps >= 1, "--max-steps must be at least 1"),
              (o.train.batch_size >= 1 and o.train.grad_accum >= 1,
               "--batch-size and --grad-accum must be at least 1"),
              (0.0 <= o.train.lmbda <= 1.0, "--lmbda must lie in [0, 1]"),
              (0.0 <= o.train.beta <= 1.0, "--beta must lie in [0, 1]"),
              (finite(o.train.temperature) and o.train.temperature > 0,
               "--temperature must be a finite positive number"),
              (o.train.learning_rate is None or (finite(o.train.learning_rate) and o.train.learning_rate > 0),
               "--learning-rate must be a finite positive number"),
              (o.teacher.max_new_tokens >= 1, "--max-new-tokens must be at least 1"),
              (o.teacher.batch_size >= 1, "--teacher-batch-size must be at least 1")]
    for ok, msg in checks:
        if not ok:
            raise ReapOmniError(msg)
    o.teacher.placement.check()
    return manifests


def _guard(o: HealOptions, manifests: dict[str, str], log: Callable[[str], None]) -> Path:
    from reap_omni.model.distributed import env_rank
    from reap_omni.output_guard import guard_outputs, manifest_inputs, replaced_folder, written_folder

    outputs = [replaced_folder(o.output, "--output", is_heal_output, needs_overwrite=False)]
    if o.teacher.placement.offload_folder:
        outputs.append(written_folder(o.teacher.placement.offload_folder, "--offload-folder"))
    inputs = [x for s, p in manifests.items() for x in manifest_inputs(FLAGS[s], p)]
    models = [("--original", o.original), ("--pruned", o.pruned)]
    return guard_outputs(outputs, model_dirs=models, inputs=inputs, clean=env_rank() == 0, log=log)[0]


def run_heal(o: HealOptions, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Write the healing files into ``o.output`` (and with ``o.run`` train); returns ``heal.json``'s document.
    Under torchrun (teacher answers only) ranks other than 0 return ``{"rank": r}``."""
    from reap_omni.heal.dataset import read_rows
    from reap_omni.model.distributed import env_rank
    from reap_omni.model.preflight import check_model
    from reap_omni.prune.checks import check_pruned

    log = log or (lambda msg: print(msg, file=sys.stderr))
    rank = env_rank()
    if rank != 0:
        log = _quiet
    manifests = _check_options(o)
    out = _guard(o, manifests, log)
    original = check_model(o.original, "thinker")
    pruned = check_pruned(o.pruned, original)
    records = {s: read_rows(p, s, o.samples) for s, p in manifests.items()}
    teacher = o.trainer == "llamafactory" or o.teacher_answers
    if o.run and rank == 0:
        _trainer_available(o.trainer)  # before the teacher spends its time
    answers = None
    if teacher:
        from reap_omni.heal.teacher import teacher_answers
        from reap_omni.model.inputs import load_samples

        samples = {s: load_samples(manifests[s], s, len(recs)) for s, recs in records.items() if s != TEXT}
        o.teacher.model_path = o.original
        answers = teacher_answers(o.teacher, samples, out / "teacher", log, original)
        if rank != 0:
            return {"rank": rank}
    elif rank != 0:
        return {"rank": rank}
    doc = _write(o, out, records, answers, original, pruned, log)
    if o.run:
        doc["returncode"] = _train(o.trainer, out / doc["scripts"][0], log)
    return doc


def _quiet(_msg: str) -> None:
    pass


def _write(o: HealOptions, out: Path, records, answers, original, pruned, log: Callable[[str], None]) -> dict:
    from reap_omni.convert.sample import warn_stderr
    from reap_omni.heal import commands
    from reap_omni.heal.dataset import export_llamafactory, export_msswift
    from reap_omni.heal.modules import count_modules, default_learning_rate, trainable_regex

    out.mkdir(parents=True, exist_ok=True)
    rows = _rows(out / "rows", records, None)
    counts = count_modules(pruned)
    lr = o.train.learning_rate or default_learning_rate(pruned)
    settings = replace(o.train, learning_rate=lr, max_length=o.teacher.inputs.max_seq_len,
                       video_fps=o.teacher.inputs.video_fps, video_max_pixels=_max_pixels(o))
    regex = trainable_regex(pruned.config["model_type"])
    teacher_dir, student_dir = Path(original.path).resolve(), Path(pruned.path).resolve()  # scripts run anywhere
    doc: dict[str, Any] = {"format": HEAL_FORMAT, "trainer": o.trainer, "original": str(teacher_dir),
                           "pruned": str(student_dir), "rows": {r.name: r.count for r in rows},
                           "trainable": {"parameters": counts.trainable, "thinker": counts.thinker,
                                         "total": counts.total, "regex": regex},
                           "learning_rate": lr, "learning_rate_default": o.train.learning_rate is None, "scripts": []}
    _dropped(rows, records, "rows without an answer (text) are left out of the trained rows", doc, "no_answer", log)
    taught = None
    if answers is not None:
        taught = _rows(out / "rows_teacher", records, answers)
        doc["teacher"] = {"rows": {r.name: r.count for r in taught}}
        _dropped(taught, records, "rows the original answered with nothing usable are left out", doc["teacher"],
                 "empty_answers", log)
    if o.trainer == "ms-swift":
        data = export_msswift(rows, out / "data", warn_stderr)
        _write_script(out / "heal.sh", commands.msswift_gkd(student_dir, teacher_dir, data, out / "output", regex,
                                                            counts, settings))
        doc["scripts"].append("heal.sh")
        doc["healed"] = str(out / "output" / "last-checkpoint")
        if taught is not None:
            sft = export_msswift([Rows(r.stratum, r.path, r.count) for r in taught], out / "data_teacher",
                                 warn_stderr)
            _write_script(out / "heal_sft.sh", commands.msswift_sft(student_dir, sft, out / "output_sft", regex,
                                                                    counts, settings))
            doc["scripts"].append("heal_sft.sh")
    else:
        info, names = export_llamafactory(taught, out / "data")
        layers = int(pruned.text_config["num_hidden_layers"])
        if len(pruned.layers) != layers:
            log(f"note: {layers - len(pruned.layers)} thinker layer(s) are dense; LLaMA-Factory trains their mlp too")
        yaml = commands.llamafactory_yaml(student_dir, info.parent, names, out / "output", layers, counts, settings,
                                          bf16=_cuda())
        atomic_write_bytes(out / "heal_llamafactory.yaml", yaml.encode())
        doc["scripts"].append("heal_llamafactory.yaml")
        doc["healed"] = str(out / "output")
    atomic_write_bytes(out / "heal.json", (json.dumps(doc, indent=1) + "\n").encode())
    log(counts.describe())
    log(f"learning rate {lr:g}" + (" (default: a fixed share of the trainable weights' RMS)"
                                   if o.train.learning_rate is None else ""))
    for s in doc["scripts"]:
        log(f"wrote {out / s}")
    return doc


def _dropped(rows: list[Rows], records, what: str, doc: dict[str, Any], key: str, log: Callable[[str], None]) -> None:
    """Count (and say) the rows ``write_rows`` left out; a stratum left without rows stops the run."""
    dropped = {r.name: len(records[r.stratum]) - r.count for r in rows if len(records[r.stratum]) != r.count}
    doc[f"{key}_dropped"] = dropped
    if dropped:
        log(f"{what}: " + ", ".join(f"{n} {name}" for name, n in dropped.items()))
    empty = [r for r in rows if not r.count]
    if empty:
        raise ReapOmniError(f"{FLAGS[empty[0].stratum]}: no row left to train on ({what})")


def _rows(folder: Path, records, answers) -> list[Rows]:
    from reap_omni.heal.dataset import write_rows

    out = []
    for stratum, recs in records.items():
        path = folder / f"{NAMES[stratum]}.jsonl"
        # text rows keep their own answers: the original answers media prompts only
        keep = None if answers is None or stratum == TEXT else answers.get(stratum, {})
        out.append(Rows(stratum, path, write_rows(recs, path, keep)))
    return out


def _max_pixels(o: HealOptions) -> int | None:
    size = o.teacher.inputs.video_size
    return int(size["longest_edge"]) if size else None


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _write_script(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())
    path.chmod(0o755)


def _trainer_available(trainer: str) -> None:
    module, install = TRAINER_MODULES[trainer]
    if importlib.util.find_spec(module) is None:
        raise ReapOmniError(f"--run needs {trainer}, which is not importable here; install it ({install}) or run "
                            "the written script where it is")


def _train(trainer: str, script: Path, log: Callable[[str], None]) -> int:
    cmd = ["bash", str(script)] if trainer == "ms-swift" else ["llamafactory-cli", "train", str(script)]
    log("running: " + " ".join(cmd))
    rc = subprocess.run(cmd, check=False).returncode
    if rc:
        raise ReapOmniError(f"{' '.join(cmd)} failed with exit code {rc} (its output is above)")
    return rc
