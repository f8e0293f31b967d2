"""CSV -> unified manifest: quoting, BOM, CRLF, delimiters, path resolution and every bad-input case."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reap_omni.cli import run
from reap_omni.convert.tabular import FieldMap, convert_csv, read_csv
from reap_omni.errors import InputError, ReapOmniError
from reap_omni.fixtures.media import make_audio, make_video


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def media(tmp_path: Path) -> Path:
    (tmp_path / "wav").mkdir()
    make_audio(tmp_path / "wav" / "a.flac", seconds=0.1)
    make_video(tmp_path / "v.mp4", seconds=0.2, with_audio=False)
    return tmp_path


def test_seed_flags_quotes_bom_crlf_embedded_newlines(media: Path) -> None:
    src = media / "in.csv"
    src.write_bytes(
        b'\xef\xbb\xbfid,caption,path\r\n'
        b'u1,"hello, ""quoted""\r\nsecond line",wav/a.flac\r\n'
        b"\r\n"
        b"u2,plain,wav/a.flac\r\n"
    )
    before = src.read_bytes()
    report = convert_csv(src, media / "out.jsonl", FieldMap(text="caption", audio="path"))
    assert report.written == 2
    out = rows(media / "out.jsonl")
    assert out[0]["text"] == 'hello, "quoted"\r\nsecond line'
    assert out[0]["audio"] == str(media / "wav" / "a.flac")
    assert out[0]["modality"] == "audio"
    assert out[0]["id"] == "u1" and out[0]["source"] == {"dataset": "in", "original_id": "u1"}
    assert out[1]["text"] == "plain"
    assert src.read_bytes() == before


def test_keep_relative_name_task_lang_meta(media: Path) -> None:
    src = media / "in.csv"
    src.write_text("caption,path,speaker\nhi,wav/a.flac,spk1\n")
    fields = FieldMap(text="caption", audio="path", name="ds", task="asr", lang="en", meta=("speaker",))
    convert_csv(src, media / "out.jsonl", fields, keep_relative=True)
    (row,) = rows(media / "out.jsonl")
    assert row["audio"] == "wav/a.flac"
    assert row["id"] == "ds_000001"
    assert (row["task"], row["lang"], row["meta"]) == ("asr", "en", {"speaker": "spk1"})


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_delimiters(media: Path, delimiter: str) -> None:
    src = media / "in.csv"
    src.write_text(delimiter.join(["text", "audio"]) + "\n" + delimiter.join(["a, b", "wav/a.flac"]) + "\n")
    convert_csv(src, media / "out.jsonl", delimiter=delimiter)
    assert rows(media / "out.jsonl")[0]["text"] == "a, b"


def test_modality_inferred_from_filled_columns(media: Path) -> None:
    src = media / "in.csv"
    src.write_text(
        "text,audio,video\n"
        "only audio,wav/a.flac,\n"
        "only video,,v.mp4\n"
        "both,wav/a.flac,v.mp4\n"
        "just text,,\n"
    )
    convert_csv(src, media / "out.jsonl")
    assert [r["modality"] for r in rows(media / "out.jsonl")] == ["audio", "video", "mixed", "text"]


def test_video_modality_auto_probes_the_file(media: Path) -> None:
    make_video(media / "va.mp4", seconds=0.2, with_audio=True)
    src = media / "in.csv"
    src.write_text("text,video\nsilent,v.mp4\nsound,va.mp4\n")
    convert_csv(src, media / "out.jsonl", FieldMap(video_modality="auto"))
    assert [r["modality"] for r in rows(media / "out.jsonl")] == ["video", "mixed"]
    (media / "junk.mp4").write_bytes(b"not a video")
    src.write_text("text,video\nsilent,v.mp4\njunk,junk.mp4\n")
    with pytest.raises(InputError, match=r"in\.csv:3: .*junk\.mp4: cannot"):
        convert_csv(src, media / "out.jsonl", FieldMap(video_modality="auto"))


def test_fixed_modality_conflict_is_a_row_error(media: Path) -> None:
    src = media / "in.csv"
    src.write_text("text,video\nx,v.mp4\n")
    with pytest.raises(InputError, match=r"in\.csv:2: modality 'audio' needs an 'audio' path"):
        convert_csv(src, media / "out.jsonl", FieldMap(modality="audio"))
    assert not (media / "out.jsonl").exists()


def test_missing_column_lists_the_header(media: Path, capsys) -> None:
    src = media / "in.csv"
    src.write_text("id;caption;path\n1;a;wav/a.flac\n")
    code = run(["csv", str(src), str(media / "out.jsonl"), "--text-col", "caption"])
    err = capsys.readouterr().err
    assert code == 2
    assert "in.csv:1: column(s) 'caption' not found; the header has: id;caption;path" in err
    assert "--delimiter" in err and "Traceback" not in err
    assert not (media / "out.jsonl").exists()


def test_wrong_field_count_and_skip_invalid(media: Path, capsys) -> None:
    src = media / "in.csv"
    src.write_text("text,audio\nok,wav/a.flac\nbad,wav/a.flac,extra\nok2,wav/a.flac\n")
    with pytest.raises(InputError, match=r"in\.csv:3: row has 3 field\(s\), the header has 2"):
        convert_csv(src, media / "out.jsonl")
    code = run(["csv", str(src), str(media / "out.jsonl"), "--skip-invalid"])
    out = capsys.readouterr().out
    assert code == 0
    assert "wrote 2 row(s)" in out and "skipped 1 invalid row(s)" in out and "in.csv:3:" in out
    assert [r["text"] for r in rows(media / "out.jsonl")] == ["ok", "ok2"]


def test_invalid_utf8_names_the_line(media: Path) -> None:
    src = media / "in.csv"
    src.write_bytes(b"text,audio\nfine,wav/a.flac\n\xff\xfe bad,wav/a.flac\n")
    with pytest.raises(InputError, match=r"in\.csv:3: invalid UTF-8"):
        convert_csv(src, media / "out.jsonl")
    report = convert_csv(src, media / "out.jsonl", skip_invalid=True)
    assert (report.written, report.skipped) == (1, 1)


def test_record_spanning_lines_reports_its_first_line(media: Path) -> None:
    src = media / "in.csv"
    src.write_text('text,audio\n"multi\nline\ntext",wav/a.flac\n"again\nx",missing.flac\n')
    with pytest.raises(InputError, match=r"in\.csv:5: media file not found: .*missing\.flac"):
        convert_csv(src, media / "out.jsonl")


def test_missing_media_allowed_is_counted(media: Path) -> None:
    src = media / "in.csv"
    src.write_text("text,audio\na,wav/a.flac\nb,gone.flac\n")
    report = convert_csv(src, media / "out.jsonl", allow_missing_media=True)
    assert report.written == 2 and report.missing_media == 1
    assert "1 media file(s) missing" in report.summary() and "gone.flac" in report.summary()


def test_duplicate_ids_name_both_lines(media: Path) -> None:
    src = media / "in.csv"
    src.write_text("id,text\nx,a\ny,b\nx,c\n")
    with pytest.raises(InputError, match=r"in\.csv:4: duplicate id 'x' \(first at line 2\)"):
        convert_csv(src, media / "out.jsonl")


def test_wrong_types_and_empty_rows(media: Path) -> None:
    src = media / "in.csv"
    src.write_text("text,audio\n,\n")
    with pytest.raises(InputError, match=r"in\.csv:2: row has no text and no media"):
        convert_csv(src, media / "out.jsonl")


def test_unknown_modality_flag_is_rejected() -> None:
    with pytest.raises(ReapOmniError, match="--modality must be one of"):
        FieldMap(modality="sound")


def test_malformed_quotes_and_long_line(media: Path, monkeypatch) -> None:
    src = media / "in.csv"
    src.write_text('text,audio\n"never closed,wav/a.flac\n')
    with pytest.raises(InputError, match=r"in\.csv:2: malformed CSV"):
        convert_csv(src, media / "out.jsonl")
    monkeypatch.setenv("REAP_OMNI_MAX_LINE_BYTES", str(1024 * 1024))
    src.write_text("text\n" + "x" * (2 * 1024 * 1024) + "\n")
    with pytest.raises(InputError, match=r"in\.csv:2: line is longer than 1 MiB"):
        convert_csv(src, media / "out.jsonl")
    assert not (media / "out.jsonl").exists()


def test_empty_file_and_missing_input(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(InputError, match="file is empty"):
        read_csv(tmp_path / "e.csv")
    with pytest.raises(InputError, match="file not found"):
        convert_csv(tmp_path / "nope.csv", tmp_path / "o.jsonl")


def test_output_equal_to_input_is_refused(media: Path) -> None:
    src = media / "in.csv"
    src.write_text("text\nhello\n")
    before = src.read_bytes()
    with pytest.raises(ReapOmniError, match="same file as input"):
        convert_csv(src, src)
    assert src.read_bytes() == before


def test_unwritable_output_folder(media: Path) -> None:
    src = media / "in.csv"
    src.write_text("text\nhello\n")
    blocker = media / "a_file"
    blocker.write_text("")
    with pytest.raises(ReapOmniError, match=r"cannot write .*out\.jsonl: a part of the path is a file, not a folder"):
        convert_csv(src, blocker / "out.jsonl")
    if os.geteuid() != 0:  # root can write anywhere
        ro = media / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(ReapOmniError, match="not writable"):
            convert_csv(src, ro / "out.jsonl")


def test_failure_midway_leaves_no_partial_output(media: Path) -> None:
    src = media / "in.csv"
    src.write_text("text,audio\n" + "".join(f"r{i},wav/a.flac\n" for i in range(5000)) + "bad,missing.flac\n")
    out = media / "out.jsonl"
    out.write_text("previous good output\n")
    with pytest.raises(InputError, match=r":5002: media file not found"):
        convert_csv(src, out)
    assert out.read_text() == "previous good output\n"
    assert [p.name for p in media.iterdir() if ".tmp-" in p.name] == []
