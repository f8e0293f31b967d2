"""Every converter's output exports to MS-SWIFT (SFT, GRPO, audio-in-video) and LLaMA-Factory, and the
exports pass the frameworks' rules with every media file decoded (--check-media)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reap_omni.cli import run
from reap_omni.fixtures.media import make_audio, make_image, make_video


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("inputs")
    media = root / "media"
    media.mkdir()
    make_audio(media / "a.flac", seconds=0.5)
    make_audio(media / "a_track.wav", seconds=0.5, fmt="wav")
    make_video(media / "v_silent.mp4", seconds=0.5, with_audio=False)
    make_video(media / "v_sound.mp4", seconds=0.5, with_audio=True)
    make_image(media / "i.png")
    (root / "data.csv").write_text(
        "id,caption,path,video_path\n"
        "c1,HELLO WORLD,media/a.flac,\n"
        "c2,a silent clip,,media/v_silent.mp4\n"
        "c3,\"a clip,\nwith sound\",media/a_track.wav,media/v_sound.mp4\n",
        encoding="utf-8",
    )
    (root / "data.json").write_text(
        json.dumps({"items": [
            {"uid": "j1", "meta": {"caption": "speech"}, "audio": "media/a.flac"},
            {"uid": "j2", "meta": {"caption": "a picture"}, "image": "media/i.png"},
        ]}),
        encoding="utf-8",
    )
    folder = root / "folder"
    folder.mkdir()
    make_audio(folder / "utt1.flac", seconds=0.5)
    (folder / "utt1.txt").write_text("good morning\n", encoding="utf-8")
    make_video(folder / "clip1.mp4", seconds=0.5, with_audio=True)
    (folder / "clip1.txt").write_text("someone talks\n", encoding="utf-8")
    make_video(folder / "clip2.mp4", seconds=0.5, with_audio=False)
    (folder / "clip2.txt").write_text("nothing to hear\n", encoding="utf-8")
    return root


def _unified_outputs(inputs: Path, out: Path) -> dict[str, tuple[Path, bool]]:
    """Each converter's unified output, with whether its mixed rows carry an extracted audio track."""
    assert run(["csv", str(inputs / "data.csv"), str(out / "csv.jsonl"), "--text-col", "caption",
                "--audio-col", "path", "--video-col", "video_path", "--name", "csvset"]) == 0
    assert run(["json", str(inputs / "data.json"), str(out / "json.jsonl"), "--id-key", "uid",
                "--text-key", "meta.caption", "--name", "jsonset"]) == 0
    assert run(["folder", str(inputs / "folder"), str(out / "folder.jsonl"), "--name", "folderset"]) == 0
    assert run(["merge", str(out / "csv.jsonl"), str(out / "json.jsonl"), "-o", str(out / "merged.jsonl"),
                "--shuffle", "--seed", "1"]) == 0
    assert run(["split", str(out / "merged.jsonl"), "-o", str(out / "split")]) == 0
    outputs = {
        "csv": (out / "csv.jsonl", True),
        "json": (out / "json.jsonl", True),
        "folder": (out / "folder.jsonl", False),
        "merge": (out / "merged.jsonl", True),
    }
    for part in sorted((out / "split").glob("*.jsonl")):
        outputs[f"split-{part.stem}"] = (part, True)
    return outputs


def _export_and_validate(unified: Path, out_dir: Path, modes: list[list[str]]) -> None:
    rows = [json.loads(line) for line in unified.read_text().splitlines()]
    assert rows, unified
    for task in ("sft", "grpo"):
        for mode in modes:
            swift = out_dir / f"{unified.parent.name}-{unified.stem}-{task}{'-aiv' if mode else ''}.jsonl"
            assert run(["msswift", str(unified), str(swift), "--task", task, *mode]) == 0, (unified, task, mode)
            assert run(["validate-msswift", str(swift), "--task", task, "--check-media", *mode]) == 0, (
                unified, task, mode)
            out_rows = [json.loads(line) for line in swift.read_text().splitlines()]
            assert len(out_rows) == len(rows)
            assert {r["messages"][-1]["role"] for r in out_rows} == {"assistant" if task == "sft" else "user"}
            if task == "grpo":
                assert all(r["solution"] for r in out_rows)


def test_every_converter_exports_valid_training_files(inputs, tmp_path):
    outputs = _unified_outputs(inputs, tmp_path)
    assert {"split-audio", "split-video", "split-mixed", "split-image"} <= set(outputs)
    for name, (unified, has_track) in outputs.items():
        # per stratum, as training sets are built: S3 mixed rows in either audio-in-video mode
        per_modality = tmp_path / f"by-modality-{name}"
        assert run(["split", str(unified), "-o", str(per_modality)]) == 0
        for part in sorted(per_modality.glob("*.jsonl")):
            modes = [["--audio-in-video"]] if part.stem == "mixed" else [[]]
            if part.stem == "mixed" and has_track:
                modes.append([])
            _export_and_validate(part, tmp_path, modes)
        if has_track:  # the whole file at once, mixed rows as separate video + extracted track
            _export_and_validate(unified, tmp_path, [[]])
            lf = tmp_path / f"lf-{name}" / "data.jsonl"
            assert run(["llamafactory", str(unified), str(lf), "--dataset-name", "calib"]) == 0, name
            assert run(["validate-llamafactory", str(lf), "--check-media"]) == 0, name


def test_audio_in_video_refuses_a_silent_video_row(inputs, tmp_path):
    """SWIFT's USE_AUDIO_IN_VIDEO is global: a silent video anywhere in the file breaks training."""
    unified = _unified_outputs(inputs, tmp_path)["csv"][0]
    swift = tmp_path / "aiv.jsonl"
    assert run(["msswift", str(unified), str(swift), "--task", "sft", "--audio-in-video"]) == 0
    assert run(["validate-msswift", str(swift), "--check-media", "--audio-in-video"]) == 1


def test_answers_never_leak_into_prompts(inputs, tmp_path):
    unified = _unified_outputs(inputs, tmp_path)["csv"][0]
    swift = tmp_path / "sft.jsonl"
    assert run(["msswift", str(unified), str(swift), "--task", "sft"]) == 0
    for line in swift.read_text().splitlines():
        row = json.loads(line)
        answer = row["messages"][-1]["content"]
        prompt = " ".join(m["content"] for m in row["messages"][:-1])
        assert answer and answer not in prompt
        tags = prompt.count("<audio>"), prompt.count("<video>"), prompt.count("<image>")
        assert tags == (len(row.get("audios", [])), len(row.get("videos", [])), len(row.get("images", [])))
