"""LLaMA-Factory sharegpt export, dataset_info.json registration and validate-llamafactory."""

from __future__ import annotations

import json

import pytest

from reap_omni.cli import run
from reap_omni.convert.llamafactory import convert_unified_to_llamafactory
from reap_omni.convert.llamafactory_info import register_dataset
from reap_omni.convert.validate_llamafactory import validate_llamafactory
from reap_omni.errors import InputError
from reap_omni.fixtures.media import make_audio, make_video


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("lfmedia")
    paths = {"audio": str(d / "a.wav"), "video": str(d / "v.mp4"), "track": str(d / "v.wav")}
    make_audio(paths["audio"], seconds=0.3, fmt="wav")
    make_video(paths["video"], seconds=0.3)
    make_audio(paths["track"], seconds=0.3, fmt="wav", seed=3)
    return paths


def unified(media):
    return [
        {"id": "a", "modality": "audio", "text": "hello", "audio": media["audio"], "task": "asr"},
        {"id": "m", "modality": "mixed", "text": "a tone", "video": media["video"], "audio": media["track"]},
        {"id": "v", "modality": "video", "text": "colours", "video": media["video"]},
    ]


def write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


def test_export_rows_and_entry(tmp_path, media):
    inp = write(tmp_path / "in.jsonl", unified(media))
    out = tmp_path / "data" / "calib.jsonl"
    res = convert_unified_to_llamafactory(inp, out, system_prompt="Be brief.")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["conversations"] == [{"from": "system", "value": "Be brief."},
                                        {"from": "human", "value": "<audio>Transcribe the speech in this audio."},
                                        {"from": "gpt", "value": "hello"}]
    assert rows[1]["conversations"][1]["value"].startswith("<video><audio>")
    assert rows[1]["videos"] == [media["video"]] and rows[1]["audios"] == [media["track"]]
    info = json.loads((tmp_path / "data" / "dataset_info.json").read_text())
    assert res["dataset_name"] == "calib"
    assert info["calib"] == {
        "file_name": "calib.jsonl", "formatting": "sharegpt",
        "columns": {"messages": "conversations", "videos": "videos", "audios": "audios"},
        "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                 "system_tag": "system"},
    }
    report = validate_llamafactory(out, audio_in_video=True, check_media=True)
    assert report.ok, report.errors
    assert report.sft_samples == 3


def test_entry_merged_atomically_keeping_others(tmp_path, media):
    info = tmp_path / "dataset_info.json"
    info.write_text(json.dumps({"other": {"file_name": "o.json"}}))
    inp = write(tmp_path / "in.jsonl", unified(media)[:1])
    convert_unified_to_llamafactory(inp, tmp_path / "a.jsonl", dataset_name="mine")
    data = json.loads(info.read_text())
    assert data["other"] == {"file_name": "o.json"} and "system_tag" not in data["mine"]["tags"]
    assert data["mine"]["columns"] == {"messages": "conversations", "audios": "audios"}
    info.write_text("{broken")
    with pytest.raises(InputError, match="dataset_info.json: malformed JSON"):
        register_dataset(info, "x", {})
    assert info.read_text() == "{broken"


def test_qa_source(tmp_path, media):
    qa = write(tmp_path / "qa.jsonl", [{"q": "What is said?", "a": "hello", "wav": media["audio"]}])
    out = tmp_path / "qa_lf.jsonl"
    assert run(["llamafactory", qa, str(out), "--from", "qa", "--question-key", "q", "--answer-key", "a",
                "--audio-key", "wav"]) == 0
    assert json.loads(out.read_text())["conversations"][0] == {"from": "human", "value": "<audio>What is said?"}
    assert run(["validate-llamafactory", str(out)]) == 0


def test_validator_rules(tmp_path, media):
    out = tmp_path / "lf.jsonl"
    rows = [
        {"conversations": [{"from": "human", "value": "<audio>x"}, {"from": "gpt", "value": "y"}],
         "audios": [media["audio"]]},
        {"conversations": [{"from": "human", "value": "x"}]},
        {"conversations": [{"from": "gpt", "value": "x"}, {"from": "human", "value": "y"}]},
        {"conversations": [{"from": "system", "value": "<audio>s"}, {"from": "human", "value": "x"},
                           {"from": "gpt", "value": "y"}], "audios": [media["audio"]]},
        {"conversations": [{"from": "human", "value": "<audio>x <video>"}, {"from": "gpt", "value": "y"}],
         "videos": [media["video"]], "audios": [media["audio"]]},
        {"conversations": [{"from": "human", "value": "<video>x"}, {"from": "gpt", "value": "y"}],
         "videos": [media["video"]], "audios": [media["audio"], media["audio"]]},
    ]
    write(out, rows)
    register_dataset(tmp_path / "dataset_info.json", "lf", {
        "file_name": "lf.jsonl", "formatting": "sharegpt",
        "columns": {"messages": "conversations", "videos": "videos", "audios": "audios"},
        "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}})
    report = validate_llamafactory(out, audio_in_video=True)
    text = "\n".join(report.errors)
    assert report.invalid == 5
    assert "lf.jsonl:2: 1 turn(s) after the system prompt" in text
    assert "lf.jsonl:3: messages[0].from is 'gpt'" in text
    assert "lf.jsonl:4: messages[0] is a system turn but the dataset_info entry's tags lack system_tag" in text
    assert "lf.jsonl:5: messages[0]: each <video> must be followed by its <audio>" in text
    assert "lf.jsonl:6: the number of audios (2) does not match the number of <audio> tokens (0)" in text


def test_entry_columns_and_formatting_checked(tmp_path, media):
    out = tmp_path / "x.jsonl"
    write(out, [{"conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": "y"}], "images": []}])
    info = tmp_path / "dataset_info.json"
    register_dataset(info, "x", {"file_name": "x.jsonl", "columns": {"audios": "audios"}})
    text = "\n".join(validate_llamafactory(out).errors)
    assert "formatting must be 'sharegpt'" in text and "columns must list 'messages'" in text
    assert "no row has it" in text and "rows have 'images' but columns do not list 'images'" in text
    info.unlink()
    report = validate_llamafactory(out)
    assert report.ok and any("no entry for this file" in w for w in report.warnings)
    with pytest.raises(InputError, match="no entry named 'zzz'"):
        validate_llamafactory(out, dataset_name="zzz")
