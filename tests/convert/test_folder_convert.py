"""Folder -> unified manifest: transcripts, HF-style metadata, modality from the files, unique ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reap_omni.cli import run
from reap_omni.convert.folder import convert_folder
from reap_omni.errors import InputError, ReapOmniError
from reap_omni.fixtures.media import make_audio, make_image, make_video


def rows(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in (json.loads(line) for line in path.read_text().splitlines())}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "my_data"
    (root / "train" / "sub").mkdir(parents=True)
    (root / "test").mkdir()
    make_audio(root / "train" / "s1.flac", seconds=0.2)
    (root / "train" / "s1.txt").write_text("\ufeffhello world\n", encoding="utf-8")
    make_audio(root / "train" / "sub" / "s2.wav", seconds=0.1, fmt="wav")
    (root / "train" / "sub" / "s2.lab").write_text("lab text")
    make_video(root / "test" / "clip.mp4", seconds=0.2, with_audio=True)
    make_video(root / "test" / "silent.mp4", seconds=0.2, with_audio=False)
    make_audio(root / "test" / "sound_only.m4a", seconds=0.1, fmt="m4a")
    make_image(root / "pic.png")
    (root / "notes.md").write_text("not media")
    (root / ".hidden.wav").write_bytes(b"junk")
    return root


def test_walk_pairs_transcripts_and_probes_modality(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    report = convert_folder(corpus, out, name="ds", task="asr")
    got = rows(out)
    assert set(got) == {"ds_s1", "ds_s2", "ds_clip", "ds_silent", "ds_sound_only", "ds_pic"}
    assert got["ds_s1"]["text"] == "hello world" and got["ds_s1"]["modality"] == "audio"
    assert got["ds_s1"]["audio"] == str(corpus / "train" / "s1.flac")
    assert got["ds_s1"]["source"] == {"dataset": "ds", "original_id": "train/s1.flac", "split": "train"}
    assert got["ds_s1"]["duration"] == pytest.approx(0.2, abs=0.05) and got["ds_s1"]["task"] == "asr"
    assert got["ds_s2"]["text"] == "lab text"
    assert got["ds_clip"]["modality"] == "mixed" and got["ds_clip"]["has_audio"] is True
    assert got["ds_silent"]["modality"] == "video" and got["ds_silent"]["has_audio"] is False
    assert got["ds_silent"]["width"] == 64
    assert got["ds_sound_only"]["modality"] == "audio"  # an .m4a without pictures is audio
    assert got["ds_pic"]["modality"] == "image" and got["ds_pic"]["image"] == str(corpus / "pic.png")
    assert "ignored 1 file(s)" in report.summary()


def test_video_modality_flag(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    convert_folder(corpus, out, name="ds", video_modality="video")
    assert rows(out)["ds_clip"]["modality"] == "video"
    with pytest.raises(InputError, match=r"silent\.mp4: video has no audio track"):
        convert_folder(corpus, out, name="ds", video_modality="mixed")
    report = convert_folder(corpus, out, name="ds", video_modality="mixed", skip_invalid=True)
    assert report.skipped == 1 and "ds_silent" not in rows(out)


def test_duplicate_stems_get_path_ids_and_keep_relative(tmp_path: Path) -> None:
    root = tmp_path / "d"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    make_audio(root / "a" / "x.flac", seconds=0.1)
    make_audio(root / "b" / "x.flac", seconds=0.1)
    make_audio(root / "y.flac", seconds=0.1)
    convert_folder(root, tmp_path / "out.jsonl", keep_relative=True)
    got = rows(tmp_path / "out.jsonl")
    assert set(got) == {"d_a_x", "d_b_x", "d_y"}
    assert got["d_a_x"]["audio"] == "a/x.flac"


def test_hf_metadata_csv_and_jsonl(tmp_path: Path) -> None:
    root = tmp_path / "hf"
    (root / "train").mkdir(parents=True)
    make_audio(root / "train" / "0.wav", seconds=0.1, fmt="wav")
    make_audio(root / "train" / "1.wav", seconds=0.1, fmt="wav")
    (root / "train" / "metadata.csv").write_text(
        "file_name,transcription,speaker\n0.wav,\"zero, with comma\",s0\n1.wav,one,s1\n"
    )
    (root / "val").mkdir()
    make_video(root / "val" / "v.mp4", seconds=0.2, with_audio=False)
    (root / "val" / "metadata.jsonl").write_text('{"file_name": "v.mp4", "caption": "a clip", "n": 3}\n')
    convert_folder(root, tmp_path / "out.jsonl", name="hf")
    got = rows(tmp_path / "out.jsonl")
    assert got["hf_0"]["text"] == "zero, with comma" and got["hf_0"]["meta"] == {"speaker": "s0"}
    assert got["hf_v"]["text"] == "a clip" and got["hf_v"]["meta"] == {"n": 3}
    assert got["hf_v"]["source"]["split"] == "val"


def test_metadata_pointing_to_missing_file(tmp_path: Path) -> None:
    root = tmp_path / "hf"
    root.mkdir()
    make_audio(root / "0.flac", seconds=0.1)
    (root / "metadata.jsonl").write_text('{"file_name": "0.flac", "text": "a"}\n{"file_name": "gone.flac"}\n')
    with pytest.raises(InputError, match=r"metadata\.jsonl:2: file_name 'gone\.flac' not found"):
        convert_folder(root, tmp_path / "out.jsonl")
    report = convert_folder(root, tmp_path / "out.jsonl", skip_invalid=True)
    assert (report.written, report.skipped) == (1, 1)


def test_broken_media_is_a_row_error(tmp_path: Path, capsys) -> None:
    root = tmp_path / "d"
    root.mkdir()
    make_audio(root / "good.flac", seconds=0.1)
    (root / "broken.wav").write_bytes(b"RIFF not really a wav")
    code = run(["folder", str(root), str(tmp_path / "out.jsonl")])
    err = capsys.readouterr().err
    assert code == 2 and "broken.wav: cannot" in err and "Traceback" not in err
    assert not (tmp_path / "out.jsonl").exists()
    assert run(["folder", str(root), str(tmp_path / "out.jsonl"), "--skip-invalid", "--jobs", "1"]) == 0
    assert list(rows(tmp_path / "out.jsonl")) == ["d_good"]


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="folder not found"):
        convert_folder(tmp_path / "nope", tmp_path / "out.jsonl")
    (tmp_path / "f").write_text("")
    with pytest.raises(InputError, match="not a folder"):
        convert_folder(tmp_path / "f", tmp_path / "out.jsonl")
    with pytest.raises(ReapOmniError, match="--video-modality"):
        convert_folder(tmp_path, tmp_path / "out.jsonl", video_modality="both")
