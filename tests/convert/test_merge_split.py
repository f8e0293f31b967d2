"""Merging manifests (duplicates, limits, shuffle) and splitting one by modality."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reap_omni.cli import run
from reap_omni.convert.merge import merge_manifests
from reap_omni.convert.split import split_by_modality
from reap_omni.errors import InputError, ReapOmniError


def write(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def audio_rows(prefix: str, n: int, **extra) -> list[dict]:
    return [{"id": f"{prefix}{i}", "modality": "audio", "audio": f"/abs/{prefix}{i}.wav", **extra} for i in range(n)]


def test_merge_concatenates_verbatim(tmp_path: Path) -> None:
    a = write(tmp_path / "audio1.jsonl", audio_rows("a", 3, speaker="s"))
    b = write(tmp_path / "audio2.jsonl", audio_rows("b", 2))
    report = merge_manifests([a, b], tmp_path / "merged.jsonl")
    out = read(tmp_path / "merged.jsonl")
    assert report.written == 5 and [r["id"] for r in out] == ["a0", "a1", "a2", "b0", "b1"]
    assert out[0]["speaker"] == "s"  # keys the record type does not know survive


def test_duplicate_policies(tmp_path: Path, capsys) -> None:
    a = write(tmp_path / "a.jsonl", audio_rows("x", 2))
    b = write(tmp_path / "b.jsonl", [{"id": "x1", "modality": "text", "text": "dup"}, *audio_rows("y", 1)])
    dup = r"b\.jsonl:1: duplicate id 'x1' \(first at .*a\.jsonl:2; see --on-duplicate\)"
    with pytest.raises(InputError, match=dup):
        merge_manifests([a, b], tmp_path / "m.jsonl")
    assert not (tmp_path / "m.jsonl").exists()
    report = merge_manifests([a, b], tmp_path / "m.jsonl", on_duplicate="skip")
    assert [r["id"] for r in read(tmp_path / "m.jsonl")] == ["x0", "x1", "y0"]
    assert "skipped 1 row(s) with a duplicate id" in report.summary()
    merge_manifests([a, b], tmp_path / "m.jsonl", on_duplicate="rename")
    out = read(tmp_path / "m.jsonl")
    assert [r["id"] for r in out] == ["x0", "x1", "x1_2", "y0"] and out[2]["text"] == "dup"
    assert run(["merge", str(a), str(b), "-o", str(tmp_path / "m2.jsonl")]) == 2
    assert "duplicate id 'x1'" in capsys.readouterr().err


def test_max_samples_and_shuffle(tmp_path: Path) -> None:
    a = write(tmp_path / "a.jsonl", audio_rows("a", 30))
    b = write(tmp_path / "b.jsonl", audio_rows("b", 30))
    merge_manifests([a, b], tmp_path / "first.jsonl", max_samples=7)
    assert [r["id"] for r in read(tmp_path / "first.jsonl")] == [f"a{i}" for i in range(7)]
    merge_manifests([a, b], tmp_path / "s1.jsonl", shuffle=True, seed=5)
    merge_manifests([a, b], tmp_path / "s2.jsonl", shuffle=True, seed=5)
    merge_manifests([a, b], tmp_path / "s3.jsonl", shuffle=True, seed=6)
    ids1 = [r["id"] for r in read(tmp_path / "s1.jsonl")]
    assert sorted(ids1) == sorted([f"a{i}" for i in range(30)] + [f"b{i}" for i in range(30)])
    assert ids1 == [r["id"] for r in read(tmp_path / "s2.jsonl")]
    assert ids1 != [r["id"] for r in read(tmp_path / "s3.jsonl")]
    assert ids1 != sorted(ids1)
    merge_manifests([a, b], tmp_path / "s4.jsonl", shuffle=True, seed=5, max_samples=10)
    assert [r["id"] for r in read(tmp_path / "s4.jsonl")] == ids1[:10]


def test_shuffle_reads_back_renamed_rows_and_bom(tmp_path: Path) -> None:
    a = tmp_path / "a.jsonl"
    a.write_bytes(b"\xef\xbb\xbf" + json.dumps(audio_rows("x", 1)[0]).encode() + b"\r\n\r\n")
    b = write(tmp_path / "b.jsonl", audio_rows("x", 2))
    merge_manifests([a, b], tmp_path / "m.jsonl", shuffle=True, seed=1, on_duplicate="rename")
    assert sorted(r["id"] for r in read(tmp_path / "m.jsonl")) == ["x0", "x0_2", "x1"]


def test_relative_paths_made_absolute_unless_kept(tmp_path: Path) -> None:
    a = write(tmp_path / "sub" / "a.jsonl", [{"id": "r", "modality": "audio", "audio": "clips/r.wav"}])
    merge_manifests([a], tmp_path / "m.jsonl")
    assert read(tmp_path / "m.jsonl")[0]["audio"] == str(tmp_path / "sub" / "clips" / "r.wav")
    merge_manifests([a], tmp_path / "m.jsonl", keep_relative=True)
    assert read(tmp_path / "m.jsonl")[0]["audio"] == "clips/r.wav"


def test_merge_bad_rows_and_paths(tmp_path: Path) -> None:
    a = write(tmp_path / "a.jsonl", audio_rows("a", 2))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "z", "modality": "smell"}\n{"id": 3, "modality": "text"}\nnot json\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:1: unknown modality 'smell'"):
        merge_manifests([a, bad], tmp_path / "m.jsonl")
    report = merge_manifests([a, bad], tmp_path / "m.jsonl", skip_invalid=True)
    assert (report.written, report.skipped) == (2, 3)
    assert "bad.jsonl:2: field 'id': expected str, got int" in report.summary()
    with pytest.raises(ReapOmniError, match="same file as input"):
        merge_manifests([a, bad], a)
    with pytest.raises(ReapOmniError, match="given twice"):
        merge_manifests([a, a], tmp_path / "m.jsonl")


def test_split_by_modality(tmp_path: Path, capsys) -> None:
    rows = [
        {"id": "a", "modality": "audio", "audio": "x.wav"},
        {"id": "v", "modality": "video", "video": "/abs/v.mp4"},
        {"id": "m", "modality": "mixed", "video": "/abs/m.mp4"},
        {"id": "a2", "modality": "audio", "audio": "/abs/y.wav"},
    ]
    src = write(tmp_path / "all_data.jsonl", rows)
    out = tmp_path / "split_output"
    out.mkdir()
    (out / "image.jsonl").write_text('{"stale": true}\n')
    assert run(["split", str(src), "-o", str(out)]) == 0
    assert "audio: 2 row(s)" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["audio.jsonl", "mixed.jsonl", "video.jsonl"]
    audio = read(out / "audio.jsonl")
    assert [r["id"] for r in audio] == ["a", "a2"] and audio[0]["audio"] == str(tmp_path / "x.wav")
    split_by_modality(src, out, keep_relative=True)
    assert read(out / "audio.jsonl")[0]["audio"] == "x.wav"


def test_split_failure_writes_nothing(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "modality": "audio", "audio": "/a.wav"}\n{"id": "b", "modality": "video"}\n')
    with pytest.raises(InputError, match=r"in\.jsonl:2: modality 'video' needs a 'video' path"):
        split_by_modality(src, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
    report = split_by_modality(src, tmp_path / "out", skip_invalid=True)
    assert (report.written, report.skipped) == (1, 1)
    (tmp_path / "file").write_text("")
    with pytest.raises(ReapOmniError, match="not a folder"):
        split_by_modality(src, tmp_path / "file")
