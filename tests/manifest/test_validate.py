"""``validate``: every kind of error is reported as file:line, all are counted, and failure exits 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reap_omni.cli import run
from reap_omni.fixtures.media import make_audio, make_image, make_video
from reap_omni.manifest.validate import validate_manifest


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("media")
    make_audio(d / "a.flac", seconds=0.1)
    make_video(d / "va.mp4", seconds=0.2, with_audio=True)
    make_video(d / "v.mp4", seconds=0.2, with_audio=False)
    make_image(d / "i.png")
    (d / "broken.wav").write_bytes(b"not audio at all")
    make_audio(d / "corrupt.flac", seconds=0.5)
    data = (d / "corrupt.flac").read_bytes()
    (d / "corrupt.flac").write_bytes(data[:200] + b"Z" * (len(data) - 200))  # header fine, frames garbage
    return d


def manifest(path: Path, rows: list[dict | str]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_valid_manifest_all_modalities(media: Path, tmp_path: Path, capsys) -> None:
    m = manifest(tmp_path / "audio.jsonl", [
        {"id": "a", "modality": "audio", "audio": str(media / "a.flac"), "text": "t"},
        {"id": "v", "modality": "video", "video": str(media / "v.mp4")},
        {"id": "m", "modality": "mixed", "video": str(media / "va.mp4"), "audio": str(media / "a.flac")},
        {"id": "i", "modality": "image", "image": [str(media / "i.png")]},
        {"id": "t", "modality": "text", "text": "just text"},
    ])
    report = validate_manifest(m, check_media=True)
    assert report.ok and report.rows == 5
    assert run(["validate", str(m), "--check-media"]) == 0
    out = capsys.readouterr().out
    assert "audio 1, image 1, mixed 1, text 1, video 1" in out and "valid: 5 row(s)" in out


def test_each_error_is_reported_at_its_line(media: Path, tmp_path: Path, capsys) -> None:
    m = tmp_path / "bad.jsonl"
    m.write_bytes(
        b'\xef\xbb\xbf{"id": "ok", "modality": "audio", "audio": "' + str(media / "a.flac").encode() + b'"}\r\n'
        b"\r\n"
        b'{"id": "x", "modality": "audio"\n'  # 3: malformed JSON
        b'{"id": 5, "modality": "text", "text": "t"}\n'  # 4: wrong type
        b'{"id": "u", "modality": "smell", "text": "t"}\n'  # 5: unknown modality
        b'{"modality": "text", "text": "t"}\n'  # 6: missing field
        b'{"id": "ok", "modality": "text", "text": "t"}\n'  # 7: duplicate of line 1
        b'{"id": "gone", "modality": "audio", "audio": "missing.wav"}\n'  # 8: missing file
        b'{"id": "av", "modality": "audio", "audio": "a.flac", "video": "v.mp4"}\n'  # 9: audio row with video
        b'{"id": "bad", "modality": "text", "text": "\xff"}\n'  # 10: invalid UTF-8
        b"[1, 2]\n"  # 11: not an object
    )
    assert run(["validate", str(m)]) == 1
    captured = capsys.readouterr()
    out = captured.out
    for line, what in [
        (3, "malformed JSON"),
        (4, "field 'id': expected str, got int"),
        (5, "unknown modality 'smell'"),
        (6, "missing required field 'id'"),
        (7, "duplicate id 'ok' (first at line 1)"),
        (8, f"audio file not found: {tmp_path / 'missing.wav'}"),
        (9, "modality 'audio' must not carry a 'video'"),
        (10, "invalid UTF-8"),
        (11, "expected a JSON object"),
    ]:
        assert f"{m}:{line}: {what}" in out, (line, out)
    assert "INVALID: 9 error(s) in 10 row(s)" in out
    assert "reap-omni: error: 9 error(s) found" in captured.err and "Traceback" not in captured.err


def test_check_media_streams_and_decoding(media: Path, tmp_path: Path) -> None:
    m = manifest(tmp_path / "m.jsonl", [
        {"id": "1", "modality": "audio", "audio": str(media / "v.mp4")},  # no audio stream
        {"id": "2", "modality": "mixed", "video": str(media / "v.mp4")},  # video without sound
        {"id": "3", "modality": "video", "video": str(media / "a.flac")},  # no video stream
        {"id": "4", "modality": "audio", "audio": str(media / "broken.wav")},
        {"id": "5", "modality": "mixed", "video": str(media / "va.mp4")},
        {"id": "6", "modality": "audio", "audio": str(media / "corrupt.flac")},
        {"id": "7", "modality": "audio", "audio": str(media / "a.flac")},
    ])
    assert validate_manifest(m).ok  # without --check-media only existence is checked
    report = validate_manifest(m, check_media=True, jobs=2)
    assert report.errors == 5
    text = "\n".join(report.messages)
    assert f"{m}:1: audio file {media / 'v.mp4'}: has no audio stream, needed by modality 'audio'" in text
    assert f"{m}:2: video file {media / 'v.mp4'}: has no audio stream, needed by modality 'mixed'" in text
    assert f"{m}:3: video file {media / 'a.flac'}: has no video stream" in text
    assert f"{m}:4: audio file {media / 'broken.wav'}: does not decode" in text
    assert f"{m}:6: audio file {media / 'corrupt.flac'}: no audio frame could be decoded" in text  # header fine
    assert f"{m}:5:" not in text and f"{m}:7:" not in text


def test_max_errors_caps_printing_but_counts_all(tmp_path: Path, capsys) -> None:
    m = manifest(tmp_path / "m.jsonl", [{"id": str(i), "modality": "bogus"} for i in range(250)])
    assert run(["validate", str(m), "--max-errors", "3"]) == 1
    out = capsys.readouterr().out
    assert out.count("unknown modality") == 3 and "INVALID: 250 error(s) in 250 row(s), first 3 shown" in out


def test_json_report(tmp_path: Path, capsys) -> None:
    m = manifest(tmp_path / "m.jsonl", [{"id": "t", "modality": "text", "text": "x"}, "{bad"])
    assert run(["validate", str(m), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False and report["rows"] == 2 and report["errors"] == 1
    assert report["files"][0]["modalities"] == {"text": 1}
    assert report["messages"][0].startswith(f"{m}:2: malformed JSON")


def test_missing_empty_and_long_line(tmp_path: Path, monkeypatch) -> None:
    report = validate_manifest([tmp_path / "nope.jsonl"])
    assert not report.ok and "nope.jsonl: file not found" in report.messages[0]
    (tmp_path / "empty.jsonl").write_text("\n\n")
    assert validate_manifest(tmp_path / "empty.jsonl").messages == [f"{tmp_path / 'empty.jsonl'}: manifest has no rows"]
    monkeypatch.setenv("REAP_OMNI_MAX_LINE_BYTES", "1000")
    m = manifest(tmp_path / "long.jsonl", [
        {"id": "a", "modality": "text", "text": "x" * 5000},
        {"id": "b", "modality": "text", "text": "fine"},
    ])
    report = validate_manifest(m)
    assert report.errors == 1 and report.messages[0].startswith(f"{m}:1: line is longer than")
    assert report.files[0].modalities["text"] == 1  # the reader went on after the long line


def test_fifty_megabyte_line_is_an_error_not_a_crash(tmp_path: Path) -> None:
    m = tmp_path / "big.jsonl"
    with open(m, "wb") as f:
        f.write(b'{"id": "a", "modality": "text", "text": "')
        f.write(b"y" * (50 * 1024 * 1024))
        f.write(b'"}\n{"id": "b", "modality": "text", "text": "ok"}\n')
    report = validate_manifest(m)
    assert report.errors == 1 and report.rows == 1 and "line is longer than 16 MiB" in report.messages[0]


def test_relative_paths_resolve_against_the_manifest(media: Path, tmp_path: Path) -> None:
    m = manifest(media / "rel.jsonl", [{"id": "a", "modality": "audio", "audio": "a.flac"}])
    assert validate_manifest(m, check_media=True).ok
