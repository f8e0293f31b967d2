"""The real ms-swift on the tiny model (CPU, a few steps): every ``swift ...`` and ``bash ./heal/...`` line of the
READMEs verbatim, GKD on-policy, and every saved checkpoint reloaded and run on an audio, a video and a mixed row.

Runs where ms-swift is importable (``.ci/msswift-env`` builds that environment and sets
``REAP_OMNI_TRAINER_TESTS=1``, which turns the skip into a failure when the trainer is missing).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reap_omni.cli import run
from reap_omni.heal.modules import trainable_regex
from reap_omni.model.inputs import InputOptions, build_inputs, load_samples

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = os.environ.get("REAP_OMNI_TRAINER_TESTS") == "1"
needs_swift = pytest.mark.skipif(importlib.util.find_spec("swift") is None and not REQUIRED,
                                 reason="ms-swift is not installed here (.ci/msswift-env runs these tests)")
#: the tiny model's frame size, for ms-swift (qwen-omni-utils reads it from the environment) and for the checks
TINY_VIDEO = {"VIDEO_MAX_PIXELS": "4096", "VIDEO_MIN_PIXELS": "4096"}
INPUTS = InputOptions(video_size={"shortest_edge": 4096, "longest_edge": 4096})


def readme_trainer_lines(name: str) -> list[str]:
    """The README's shell lines that run a trainer (continuations joined), in order."""
    text = (ROOT / name).read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+", " ", line).strip()
            if line.startswith(("swift ", "llamafactory-cli ", "bash ./heal/")):
                lines.append(line)
    return lines


def test_both_readmes_show_the_same_trainer_lines():
    en = readme_trainer_lines("README.md")
    assert en == readme_trainer_lines("README_zh.md")
    assert any(x.startswith("swift sft") and "--tuner_type lora" in x for x in en)
    assert "bash ./heal/heal.sh" in en and not any("--train_type" in x for x in en)


def _env() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)  # swift's CLI beside this interpreter
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, **TINY_VIDEO, HF_HUB_OFFLINE="1", PYTHONPATH=path, TRANSFORMERS_VERBOSITY="error",
               PATH=os.pathsep.join([bin_dir, os.environ.get("PATH", "")]))
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    return env


def _sh(line: str, cwd: Path) -> None:
    proc = subprocess.run(line, shell=True, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{line}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="module")
def readme_run(heal_models, heal_rows, tmp_path_factory):
    """A folder laid out as the README's path (./Qwen3-Omni-pruned, ./sft.jsonl, ./heal) and every trainer line of
    the README run verbatim in it."""
    original, pruned = heal_models
    work = tmp_path_factory.mktemp("readme-trainer")
    shutil.copytree(pruned, work / "Qwen3-Omni-pruned")
    cwd = os.getcwd()
    os.chdir(work)
    try:
        assert run(["merge", str(heal_rows["audio"]), str(heal_rows["video"]), str(heal_rows["mixed"]),
                    "-o", "./train.jsonl"]) == 0
        assert run(["msswift", "./train.jsonl", "./sft.jsonl", "--task", "sft"]) == 0
        assert run(["heal", "--original", str(original), "--pruned", "./Qwen3-Omni-pruned",
                    "--audio-data", str(heal_rows["audio"]), "--video-data", str(heal_rows["video"]),
                    "--mixed-data", str(heal_rows["mixed"]), "--output", "./heal", "--video-max-pixels", "4096",
                    "--quiet"]) == 0
    finally:
        os.chdir(cwd)
    lines = readme_trainer_lines("README.md")
    for line in lines:
        _sh(line, work)
    return work, lines


def _last(folder: Path) -> Path:
    """``last-checkpoint`` of an ms-swift output folder (directly in it, or in its one versioned run folder)."""
    found = sorted(folder.glob("last-checkpoint")) or sorted(folder.glob("*/last-checkpoint"))
    assert found, f"no checkpoint under {folder}"
    return found[-1].resolve()


