"""validate-msswift: SWIFT's row rules, Arrow type stability, media existence and decoding."""

from __future__ import annotations

import json

import pytest

from reap_omni.cli import run
from reap_omni.convert.msswift import validate_msswift_format
from reap_omni.convert.validate_msswift import validate_msswift
from reap_omni.errors import InputError
from reap_omni.fixtures.media import make_audio, make_video


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("vmedia")
    paths = {"audio": str(d / "a.wav"), "video": str(d / "v.mp4"), "silent": str(d / "s.mp4"),
             "junk": str(d / "junk.wav")}
    make_audio(paths["audio"], seconds=0.3, fmt="wav")
    make_video(paths["video"], seconds=0.3)
    make_video(paths["silent"], seconds=0.3, with_audio=False)
    (d / "junk.wav").write_bytes(b"not audio at all" * 10)
    return paths


def msgs(*pairs):
    return [{"role": r, "content": c} for r, c in pairs]


def errors_for(tmp_path, rows, **kw):
    path = tmp_path / "swift.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return validate_msswift(path, **kw)


def one_error(tmp_path, row, *extra_rows, **kw):
    report = errors_for(tmp_path, [*extra_rows, row], **kw)
    assert not report.ok
    return "\n".join(report.errors)


def good(media):
    return {"messages": msgs(("user", "<audio>Transcribe."), ("assistant", "hi")), "audios": [media["audio"]]}


def test_good_rows_pass_and_count_tasks(tmp_path, media):
    grpo = {"messages": msgs(("system", "s"), ("user", "<audio>Transcribe.")), "audios": [media["audio"]],
            "solution": "hi"}
    report = errors_for(tmp_path, [good(media), grpo, good(media)])
    assert report.ok and (report.total, report.valid, report.sft_samples, report.grpo_samples) == (3, 3, 2, 1)
    assert any("mixes SFT rows" in w for w in report.warnings)


@pytest.mark.parametrize("row, needle", [
    ({"messages": msgs(("user", "<audio><audio>x"), ("assistant", "y")), "audios": ["A"]},
     "2 <audio> tag(s) but 1 audios"),
    ({"messages": msgs(("user", "x"), ("assistant", "y")), "audios": ["A"]}, "0 <audio> tag(s) but 1 audios"),
    ({"messages": msgs(("user", "<image>x"), ("assistant", "y"))}, "1 <image> tag(s) but 0 images"),
    ({"messages": msgs(("user", "x"), ("system", "s"), ("assistant", "y"))}, "system message is only allowed first"),
    ({"messages": msgs(("system", "<audio>s"), ("user", "x"), ("assistant", "y")), "audios": ["A"]},
     "media tag <audio> in the system prompt"),
    ({"messages": msgs(("user", "<audio>x"), ("assistant", "it says <audio>")), "audios": ["A"]},
     "literal <audio> in the final assistant answer"),
    ({"messages": msgs(("user", "x"), ("user", "y"), ("assistant", "z"))}, "must alternate"),
    ({"messages": msgs(("assistant", "x"))}, "first turn after the system prompt must be 'user'"),
    ({"messages": msgs(("human", "x"), ("assistant", "y"))}, "messages[0].role 'human' is not one of"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}, "content must be a string"),
    ({"messages": []}, "'messages' is empty"),
    ({"messages": "[{'role': 'user', 'content': 'x'}]"}, "ast.literal_eval"),
    ({"text": "x"}, "no 'messages' column"),
    ({"messages": msgs(("user", "<audio>x"), ("assistant", "y")), "audios": "A"}, "wrap it in [...]"),
    ({"messages": msgs(("user", "<audio>x"), ("assistant", "y")), "audios": [""]}, "audios[0] must be a non-empty"),
    ({"messages": msgs(("user", "x"), ("assistant", "y")), "images": None}, "'images' is null"),
    ({"messages": msgs(("user", "x"), ("assistant", "y")), "__#x": 1}, "reserves"),
    ({"messages": msgs(("user", "x"), ("assistant", "y")), "objects": {"bbox": [[1, 2, 3]]}}, "length 2 or 4"),
    ({"messages": msgs(("user", "x"), ("assistant", "y")), "rejected_response": "y"}, "equals the chosen answer"),
    ({"messages": msgs(("user", "x"), ("assistant", "y")), "label": "yes"}, "'label' (KTO)"),
    ("[1, 2]", "expected a JSON object, got array"),
    ('{"messages": ', "malformed JSON"),
])
def test_row_rules(tmp_path, media, row, needle):
    if isinstance(row, dict) and row.get("audios") == ["A"]:
        row["audios"] = [media["audio"]]
    text = one_error(tmp_path, row)
    assert needle in text
    assert text.startswith(f"{tmp_path / 'swift.jsonl'}:1: ")


def test_task_is_enforced(tmp_path, media):
    assert "SFT rows must end with the assistant answer" in one_error(
        tmp_path, {"messages": msgs(("user", "x"))}, task="sft")
    assert "GRPO rows must end with the user turn" in one_error(tmp_path, good(media), task="grpo")
    report = errors_for(tmp_path, [{"messages": msgs(("user", "x"))}], task="grpo")
    assert report.ok and any("no extra column" in w for w in report.warnings)


