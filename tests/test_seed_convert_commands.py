"""The seed README's conversion commands, run verbatim through the root ``convert_utils.py``.

The arguments are exactly the README's; they run in a scratch folder holding inputs generated here (so
the relative names ``input.csv``, ``./my_data``, ``calibration/audio.jsonl`` resolve there) rather than
in the repository root, which other runs share.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from reap_omni.fixtures.media import make_audio, make_video

REPO = Path(__file__).resolve().parents[1]

SEED_COMMANDS = [
    "python convert_utils.py csv input.csv output.jsonl --text-col caption --audio-col path",
    "python convert_utils.py json input.json output.jsonl --text-key text --video-key video_path",
    "python convert_utils.py folder ./my_data output.jsonl --name my_dataset",
    "python convert_utils.py merge audio1.jsonl audio2.jsonl -o merged.jsonl",
    "python convert_utils.py split all_data.jsonl -o ./split_output",
    "python convert_utils.py validate calibration/audio.jsonl",
]


def seed(command: str, cwd: Path) -> subprocess.CompletedProcess:
    argv = shlex.split(command)
    assert argv[:2] == ["python", "convert_utils.py"]
    return subprocess.run(
        [sys.executable, str(REPO / "convert_utils.py"), *argv[2:]], cwd=cwd, capture_output=True, text=True,
        timeout=120,
    )


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("seed")
    (d / "clips").mkdir()
    make_audio(d / "clips" / "a.wav", seconds=0.1, fmt="wav")
    make_video(d / "clips" / "v.mp4", seconds=0.2, with_audio=False)
    (d / "input.csv").write_text("caption,path\nhello there,clips/a.wav\n")
    (d / "input.json").write_text(json.dumps([{"text": "a clip", "video_path": "clips/v.mp4"}]))
    (d / "my_data").mkdir()
    make_audio(d / "my_data" / "utt1.flac", seconds=0.1)
    (d / "my_data" / "utt1.txt").write_text("utterance one")
    for name, prefix in (("audio1.jsonl", "a"), ("audio2.jsonl", "b")):
        (d / name).write_text(json.dumps({"id": f"{prefix}1", "modality": "audio", "audio": "clips/a.wav"}) + "\n")
    (d / "all_data.jsonl").write_text(
        json.dumps({"id": "x", "modality": "audio", "audio": "clips/a.wav"}) + "\n"
        + json.dumps({"id": "y", "modality": "video", "video": "clips/v.mp4"}) + "\n"
    )
    (d / "calibration").mkdir()
    (d / "calibration" / "audio.jsonl").write_text(
        json.dumps({"id": "c", "modality": "audio", "audio": "../clips/a.wav", "text": "t"}) + "\n"
    )
    return d


def test_csv(work: Path) -> None:
    proc = seed(SEED_COMMANDS[0], work)
    assert proc.returncode == 0, proc.stderr
    assert read(work / "output.jsonl")[0] | {"source": None} == {
        "id": "input_000001", "modality": "audio", "text": "hello there", "audio": str(work / "clips" / "a.wav"),
        "source": None,
    }


def test_json(work: Path) -> None:
    proc = seed(SEED_COMMANDS[1], work)
    assert proc.returncode == 0, proc.stderr
    (row,) = read(work / "output.jsonl")
    assert (row["modality"], row["text"], row["video"]) == ("video", "a clip", str(work / "clips" / "v.mp4"))


def test_folder(work: Path) -> None:
    proc = seed(SEED_COMMANDS[2], work)
    assert proc.returncode == 0, proc.stderr
    (row,) = read(work / "output.jsonl")
    assert (row["id"], row["text"], row["modality"]) == ("my_dataset_utt1", "utterance one", "audio")


def test_merge(work: Path) -> None:
    proc = seed(SEED_COMMANDS[3], work)
    assert proc.returncode == 0, proc.stderr
    assert [r["id"] for r in read(work / "merged.jsonl")] == ["a1", "b1"]


def test_split(work: Path) -> None:
    proc = seed(SEED_COMMANDS[4], work)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (work / "split_output").iterdir()) == ["audio.jsonl", "video.jsonl"]


def test_validate(work: Path) -> None:
    proc = seed(SEED_COMMANDS[5], work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "valid: 1 row(s)" in proc.stdout
    (work / "calibration" / "broken.jsonl").write_text('{"id": "c", "modality": "audio"}\n')
    proc = seed("python convert_utils.py validate calibration/broken.jsonl", work)
    assert proc.returncode == 1 and "calibration/broken.jsonl:1:" in proc.stdout
