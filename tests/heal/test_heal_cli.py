"""``reap-omni heal`` writes the rows, the trainer files and the scripts; the scripts call the trainer with exactly
the module set, the data and the options written (checked with a stand-in ``swift`` that records its argv)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from reap_omni.cli import run
from reap_omni.convert.validate_llamafactory import validate_llamafactory
from reap_omni.convert.validate_msswift import validate_msswift
from reap_omni.heal.modules import trainable_regex
from reap_omni.model.inputs import INSTRUCTIONS

TINY = ["--video-max-pixels", "4096", "--dtype", "float32"]


def _heal(models, rows, out: Path, *extra: str, strata=("audio", "video", "mixed")) -> int:
    original, pruned = models
    flags = [a for s in strata for a in (f"--{s}-data", str(rows[s]))]
    return run(["heal", "--original", str(original), "--pruned", str(pruned), *flags, "--output", str(out),
                "--quiet", *TINY, *extra])


@pytest.fixture(scope="module")
def swift_heal(heal_models, heal_rows, tmp_path_factory):
    out = tmp_path_factory.mktemp("heal-swift") / "heal"
    assert _heal(heal_models, heal_rows, out, "--teacher-answers", "--max-new-tokens", "6",
                 strata=("audio", "video", "mixed", "text")) == 0
    return out


def test_msswift_rows_use_evals_instruction_and_validate(swift_heal, heal_rows):
    doc = json.loads((swift_heal / "heal.json").read_text())
    assert doc["rows"] == {"audio": 2, "video": 2, "mixed": 2, "text": 2}
    assert doc["scripts"] == ["heal.sh", "heal_sft.sh"] and doc["healed"].endswith("output/last-checkpoint")
    tags_of = {"audio": ("S1", "<audio>"), "video": ("S2", "<video>"), "mixed": ("S3", "<video><audio>")}
    for name, (stratum, tags) in tags_of.items():
        path = swift_heal / "data" / f"{name}.jsonl"
        assert validate_msswift(path, task="sft", check_media=True).ok
        row = json.loads(path.read_text().splitlines()[0])
        assert row["messages"][0]["content"] == tags + INSTRUCTIONS[stratum]  # eval's prompt, so eval measures it
        assert row["messages"][1]["content"] == json.loads(heal_rows[name].read_text().splitlines()[0])["text"]
        assert all(os.path.isabs(p) and os.path.isfile(p) for k in ("audios", "videos") for p in row.get(k, []))
    text = json.loads((swift_heal / "data" / "text.jsonl").read_text().splitlines()[0])
    assert text["messages"][0]["content"] == "what is 0 plus 0?"


def test_teacher_answers_become_the_sft_set(swift_heal):
    answers = {}
    for part in (swift_heal / "teacher").glob("*.rank0.jsonl"):
        for line in part.read_text().splitlines():
            rec = json.loads(line)
            answers[rec["id"]] = rec["answer"]
    assert set(answers) == {"a0", "a1", "v0", "v1", "m0", "m1"}  # text rows keep their own answers
    doc = json.loads((swift_heal / "heal.json").read_text())
    for name in ("audio", "video", "mixed"):
        path = swift_heal / "data_teacher" / f"{name}.jsonl"
        assert validate_msswift(path, task="sft").ok
        for line in path.read_text().splitlines():
            assert json.loads(line)["messages"][1]["content"] in answers.values()
    assert sum(doc["teacher"]["rows"].values()) + sum(doc["teacher"]["empty_answers_dropped"].values()) == 8


def _stub_swift(tmp_path: Path) -> dict[str, str]:
    """A ``swift`` on PATH that writes its argv and the video environment to ``calls.jsonl``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "swift"
    stub.write_text("#!/usr/bin/env python3\nimport json, os, sys\n"
                    f"with open({str(tmp_path / 'calls.jsonl')!r}, 'a') as f:\n"
                    "    f.write(json.dumps({'argv': sys.argv[1:], 'env': {k: os.environ.get(k) for k in "
                    "('FPS', 'VIDEO_MAX_PIXELS', 'VIDEO_MIN_PIXELS')}}) + '\\n')\n")
    stub.chmod(0o755)
    return dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def _flags(argv: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    key = None
    for a in argv:
        if a.startswith("--"):
            key = a[2:]
            out.setdefault(key, [])
        elif key is not None:
            out[key].append(a)
    return out


def test_heal_sh_runs_gkd_on_the_moe_modules_only(swift_heal, heal_models, tmp_path):
    env = _stub_swift(tmp_path)
    script = swift_heal / "heal.sh"
    subprocess.run(["bash", str(script), "--max_steps", "2"], check=True, env=env, cwd=tmp_path)
    call = json.loads((tmp_path / "calls.jsonl").read_text())
    argv, f = call["argv"], _flags(call["argv"])
    assert argv[0] == "rlhf" and f["rlhf_type"] == ["gkd"]
    assert f["model"] == [str(heal_models[1].resolve())] and f["teacher_model"] == [str(heal_models[0].resolve())]
    assert f["dataset"] == [str(swift_heal / "data" / f"{n}.jsonl") for n in ("audio", "video", "mixed", "text")]
    assert f["tuner_type"] == ["full"] and f["freeze_parameters_ratio"] == ["1"]
    assert f["trainable_parameters_regex"] == [trainable_regex("qwen3_omni_moe")]
    assert "train_type" not in f  # ms-swift 4 refuses it
    assert f["lmbda"] == ["0.0"] and f["beta"] == ["0.5"] and f["temperature"] == ["0.9"]
    assert f["torch_dtype"] == ["float32"]  # no GPU here
    assert argv[-2:] == ["--max_steps", "2"]  # extra arguments come last: they win
    assert f["output_dir"] == [str(swift_heal / "output")] and f["add_version"] == ["false"]
    assert call["env"] == {"FPS": "2.0", "VIDEO_MAX_PIXELS": "4096", "VIDEO_MIN_PIXELS": "4096"}
    doc = json.loads((swift_heal / "heal.json").read_text())
    assert float(f["learning_rate"][0]) == doc["learning_rate"] and doc["learning_rate_default"]
    subprocess.run(["bash", str(swift_heal / "heal_sft.sh")], check=True, env=env, cwd=tmp_path)
    sft = json.loads((tmp_path / "calls.jsonl").read_text().splitlines()[1])["argv"]
    assert sft[0] == "sft" and _flags(sft)["dataset"][0] == str(swift_heal / "data_teacher" / "audio.jsonl")
    assert _flags(sft)["trainable_parameters_regex"] == [trainable_regex("qwen3_omni_moe")]


def test_llamafactory_trains_the_same_modules_on_the_teachers_answers(heal_models, heal_rows, tmp_path):
    out = tmp_path / "heal-lf"
    assert _heal(heal_models, heal_rows, out, "--trainer", "llamafactory", "--max-new-tokens", "6",
                 "--learning-rate", "2e-4", "--max-steps", "5") == 0
    cfg = yaml.safe_load((out / "heal_llamafactory.yaml").read_text())
    assert cfg["model_name_or_path"] == str(heal_models[1].resolve())
    assert cfg["finetuning_type"] == "freeze" and cfg["freeze_trainable_modules"] == "mlp"
    assert cfg["freeze_trainable_layers"] == 4  # every thinker layer
    assert cfg["freeze_vision_tower"] is True and cfg["freeze_multi_modal_projector"] is True
    assert cfg["use_audio_in_video"] is True and cfg["video_max_pixels"] == 4096
    assert cfg["learning_rate"] == 2e-4 and cfg["max_steps"] == 5 and cfg["bf16"] is False
    assert cfg["dataset"] == "heal_audio,heal_video,heal_mixed"
    info = json.loads((out / "data" / "dataset_info.json").read_text())
    for name in cfg["dataset"].split(","):
        path = Path(cfg["dataset_dir"]) / info[name]["file_name"]
        info_path = out / "data" / "dataset_info.json"
        assert validate_llamafactory(path, dataset_info=info_path, dataset_name=name, audio_in_video=True).ok
        assert validate_llamafactory(path, dataset_info=info_path, dataset_name=name, check_media=True).ok
    mixed = json.loads((out / "data" / "heal_mixed.jsonl").read_text().splitlines()[0])
    assert mixed["conversations"][0]["value"] == "<video><audio>" + INSTRUCTIONS["S3"]


def test_refusals_are_one_line(heal_models, heal_rows, tmp_path, capsys):
    original, pruned = heal_models
    cases = [
        (["--output", str(pruned / "heal")], "lies inside --pruned"),
        (["--output", str(tmp_path / "o"), "--pruned", str(original)], "it is not pruned"),
        (["--output", str(tmp_path / "o"), "--lmbda", "2"], "--lmbda must lie in [0, 1]"),
    ]
    for extra, msg in cases:
        argv = ["heal", "--original", str(original), "--pruned", str(pruned), "--audio-data", str(heal_rows["audio"]),
                "--output", str(tmp_path / "o"), "--quiet", *extra]
        assert run(argv) == 2
        err = capsys.readouterr().err.strip()
        assert msg in err and len(err.splitlines()) == 1, err
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("user file")
    assert _heal(heal_models, heal_rows, busy) == 2
    assert "holds files reap-omni did not write" in capsys.readouterr().err
    assert (busy / "mine.txt").read_text() == "user file"


@pytest.mark.parametrize("value", ["inf", "nan", "-1"])
@pytest.mark.parametrize("flag", ["--epochs", "--learning-rate", "--temperature"])
def test_numbers_that_are_not_finite_and_positive_are_refused(heal_models, heal_rows, tmp_path, capsys, flag, value):
    original, pruned = heal_models
    argv = ["heal", "--original", str(original), "--pruned", str(pruned), "--audio-data", str(heal_rows["audio"]),
            "--output", str(tmp_path / "o"), "--quiet", f"{flag}={value}"]
    assert run(argv) == 2  # inf was written into the training script
    err = capsys.readouterr().err.strip()
    assert f"{flag} must be a finite positive number" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


def test_run_without_the_trainer_says_how_to_install_it(heal_models, heal_rows, tmp_path, capsys):
    import importlib.util

    if importlib.util.find_spec("swift") is not None:
        pytest.skip("ms-swift is installed here")
    assert _heal(heal_models, heal_rows, tmp_path / "h", "--run") == 2
    err = capsys.readouterr().err.strip()
    assert "--run needs ms-swift" in err and "pip install" in err and len(err.splitlines()) == 1
    assert shlex.split(err.split("install it (")[1].split(")")[0])[:2] == ["pip", "install"]
