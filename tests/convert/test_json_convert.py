"""JSON -> unified manifest: array, object-with-list and JSON Lines, streamed, with bad-input cases."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import reap_omni.convert.json_stream as js
from reap_omni.cli import run
from reap_omni.convert.json_stream import detect_layout, get_path, iter_elements
from reap_omni.convert.tabular import FieldMap, convert_json
from reap_omni.errors import InputError
from reap_omni.fixtures.media import make_video


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def media(tmp_path: Path) -> Path:
    make_video(tmp_path / "v.mp4", seconds=0.2, with_audio=False)
    return tmp_path


DATA = [
    {"text": "a ] tricky \"} string", "video_path": "v.mp4", "meta": {"caption": "c1"}},
    {"text": "unicode: 你好 \\u00e9", "video_path": "v.mp4", "meta": {"caption": "c2"}},
]


@pytest.mark.parametrize(
    "layout,content",
    [
        ("array", json.dumps(DATA, indent=2, ensure_ascii=False)),
        ("array", json.dumps(DATA)),
        ("object", json.dumps({"version": 2, "tags": ["x"], "data": DATA}, indent=1)),
        ("object", json.dumps({"data": DATA})),
        ("jsonl", "\n".join(json.dumps(d) for d in DATA) + "\n"),
    ],
)
def test_layouts_are_detected_and_read(media: Path, layout: str, content: str) -> None:
    src = media / "in.json"
    src.write_text(content, encoding="utf-8")
    assert detect_layout(src) == layout
    report = convert_json(src, media / "out.jsonl", FieldMap(text="text", video="video_path"))
    assert report.written == 2
    out = rows(media / "out.jsonl")
    assert [r["text"] for r in out] == [d["text"] for d in DATA]
    assert all(r["video"] == str(media / "v.mp4") and r["modality"] == "video" for r in out)


def test_dotted_keys_and_list_key(media: Path) -> None:
    src = media / "in.json"
    src.write_text(json.dumps({"meta": {"n": 2}, "payload": {"rows": DATA}, "other": DATA}))
    convert_json(src, media / "out.jsonl", FieldMap(text="meta.caption", video="video_path"), list_key="payload.rows")
    assert [r["text"] for r in rows(media / "out.jsonl")] == ["c1", "c2"]
    assert get_path({"a": [{"b": 1}]}, "a.0.b") == 1
    assert get_path({"a.b": 5}, "a.b") == 5


def test_several_lists_are_ambiguous(media: Path) -> None:
    src = media / "in.json"
    src.write_text(json.dumps({"train": DATA, "test": DATA}, indent=1))
    with pytest.raises(InputError, match=r"several lists of objects \(train, test\); choose one with --list-key"):
        convert_json(src, media / "out.jsonl", FieldMap(video="video_path"))
    assert not (media / "out.jsonl").exists()


def test_splitter_matches_json_module_across_chunk_boundaries(tmp_path: Path, monkeypatch) -> None:
    rng = random.Random(7)
    alphabet = ['"', "\\", "[", "]", "{", "}", ",", ":", " ", "\n", "é", "中", "a", "0"]
    elements = []
    for i in range(60):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        elements.append({"id": str(i), "s": s, "nested": [{"k": s[::-1]}, [1, 2.5, None, True]], "n": i})
    text = json.dumps(elements, ensure_ascii=False, indent=rng.choice([None, 1, 3]))
    path = tmp_path / "a.json"
    path.write_text(text, encoding="utf-8")
    for chunk in (1, 2, 3, 7, 64):
        monkeypatch.setattr(js, "CHUNK", chunk)
        got = [json.loads(raw) for _line, raw in iter_elements(path, "array")]
        assert got == elements


def test_element_lines_are_the_starting_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('[\n  {"a": 1},\n\n  {\n    "a": "x\\ny"\n  }, 3\n]\n')
    assert [line for line, _ in iter_elements(path, "array")] == [2, 4, 6]


def test_malformed_element_names_its_line_and_skip_invalid(media: Path, capsys) -> None:
    src = media / "in.json"
    src.write_text('[\n{"text": "ok", "video": "v.mp4"},\n{"text": tru, "video": "v.mp4"},\n7,\n{"text": "ok2"}\n]')
    with pytest.raises(InputError, match=r"in\.json:3: malformed JSON"):
        convert_json(src, media / "out.jsonl")
    code = run(["json", str(src), str(media / "out.jsonl"), "--skip-invalid"])
    out = capsys.readouterr().out
    assert code == 0 and "skipped 2 invalid row(s)" in out
    assert "in.json:4: expected a JSON object, got int" in out
    assert [r["text"] for r in rows(media / "out.jsonl")] == ["ok", "ok2"]


@pytest.mark.parametrize(
    "content,message",
    [
        ('[{"a": 1},\n{"a": 2}', r":2: unexpected end of file: the array opened at line 1 is not closed"),
        ('[{"a": 1}\n{"a": 2}]', r":2: expected ',' or '\]' after the element starting at line 1"),
        ('[{"a": 1}]\n[]', r":2: unexpected content after the JSON array"),
        ('[{"a": "unterminated\n', r":1: unexpected end of file inside the element starting at line 1"),
        ("hello", r":1: not JSON"),
        ("", r"file is empty"),
    ],
)
def test_structural_errors(tmp_path: Path, content: str, message: str) -> None:
    src = tmp_path / "in.json"
    src.write_text(content)
    with pytest.raises(InputError, match=message):
        convert_json(src, tmp_path / "out.jsonl", FieldMap(text="a"))
    assert not (tmp_path / "out.jsonl").exists()


def test_jsonl_bom_crlf_blank_lines_and_invalid_utf8(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'\xef\xbb\xbf{"text": "a"}\r\n\r\n   \n{"text": "b"}\r\n{"text": "\xff"}\n')
    with pytest.raises(InputError, match=r"in\.jsonl:5: invalid UTF-8"):
        convert_json(src, tmp_path / "out.jsonl")
    report = convert_json(src, tmp_path / "out.jsonl", skip_invalid=True)
    assert (report.written, report.skipped) == (2, 1)
    assert [r["text"] for r in rows(tmp_path / "out.jsonl")] == ["a", "b"]


def test_invalid_utf8_inside_array_element(tmp_path: Path) -> None:
    src = tmp_path / "in.json"
    src.write_bytes(b'[{"text": "a"},\n{"text": "\xc3("}]')
    with pytest.raises(InputError, match=r"in\.json:2: invalid UTF-8"):
        convert_json(src, tmp_path / "out.jsonl")


def test_named_key_missing_and_wrong_types(media: Path) -> None:
    src = media / "in.jsonl"
    src.write_text('{"caption": "a", "video_path": "v.mp4"}\n{"video_path": "v.mp4"}\n')
    with pytest.raises(InputError, match=r"in\.jsonl:2: missing key 'caption'"):
        convert_json(src, media / "out.jsonl", FieldMap(text="caption", video="video_path"))
    src.write_text('{"caption": ["a"], "video_path": "v.mp4"}\n')
    with pytest.raises(InputError, match=r"in\.jsonl:1: field 'caption' must be a string, got array"):
        convert_json(src, media / "out.jsonl", FieldMap(text="caption", video="video_path"))
    src.write_text('{"caption": "a", "video_path": 5}\n')
    with pytest.raises(InputError, match=r"in\.jsonl:1: field 'video_path' must be a path \(string\), got int"):
        convert_json(src, media / "out.jsonl", FieldMap(text="caption", video="video_path"))


def test_image_lists_and_numeric_ids(tmp_path: Path) -> None:
    (tmp_path / "i1.png").write_bytes(b"x")
    (tmp_path / "i2.png").write_bytes(b"x")
    src = tmp_path / "in.json"
    src.write_text(json.dumps([{"id": 7, "text": "t", "imgs": ["i1.png", "i2.png"]}]))
    convert_json(src, tmp_path / "out.jsonl", FieldMap(image="imgs", name="pics"))
    (row,) = rows(tmp_path / "out.jsonl")
    assert row["id"] == "pics_7" and row["modality"] == "image"
    assert row["image"] == [str(tmp_path / "i1.png"), str(tmp_path / "i2.png")]


def test_huge_single_element_is_refused_with_its_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("REAP_OMNI_MAX_LINE_BYTES", str(1024 * 1024))
    src = tmp_path / "in.json"
    src.write_text('[\n{"text": "ok"},\n{"text": "' + "x" * (3 * 1024 * 1024) + '"}\n]')
    with pytest.raises(InputError, match=r"in\.json:3: element is longer than 1 MiB"):
        convert_json(src, tmp_path / "out.jsonl")


def test_fifty_megabyte_jsonl_line(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    with open(src, "wb") as f:
        f.write(b'{"text": "first"}\n{"text": "')
        f.write(b"x" * (50 * 1024 * 1024))
        f.write(b'"}\n{"text": "last"}\n')
    with pytest.raises(InputError, match=r"in\.jsonl:2: line is longer than 16 MiB"):
        convert_json(src, tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()
    report = convert_json(src, tmp_path / "out.jsonl", skip_invalid=True)
    assert (report.written, report.skipped) == (2, 1)
    assert [r["text"] for r in rows(tmp_path / "out.jsonl")] == ["first", "last"]


def test_array_streaming_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    import tracemalloc

    src = tmp_path / "big.json"
    element = json.dumps({"text": "x" * 200, "meta": {"caption": "y" * 100}})
    with open(src, "w") as f:
        f.write("[\n" + ",\n".join([element] * 24000) + "\n]")  # ~8 MB, twice the bound below
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_elements(src, "array"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 24000
    assert peak < 4 * js.CHUNK  # a chunk or two in the buffer, not the document
