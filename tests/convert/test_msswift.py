"""Unified/QA -> MS-SWIFT conversion: prompts, tasks, templates, mixed rows, errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reap_omni.cli import run
from reap_omni.convert.msswift import (
    convert_qa_to_msswift,
    convert_unified_to_msswift,
    create_msswift_sample,
)
from reap_omni.convert.validate_msswift import validate_msswift
from reap_omni.errors import InputError, ReapOmniError
from reap_omni.fixtures.media import make_audio, make_image, make_video
from reap_omni.media.probe import probe


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    paths = {"audio": str(d / "a.wav"), "video": str(d / "v.mp4"), "track": str(d / "v.wav"),
             "image": str(d / "i.png"), "silent": str(d / "silent.mp4")}
    make_audio(paths["audio"], seconds=0.3, fmt="wav")
    make_video(paths["video"], seconds=0.3)
    make_audio(paths["track"], seconds=0.3, fmt="wav", seed=1)
    make_image(paths["image"])
    make_video(paths["silent"], seconds=0.3, with_audio=False)
    return paths


def unified_rows(m):
    return [
        {"id": "a1", "modality": "audio", "text": "hello world", "audio": m["audio"], "task": "asr"},
        {"id": "v1", "modality": "video", "text": "colours scroll", "video": m["video"], "task": "caption"},
        {"id": "m1", "modality": "mixed", "text": "a tone", "video": m["video"], "audio": m["track"],
         "task": "caption", "has_audio": True},
        {"id": "i1", "modality": "image", "text": "a gradient", "image": [m["image"], m["image"]]},
        {"id": "t1", "modality": "text", "text": "Paris", "meta": {"question": "Capital of France?"}},
    ]


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return str(path)


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_sft_rows_keep_answer_out_of_prompt(tmp_path, media):
    inp = write_jsonl(tmp_path / "in.jsonl", unified_rows(media))
    res = convert_unified_to_msswift(inp, tmp_path / "out.jsonl", task_type="sft")
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert res["rows"] == 5
    asr = rows[0]
    assert asr["messages"] == [{"role": "user", "content": "<audio>Transcribe the speech in this audio."},
                               {"role": "assistant", "content": "hello world"}]
    assert asr["audios"] == [media["audio"]] and "videos" not in asr
    assert rows[2]["messages"][0]["content"].startswith("<video><audio>")
    assert rows[2]["videos"] == [media["video"]] and rows[2]["audios"] == [media["track"]]
    assert rows[3]["messages"][0]["content"].startswith("<image><image>") and len(rows[3]["images"]) == 2
    assert rows[4]["messages"][0]["content"] == "Capital of France?"
    for src, row in zip(unified_rows(media), rows, strict=True):
        assert src["text"] not in row["messages"][0]["content"]
    assert validate_msswift(tmp_path / "out.jsonl", task="sft", check_media=True).ok


def test_grpo_ends_with_user_and_keeps_solution(tmp_path, media):
    inp = write_jsonl(tmp_path / "in.jsonl", unified_rows(media))
    convert_unified_to_msswift(inp, tmp_path / "out.jsonl", task_type="grpo", system_prompt="Be brief.")
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert [r["messages"][-1]["role"] for r in rows] == ["user"] * 5
    assert rows[0]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert [r["solution"] for r in rows] == [r["text"] for r in unified_rows(media)]
    report = validate_msswift(tmp_path / "out.jsonl", task="grpo")
    assert report.ok and report.grpo_samples == 5 and report.sft_samples == 0


def test_template_text_is_never_copied_into_prompt(tmp_path, media):
    inp = write_jsonl(tmp_path / "in.jsonl", unified_rows(media)[:2])
    warnings = []
    convert_unified_to_msswift(inp, tmp_path / "out.jsonl", user_template="{modality_tag}Please describe: {text}",
                               warn=warnings.append)
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert rows[0]["messages"][0]["content"] == "<audio>Please describe:"
    assert rows[1]["messages"][0]["content"] == "<video>Please describe:"
    assert len(warnings) == 1 and "{text}" in warnings[0]


def test_template_fields_and_tags_prepended(tmp_path, media):
    row = dict(unified_rows(media)[0], lang="en", source={"dataset": "libri"}, extra_field="X")
    inp = write_jsonl(tmp_path / "in.jsonl", [row])
    convert_unified_to_msswift(inp, tmp_path / "out.jsonl",
                               user_template="[{lang}/{source[dataset]}/{extra_field}] {instruction}")
    assert read_jsonl(tmp_path / "out.jsonl")[0]["messages"][0]["content"] == \
        "<audio>[en/libri/X] Transcribe the speech in this audio."


def test_template_unknown_field_names_row(tmp_path, media):
    inp = write_jsonl(tmp_path / "in.jsonl", unified_rows(media)[:1])
    with pytest.raises(InputError, match=r"in\.jsonl:1: --user-template field \{nope\}"):
        convert_unified_to_msswift(inp, tmp_path / "out.jsonl", user_template="{nope}")
    assert not (tmp_path / "out.jsonl").exists()


def test_template_with_literal_tag_refused(tmp_path, media):
    inp = write_jsonl(tmp_path / "in.jsonl", unified_rows(media)[:1])
    with pytest.raises(ReapOmniError, match="modality_tag"):
        convert_unified_to_msswift(inp, tmp_path / "out.jsonl", user_template="<audio>{instruction}")


def test_audio_in_video_lists_only_the_video(tmp_path, media):
    inp = write_jsonl(tmp_path / "in.jsonl", unified_rows(media))
    convert_unified_to_msswift(inp, tmp_path / "out.jsonl", audio_in_video=True)
    mixed = read_jsonl(tmp_path / "out.jsonl")[2]
    assert mixed["videos"] == [media["video"]] and "audios" not in mixed
    assert mixed["messages"][0]["content"].count("<video>") == 1 and "<audio>" not in mixed["messages"][0]["content"]
    assert validate_msswift(tmp_path / "out.jsonl", audio_in_video=True, check_media=True).ok


def test_mixed_row_without_track_gets_its_video_track_extracted_once(tmp_path, media):
    rows = [{"id": f"m{i}", "modality": "mixed", "text": "t", "video": media["video"]} for i in range(2)]
    (tmp_path / "in").mkdir()
    inp = write_jsonl(tmp_path / "in" / "in.jsonl", rows)
    out = tmp_path / "out" / "train.jsonl"
    res = convert_unified_to_msswift(inp, out)
    assert res["rows"] == 2
    got = read_jsonl(out)
    track = got[0]["audios"][0]
    assert got[1]["audios"] == [track] and got[0]["videos"] == [media["video"]]
    assert Path(track).parent == tmp_path / "out" / "train.media"  # beside the output, never the input
    info = probe(track)
    assert info.sample_rate == 16000 and info.channels == 1 and abs(info.duration - 0.3) < 0.05
    assert "<video><audio>" in got[0]["messages"][0]["content"]
    folder = tmp_path / "out" / "train.media"
    assert res["audio_tracks"] == f"extracted the audio track of 2 mixed row(s) into {folder} (1 decoded, 1 reused)"
    assert validate_msswift(out, check_media=True).ok
    mtime = os.stat(track).st_mtime_ns
    again = convert_unified_to_msswift(inp, out)  # a rerun reuses the file
    assert "(0 decoded, 2 reused)" in again["audio_tracks"] and os.stat(track).st_mtime_ns == mtime
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["in.jsonl"]


def test_mixed_row_whose_video_has_no_audio_track_is_a_row_error(tmp_path, media):
    row = {"id": "m", "modality": "mixed", "text": "t", "video": media["silent"]}
    inp = write_jsonl(tmp_path / "in.jsonl", [row])
    with pytest.raises(InputError, match=r"in\.jsonl:1: mixed row's video .*silent\.mp4 has no audio track"):
        convert_unified_to_msswift(inp, tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


def test_silent_video_refused_under_audio_in_video(tmp_path, media):
    row = {"id": "v", "modality": "video", "text": "t", "video": media["silent"], "has_audio": False}
    inp = write_jsonl(tmp_path / "in.jsonl", [row])
    with pytest.raises(InputError, match="has_audio is false"):
        convert_unified_to_msswift(inp, tmp_path / "out.jsonl", audio_in_video=True)


def test_skip_invalid_reports_and_keeps_going(tmp_path, media):
    rows = unified_rows(media)[:2] + ['{"id": "x", "modality": "audio"}', "{bad json",
                                      {"id": "e", "modality": "audio", "text": "", "audio": media["audio"]},
                                      {"id": "l", "modality": "audio", "text": "say <audio>", "audio": media["audio"]}]
    inp = write_jsonl(tmp_path / "in.jsonl", rows)
    before = Path(inp).read_bytes()
    res = convert_unified_to_msswift(inp, tmp_path / "out.jsonl", skip_invalid=True)
    assert res["rows"] == 2 and res["skipped"] == 4
    joined = "\n".join(res["errors"])
    for needle in (":3: modality 'audio' needs", ":4: malformed JSON", ":5: empty answer", ":6: text contains"):
        assert needle in joined
    assert Path(inp).read_bytes() == before


def test_first_error_aborts_without_output(tmp_path, media):
    inp = write_jsonl(tmp_path / "in.jsonl", unified_rows(media)[:1] + ['{"id": "x", "modality": "audio"}'])
    (tmp_path / "out.jsonl").write_text("old\n")
    with pytest.raises(InputError, match=r"in\.jsonl:2: "):
        convert_unified_to_msswift(inp, tmp_path / "out.jsonl")
    assert (tmp_path / "out.jsonl").read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_output_equal_to_input_refused(tmp_path, media):
    inp = write_jsonl(tmp_path / "in.jsonl", unified_rows(media)[:1])
    with pytest.raises(ReapOmniError, match="same file as input"):
        convert_unified_to_msswift(inp, inp)


def test_qa_relative_media_resolved_against_qa_folder(tmp_path, media):
    sub = tmp_path / "qa"
    sub.mkdir()
    os.symlink(media["image"], sub / "pic.png")
    os.symlink(media["audio"], sub / "clip.wav")
    inp = write_jsonl(sub / "qa.jsonl", [
        {"question": "What is shown?", "answer": "A gradient.", "image": "pic.png"},
        {"question": "<audio>What is said?", "answer": 42, "audio_path": ["clip.wav"]},
    ])
    convert_qa_to_msswift(inp, tmp_path / "out.jsonl", audio_key="audio_path")
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert rows[0]["images"] == [str(sub / "pic.png")]
    assert rows[0]["messages"][0]["content"] == "<image>What is shown?"
    assert rows[1]["messages"] == [{"role": "user", "content": "<audio>What is said?"},
                                   {"role": "assistant", "content": "42"}]
    assert validate_msswift(tmp_path / "out.jsonl").ok


def test_qa_tag_mismatch_and_missing_answer(tmp_path, media):
    inp = write_jsonl(tmp_path / "qa.jsonl", [{"question": "<image><image>Compare", "answer": "x",
                                               "image": media["image"]}])
    with pytest.raises(InputError, match=r"qa\.jsonl:1: prompt has 2 <image> tag\(s\) but the row has 1 images"):
        convert_qa_to_msswift(inp, tmp_path / "out.jsonl")
    inp = write_jsonl(tmp_path / "qa2.jsonl", [{"question": "Why?"}])
    with pytest.raises(InputError, match="missing field 'answer'"):
        convert_qa_to_msswift(inp, tmp_path / "out.jsonl")
    res = convert_qa_to_msswift(inp, tmp_path / "out.jsonl", task_type="grpo")
    assert res["rows"] == 1 and read_jsonl(tmp_path / "out.jsonl")[0]["solution"] == ""


def test_create_sample_counts_tags():
    s = create_msswift_sample("What did the speaker say?", "Hello.", system_prompt="Be kind.", audios=["/x.wav"])
    assert s["messages"][1]["content"] == "<audio>What did the speaker say?"
    assert s["audios"] == ["/x.wav"]
    with pytest.raises(ReapOmniError, match="2 <audio> tag"):
        create_msswift_sample("<audio><audio>x", "y", audios=["/x.wav"])
    g = create_msswift_sample("<image>Solve", images=["/i.png"], solution="4")
    assert g["messages"][-1]["role"] == "user" and g["solution"] == "4"


def test_cli_errors_are_one_line(tmp_path, media, capsys):
    inp = write_jsonl(tmp_path / "in.jsonl", ['{"id": 3, "modality": "audio"}'])
    assert run(["msswift", inp, str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "in.jsonl:1: field 'id'" in err[0]
    assert run(["msswift", str(tmp_path / "missing.jsonl"), str(tmp_path / "o.jsonl")]) == 2
    assert "missing.jsonl: file not found" in capsys.readouterr().err


def test_large_input_error_line_exact(tmp_path, media):
    """Several read blocks: valid blocks take the batch path, the bad row is still named by its line."""
    rows = unified_rows(media)[:2] * 5000
    rows[7777] = {"id": "x", "modality": "video", "text": "t"}
    inp = write_jsonl(tmp_path / "big.jsonl", rows)
    res = convert_unified_to_msswift(inp, tmp_path / "out.jsonl", skip_invalid=True)
    assert res["rows"] == 9999 and res["errors"] == [f"{inp}:7778: modality 'video' needs a 'video' path"]
    out = read_jsonl(tmp_path / "out.jsonl")
    assert [out[i]["messages"][1]["content"] for i in (7776, 7777, 7778)] == ["hello world", "hello world",
                                                                              "colours scroll"]


@pytest.mark.parametrize("task,system", [("sft", None), ("grpo", None), ("sft", "Be brief.")])
def test_direct_route_writes_what_the_general_route_writes(tmp_path, media, monkeypatch, task, system):
    from reap_omni.convert import msswift

    rows = unified_rows(media) + [
        {"id": "a2", "modality": "audio", "text": "中文 转写", "audio": media["audio"], "task": "asr",
         "meta": {"sample_rate": 16000}},
        {"id": "a3", "modality": "audio", "text": "with meta question", "audio": media["audio"],
         "meta": {"question": "What is said?"}},
        {"id": "v2", "modality": "video", "text": "no task", "video": media["video"], "duration": 0.3},
        {"id": "m2", "modality": "mixed", "text": "a tone", "video": media["video"], "audio": media["track"],
         "task": "qa"},
        {"id": "a4", "modality": "audio", "text": "x < y", "audio": media["audio"]},
        {"id": "i2", "modality": "image", "text": "one picture", "image": media["image"], "task": "caption"},
        {"id": "t2", "modality": "text", "text": "Rome", "meta": {"question": "Capital of Italy?", "k": 1}},
    ]
    inp = write_jsonl(tmp_path / "in.jsonl", rows)
    convert_unified_to_msswift(inp, tmp_path / "direct.jsonl", task_type=task, system_prompt=system)
    monkeypatch.setattr(msswift.SwiftDirect, "__call__", lambda self, rec: None)  # every row the general route
    convert_unified_to_msswift(inp, tmp_path / "general.jsonl", task_type=task, system_prompt=system)
    assert (tmp_path / "direct.jsonl").read_bytes() == (tmp_path / "general.jsonl").read_bytes()
