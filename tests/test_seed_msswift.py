"""The seed README's MS-SWIFT commands and Python calls, verbatim, on inputs generated here."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from reap_omni.fixtures.media import make_audio, make_image, make_video

REPO = Path(__file__).resolve().parents[1]

SEED_COMMANDS = """\
python convert_utils.py msswift input.jsonl output_sft.jsonl --task sft
python convert_utils.py msswift input.jsonl output_grpo.jsonl --task grpo
python convert_utils.py msswift input.jsonl output.jsonl --task sft --system "You are a helpful assistant."
python convert_utils.py msswift input.jsonl output.jsonl --task sft --user-template "{modality_tag}Please describe: {text}"
python convert_utils.py qa-msswift qa_data.jsonl output.jsonl --question-key question --answer-key answer --image-key image --audio-key audio
python convert_utils.py validate-msswift output.jsonl
"""  # noqa: E501 - verbatim


@pytest.fixture
def seed_dir(tmp_path, monkeypatch):
    """A folder laid out like the seed's: the root script (linked), a unified file and a QA file."""
    os.symlink(REPO / "convert_utils.py", tmp_path / "convert_utils.py")
    os.symlink(REPO / "src", tmp_path / "src")
    audio, video, track, image = (str(tmp_path / n) for n in ("a.wav", "v.mp4", "v.wav", "i.png"))
    make_audio(audio, seconds=0.3, fmt="wav")
    make_video(video, seconds=0.3)
    make_audio(track, seconds=0.3, fmt="wav", seed=1)
    make_image(image)
    unified = [
        {"id": "librispeech_00001", "text": "hello world", "audio": audio, "modality": "audio", "task": "asr"},
        {"id": "msrvtt_1", "text": "colours scroll by", "video": video, "modality": "video", "task": "caption"},
        {"id": "vgg_1", "text": "a tone", "video": video, "audio": track, "modality": "mixed"},
    ]
    for name in ("input.jsonl", "unified_data.jsonl"):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in unified))
    qa = [{"question": "What is shown and heard?", "answer": "A gradient and a tone.", "image": "i.png",
           "audio": "a.wav", "audio_path": "a.wav"}]
    (tmp_path / "qa_data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in qa))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def read(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_seed_commands_verbatim(seed_dir):
    for line in SEED_COMMANDS.splitlines():
        argv = shlex.split(line)
        assert argv[0] == "python"
        proc = subprocess.run([sys.executable, *argv[1:]], cwd=seed_dir, capture_output=True, text=True)
        assert proc.returncode == 0, (line, proc.stderr)
        if "--user-template" in line:
            assert "{text}" in proc.stderr  # the answer-copy warning
            for row in read(seed_dir / "output.jsonl"):
                assert row["messages"][-1]["content"] not in row["messages"][0]["content"]
    sft, grpo = read(seed_dir / "output_sft.jsonl"), read(seed_dir / "output_grpo.jsonl")
    assert [r["messages"][-1]["role"] for r in sft] == ["assistant"] * 3
    assert [r["messages"][-1]["role"] for r in grpo] == ["user"] * 3
    assert grpo[0]["solution"] == "hello world"
    qa = read(seed_dir / "output.jsonl")
    assert qa[0]["messages"][0]["content"] == "<image><audio>What is shown and heard?"
    assert qa[0]["images"] == [str(seed_dir / "i.png")] and qa[0]["audios"] == [str(seed_dir / "a.wav")]
    for name in ("output_sft.jsonl", "output_grpo.jsonl"):
        proc = subprocess.run([sys.executable, "convert_utils.py", "validate-msswift", name, "--check-media"],
                              cwd=seed_dir, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


def test_seed_python_api_verbatim(seed_dir, capsys):
    sys.path.insert(0, str(seed_dir))
    try:
        from convert_utils import (
            convert_qa_to_msswift,
            convert_unified_to_msswift,
            create_msswift_sample,
            validate_msswift_format,
        )

        convert_unified_to_msswift("unified_data.jsonl", "msswift_sft.jsonl", task_type="sft", system_prompt="You are a helpful assistant.")  # noqa: E501
        convert_qa_to_msswift("qa_data.jsonl", "msswift_qa.jsonl", question_key="question", answer_key="answer", audio_key="audio_path")  # noqa: E501
        sample = create_msswift_sample(user_content="<audio>What did the speaker say?", assistant_content="Hello world.", system_prompt="You are helpful.", audios=["/path/to/audio.wav"])  # noqa: E501
        convert_unified_to_msswift("unified_data.jsonl", "output.jsonl", task_type="grpo")
        stats = validate_msswift_format("output.jsonl")
        print(f"Valid: {stats['valid']}, SFT: {stats['sft_samples']}, GRPO: {stats['grpo_samples']}")
    finally:
        sys.path.remove(str(seed_dir))
    assert capsys.readouterr().out.strip() == "Valid: 3, SFT: 0, GRPO: 3"
    assert sample == {"messages": [{"role": "system", "content": "You are helpful."},
                                   {"role": "user", "content": "<audio>What did the speaker say?"},
                                   {"role": "assistant", "content": "Hello world."}],
                      "audios": ["/path/to/audio.wav"]}
    sft = read(seed_dir / "msswift_sft.jsonl")
    assert sft[0]["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
    assert read(seed_dir / "msswift_qa.jsonl")[0]["audios"] == [str(seed_dir / "a.wav")]
    assert validate_msswift_format("msswift_sft.jsonl")["ok"] and validate_msswift_format("msswift_qa.jsonl")["ok"]


ORIGINS = {
    # how the user made input.jsonl: each gives a mixed row with only its video (the track stays inside)
    "folder": "python convert_utils.py folder ./my_data input.jsonl --name my_dataset",
    "csv": "python convert_utils.py csv data.csv input.jsonl --text-col caption --video-modality auto",
    "json": "python convert_utils.py json data.json input.jsonl --text-key text --video-key video_path "
            "--video-modality auto",
    # the demo's mixed rows carry their track already; merged, the three strata are one input
    "demo": "python quickstart.py --demo --output ./demo --samples 3 --quiet && python convert_utils.py merge "
            "demo/calibration/audio.jsonl demo/calibration/video.jsonl demo/calibration/mixed.jsonl -o input.jsonl",
}


@pytest.fixture
def origin_dir(tmp_path, monkeypatch):
    for name in ("convert_utils.py", "quickstart.py", "src"):
        os.symlink(REPO / name, tmp_path / name)
    data = tmp_path / "my_data"
    data.mkdir()
    make_audio(data / "utt1.flac", seconds=0.3)
    (data / "utt1.txt").write_text("utterance one")
    make_video(data / "clip1.mp4", seconds=0.4)  # with its audio track
    (data / "clip1.txt").write_text("a tone over colours")
    (tmp_path / "data.csv").write_text("caption,audio,video\nutterance one,my_data/utt1.flac,\n"
                                       "a tone over colours,,my_data/clip1.mp4\n")  # fmt: skip
    clip = {"text": "a tone over colours", "video_path": "my_data/clip1.mp4"}
    (tmp_path / "data.json").write_text(json.dumps([clip]))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(line: str, cwd: Path) -> subprocess.CompletedProcess:
    argv = shlex.split(line)
    return subprocess.run([sys.executable, *argv[1:]], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("origin", sorted(ORIGINS))
def test_seed_commands_on_a_manifest_from(origin, origin_dir):
    for step in ORIGINS[origin].split(" && "):
        made = _run(step, origin_dir)
        assert made.returncode == 0, (step, made.stderr)
    rows = read(origin_dir / "input.jsonl")
    mixed = [r for r in rows if r["modality"] == "mixed"]
    assert mixed and all(bool(r.get("audio")) == (origin == "demo") for r in mixed)
    for line in SEED_COMMANDS.splitlines():
        if "qa-msswift" in line:
            continue  # reads a QA file, not the manifest
        proc = _run(line, origin_dir)
        assert proc.returncode == 0, (line, proc.stderr)
        assert "Traceback" not in proc.stderr
    proc = _run("python convert_utils.py msswift input.jsonl output_sft.jsonl --task sft", origin_dir)
    out = [r for r in read(origin_dir / "output_sft.jsonl") if r.get("videos") and r.get("audios")]
    assert len(out) == len(mixed) and all(r["messages"][0]["content"].startswith("<video><audio>") for r in out)
    if origin == "demo":
        assert "extracted the audio track" not in proc.stdout  # nothing to extract
    else:
        assert "extracted the audio track of 1 mixed row(s)" in proc.stdout and "(0 decoded, 1 reused)" in proc.stdout
        track = Path(out[0]["audios"][0])
        assert track.parent == origin_dir / "output_sft.media" and track.is_file()
    lf = _run("python -m reap_omni llamafactory input.jsonl lf.jsonl", origin_dir)
    assert lf.returncode == 0, lf.stderr
    check = _run("python -m reap_omni validate-llamafactory lf.jsonl --check-media", origin_dir)
    assert check.returncode == 0, check.stdout + check.stderr
    for name in ("output_sft.jsonl", "output_grpo.jsonl"):
        check = _run(f"python convert_utils.py validate-msswift {name} --check-media", origin_dir)
        assert check.returncode == 0, check.stdout + check.stderr


def test_seed_python_api_on_a_folder_manifest(origin_dir):
    assert _run(ORIGINS["folder"], origin_dir).returncode == 0
    sys.path.insert(0, str(origin_dir))
    try:
        from convert_utils import convert_unified_to_msswift, validate_msswift_format

        convert_unified_to_msswift("input.jsonl", "msswift_sft.jsonl", task_type="sft", system_prompt="You are a helpful assistant.")  # noqa: E501
        convert_unified_to_msswift("input.jsonl", "output.jsonl", task_type="grpo")
        stats = validate_msswift_format("output.jsonl")
    finally:
        sys.path.remove(str(origin_dir))
    assert stats["ok"] and stats["valid"] == 2 and stats["grpo_samples"] == 2