def _forward_every_stratum(model, processor, heal_rows) -> None:
    for stratum, name in (("S1", "audio"), ("S2", "video"), ("S3", "mixed")):
        sample = load_samples(heal_rows[name], stratum, 1)[0]
        inputs = build_inputs(processor, [sample], stratum, INPUTS)
        with torch.no_grad():
            logits = model.thinker(**inputs, use_cache=False).logits
        assert logits.shape[1] == inputs["input_ids"].shape[1] and torch.isfinite(logits).all(), stratum


def _load(path: Path):
    from transformers import AutoProcessor, Qwen3OmniMoeForConditionalGeneration

    model = Qwen3OmniMoeForConditionalGeneration.from_pretrained(path, dtype="float32").eval()
    return model, AutoProcessor.from_pretrained(path)


def _changed(before: dict[str, torch.Tensor], after, rx: re.Pattern[str]) -> tuple[set[str], set[str]]:
    """(changed tensors the regex selects, changed tensors it does not)"""
    moved = {n for n, p in after.named_parameters() if n in before and not torch.equal(before[n], p.detach())}
    return {n for n in moved if rx.match(n)}, {n for n in moved if not rx.match(n)}


@pytest.fixture(scope="module")
def pruned_weights(heal_models):
    model, _ = _load(heal_models[1])
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@needs_swift
def test_heal_sh_trains_the_moe_modules_only_and_reloads(readme_run, pruned_weights, heal_rows):
    work, _ = readme_run
    model, processor = _load(work / "heal" / "output" / "last-checkpoint")
    assert model.config.thinker_config.text_config.num_experts == 4  # still the pruned shape
    moe, other = _changed(pruned_weights, model, re.compile(trainable_regex("qwen3_omni_moe")))
    assert moe and not other  # routers and experts moved; attention, encoders, talker did not
    _forward_every_stratum(model, processor, heal_rows)


@needs_swift
def test_full_sft_line_trains_the_moe_modules_only(readme_run, pruned_weights, heal_rows):
    work, lines = readme_run
    full = [x for x in lines if x.startswith("swift sft") and "--tuner_type full" in x]
    assert full
    out = re.search(r"--output_dir (\S+)", full[0]).group(1)
    model, processor = _load(_last(work / out))
    moe, other = _changed(pruned_weights, model, re.compile(trainable_regex("qwen3_omni_moe")))
    assert moe and not other
    _forward_every_stratum(model, processor, heal_rows)


@needs_swift
def test_lora_line_adapts_attention_not_the_experts(readme_run, heal_rows):
    from peft import PeftModel

    work, lines = readme_run
    lora = next(x for x in lines if x.startswith("swift sft") and "--tuner_type lora" in x)
    adapter = _last(work / re.search(r"--output_dir (\S+)", lora).group(1))
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    targets = cfg["target_modules"] if isinstance(cfg["target_modules"], list) else [cfg["target_modules"]]
    assert not any(re.search(r"mlp\.(gate|experts)\b", t) for t in targets), targets  # what the README says
    base, processor = _load(work / "Qwen3-Omni-pruned")
    merged = PeftModel.from_pretrained(base, adapter).merge_and_unload().eval()
    _forward_every_stratum(merged, processor, heal_rows)


@needs_swift
def test_gkd_on_policy_runs_and_reloads(readme_run, heal_rows):
    """lmbda 1: the student generates from audio, video and mixed prompts. A random tiny student samples media
    placeholder tokens, which ms-swift cannot re-encode; its generation config suppresses them."""
    from reap_omni.model.info import media_token_ids

    work, _ = readme_run
    student = work / "student"
    shutil.copytree(work / "Qwen3-Omni-pruned", student)
    cfg_path = student / "generation_config.json"
    gen = json.loads(cfg_path.read_text())
    model, processor = _load(student)
    gen["suppress_tokens"] = media_token_ids(model.config.thinker_config)
    cfg_path.write_text(json.dumps(gen))
    _sh("bash ./heal/heal.sh --model ./student --lmbda 1 --max_steps 2 --max_completion_length 8 "
        "--output_dir ./gkd-on-policy", work)
    model, processor = _load(work / "gkd-on-policy" / "last-checkpoint")
    _forward_every_stratum(model, processor, heal_rows)