def test_column_types_must_be_stable(tmp_path, media):
    rows = [{"messages": msgs(("user", "x")), "solution": "4"}, {"messages": msgs(("user", "y")), "solution": 4},
            {"messages": msgs(("user", "z")), "solution": None}, {"messages": msgs(("user", "w")), "solution": 4.5}]
    report = errors_for(tmp_path, rows)
    assert report.invalid == 2
    assert "swift.jsonl:2: column 'solution' is a number here but a string at line 1" in report.errors[0]
    assert ":4: column 'solution'" in report.errors[1]


def test_missing_file_and_base64_trap(tmp_path, media, monkeypatch):
    row = {"messages": msgs(("user", "<audio>x"), ("assistant", "y")), "audios": ["/data/audio/x.wav"]}
    text = one_error(tmp_path, row)
    assert "audio file not found: /data/audio/x.wav" in text and "decode this path as base64" in text
    row["audios"] = ["/data/audio/xy.wav"]
    text = one_error(tmp_path, row)
    assert "not found" in text and "decode this path as base64" not in text
    row["audios"] = ["A" * 3000]
    assert "inline media" in one_error(tmp_path, row)
    assert errors_for(tmp_path, [row], allow_base64=True).ok
    # relative paths resolve against the current directory, then ROOT_IMAGE_DIR
    monkeypatch.chdir(tmp_path)
    row["audios"] = ["a.wav"]
    assert "not found" in one_error(tmp_path, row)
    monkeypatch.setenv("ROOT_IMAGE_DIR", str(__import__("pathlib").Path(media["audio"]).parent))
    assert errors_for(tmp_path, [row]).ok


def test_check_media_decodes_and_audio_in_video(tmp_path, media):
    row = {"messages": msgs(("user", "<audio>x"), ("assistant", "y")), "audios": [media["junk"]]}
    assert errors_for(tmp_path, [row]).ok  # existence only
    assert "does not decode" in one_error(tmp_path, row, check_media=True)
    vid = {"messages": msgs(("user", "<video>x"), ("assistant", "y")), "videos": [media["silent"]]}
    assert errors_for(tmp_path, [vid], check_media=True).ok
    assert "no audio stream" in one_error(tmp_path, vid, check_media=True, audio_in_video=True)
    both = {"messages": msgs(("user", "<video><audio>x"), ("assistant", "y")), "videos": [media["video"]],
            "audios": [media["audio"]]}
    assert errors_for(tmp_path, [both], check_media=True).ok
    assert "do not also list audios" in one_error(tmp_path, both, audio_in_video=True)


def test_conversations_alias_accepted(tmp_path, media):
    row = {"conversations": [{"from": "human", "value": "<audio>x"}, {"from": "gpt", "value": "y"}],
           "audios": [media["audio"]]}
    assert errors_for(tmp_path, [row]).ok


def test_seed_stats_dict(tmp_path, media):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(good(media)) + "\n" + json.dumps({"messages": []}) + "\n")
    stats = validate_msswift_format(path)
    assert (stats["total"], stats["valid"], stats["invalid"], stats["sft_samples"], stats["grpo_samples"]) == \
        (2, 1, 1, 1, 0)
    assert stats["ok"] is False and stats["errors"][0].endswith(":2: 'messages' is empty")


def test_cli_exit_codes(tmp_path, media, capsys):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(good(media)) + "\n")
    assert run(["validate-msswift", str(path)]) == 0
    assert "OK: 1 row(s)" in capsys.readouterr().out
    path.write_text(json.dumps({"messages": msgs(("user", "<audio>x"), ("assistant", "y"))}) + "\n")
    assert run(["validate-msswift", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:1: 1 <audio> tag(s) but 0 audios" in err and "Traceback" not in err
    assert run(["validate-msswift", str(tmp_path / "nope.jsonl")]) == 2


def test_empty_file_fails(tmp_path):
    (tmp_path / "e.jsonl").write_text("\n")
    assert not validate_msswift(tmp_path / "e.jsonl").ok
    with pytest.raises(InputError, match="unknown task"):
        validate_msswift(tmp_path / "e.jsonl", task="dpo")


def test_fast_and_line_paths_agree_across_blocks(tmp_path, media):
    """Over 1 MiB of rows (several read blocks): a bad row deep inside is still reported at its exact line."""
    row = json.dumps(good(media))
    lines = [row] * 12000
    lines[9000] = json.dumps({"messages": msgs(("user", "<audio>x"), ("assistant", "y")), "audios": []})
    lines[11000] = json.dumps(dict(good(media), audios=[media["audio"] + ".missing"]))
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size > 1 << 20
    report = validate_msswift(path, task="sft")
    assert (report.total, report.invalid, report.sft_samples) == (12000, 2, 11998)
    assert report.errors[0].startswith(f"{path}:9001: 1 <audio> tag(s) but 0 audios")
    assert report.errors[1].startswith(f"{path}:11001: audios[0]: audio file not found")
