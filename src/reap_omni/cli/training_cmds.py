"""Training-format commands: msswift, qa-msswift, validate-msswift, llamafactory, validate-llamafactory."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from reap_omni.convert.llamafactory import convert_qa_to_llamafactory, convert_unified_to_llamafactory
from reap_omni.convert.msswift import TASKS, convert_qa_to_msswift, convert_unified_to_msswift
from reap_omni.convert.validate_llamafactory import validate_llamafactory
from reap_omni.convert.validate_msswift import validate_msswift
from reap_omni.errors import ValidationFailed


def _err(msg: str) -> None:
    print(msg, file=sys.stderr)


def _done(result: dict[str, Any], output: str, what: str) -> int:
    if result["summary"]:
        _err(result["summary"])
    if result.get("audio_tracks"):
        print(result["audio_tracks"])
    extra = f"; registered {result['dataset_name']!r} in {result['dataset_info']}" if "dataset_info" in result else ""
    print(f"wrote {result['rows']} {what} row(s) to {output}{extra}")
    return 0


def _io(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("input", help=what)
    p.add_argument("output", help="output JSONL (written atomically)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--system", default=None, help="system prompt added as the first message of every row")
    p.add_argument("--skip-invalid", action="store_true",
                   help="skip bad rows (each is reported) instead of stopping at the first one")


def _unified_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user-template", default=None,
                   help="user turn template: {modality_tag}, {instruction} (the task's default), {question} "
                        "(meta.question), any manifest field; {text} is the answer and renders empty")


def _qa_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--question-key", default="question", help="key of the question (default: question)")
    p.add_argument("--answer-key", default="answer", help="key of the answer (default: answer)")
    p.add_argument("--image-key", default="image", help="key of image path(s) (default: image)")
    p.add_argument("--audio-key", default="audio", help="key of audio path(s) (default: audio)")
    p.add_argument("--video-key", default="video", help="key of video path(s) (default: video)")
    p.add_argument("--media-root", default=None,
                   help="folder relative media paths are resolved against (default: the QA file's folder)")


def _qa_kwargs(a: argparse.Namespace) -> dict[str, Any]:
    return {"question_key": a.question_key, "answer_key": a.answer_key, "image_key": a.image_key,
            "audio_key": a.audio_key, "video_key": a.video_key, "media_root": a.media_root}


def _report(report, failed_what: str) -> int:
    print(report.summary())
    if not report.ok:
        raise ValidationFailed(f"{failed_what}: {report.error_count} error(s) in {report.invalid} row(s)")
    return 0


def cmd_msswift(a: argparse.Namespace) -> int:
    res = convert_unified_to_msswift(a.input, a.output, task_type=a.task, system_prompt=a.system,
                                     user_template=a.user_template, audio_in_video=a.audio_in_video,
                                     skip_invalid=a.skip_invalid)
    return _done(res, a.output, f"MS-SWIFT {a.task.upper()}")


def cmd_qa_msswift(a: argparse.Namespace) -> int:
    res = convert_qa_to_msswift(a.input, a.output, task_type=a.task, system_prompt=a.system,
                                skip_invalid=a.skip_invalid, **_qa_kwargs(a))
    return _done(res, a.output, f"MS-SWIFT {a.task.upper()}")


def cmd_validate_msswift(a: argparse.Namespace) -> int:
    report = validate_msswift(a.file, task=a.task, check_media=a.check_media, audio_in_video=a.audio_in_video,
                              allow_base64=a.allow_base64, on_error=_err, on_warning=_err)
    return _report(report, "validate-msswift")


def cmd_llamafactory(a: argparse.Namespace) -> int:
    common = {"system_prompt": a.system, "dataset_info": a.dataset_info, "dataset_name": a.dataset_name,
              "skip_invalid": a.skip_invalid}
    if a.source == "qa":
        res = convert_qa_to_llamafactory(a.input, a.output, **_qa_kwargs(a), **common)
    else:
        res = convert_unified_to_llamafactory(a.input, a.output, user_template=a.user_template, **common)
    return _done(res, a.output, "LLaMA-Factory sharegpt")


def cmd_validate_llamafactory(a: argparse.Namespace) -> int:
    report = validate_llamafactory(a.file, dataset_info=a.dataset_info, dataset_name=a.dataset_name,
                                   media_dir=a.media_dir, check_media=a.check_media, audio_in_video=a.audio_in_video,
                                   on_error=_err, on_warning=_err)
    return _report(report, "validate-llamafactory")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("msswift", help="unified manifest -> MS-SWIFT messages JSONL (SFT or GRPO)")
    _io(p, "unified JSONL manifest")
    p.add_argument("--task", choices=TASKS, default="sft",
                   help="sft: ends with the answer; grpo: ends with the prompt, answer in 'solution'")
    _common(p)
    _unified_opts(p)
    p.add_argument("--audio-in-video", action="store_true",
                   help="mixed rows list only the video (train with USE_AUDIO_IN_VIDEO=1); default: video + "
                        "extracted audio as separate inputs")
    p.set_defaults(func=cmd_msswift)

    p = sub.add_parser("qa-msswift", help="question/answer JSONL -> MS-SWIFT messages JSONL")
    _io(p, "QA JSONL file")
    p.add_argument("--task", choices=TASKS, default="sft", help="sft (default) or grpo (answer in 'solution')")
    _common(p)
    _qa_opts(p)
    p.set_defaults(func=cmd_qa_msswift)

    p = sub.add_parser("validate-msswift", help="check an MS-SWIFT JSONL file with SWIFT's own rules")
    p.add_argument("file", help="MS-SWIFT JSONL file")
    p.add_argument("--task", choices=("auto", "sft", "grpo"), default="auto",
                   help="require every row to be SFT (ends with assistant) or GRPO (ends with user); "
                        "auto: decide per row")
    p.add_argument("--audio-in-video", action="store_true",
                   help="the file is for USE_AUDIO_IN_VIDEO=1: videos carry their own track, no audios beside them")
    p.add_argument("--check-media", action="store_true", help="also decode every media file once (PyAV)")
    p.add_argument("--allow-base64", action="store_true", help="accept inline base64 / data: URIs as media")
    p.set_defaults(func=cmd_validate_msswift)

    p = sub.add_parser("llamafactory", help="unified or QA JSONL -> LLaMA-Factory sharegpt JSONL + dataset_info.json")
    _io(p, "unified JSONL manifest (or a QA file with --from qa)")
    p.add_argument("--from", dest="source", choices=("unified", "qa"), default="unified",
                   help="input kind (default: unified)")
    _common(p)
    _unified_opts(p)
    _qa_opts(p)
    p.add_argument("--dataset-info", default=None,
                   help="dataset_info.json to add the entry to (default: beside the output)")
    p.add_argument("--dataset-name", default=None, help="entry name (default: the output file's stem)")
    p.set_defaults(func=cmd_llamafactory)

    p = sub.add_parser("validate-llamafactory", help="check a LLaMA-Factory sharegpt file and its dataset_info entry")
    p.add_argument("file", help="LLaMA-Factory JSONL file")
    p.add_argument("--dataset-info", default=None, help="dataset_info.json (default: beside the file)")
    p.add_argument("--dataset-name", default=None, help="entry to check (default: the one naming this file)")
    p.add_argument("--media-dir", default=None, help="LLaMA-Factory media_dir (default: the dataset folder)")
    p.add_argument("--audio-in-video", action="store_true",
                   help="the file is for use_audio_in_video: each <video> paired with its <audio>")
    p.add_argument("--check-media", action="store_true", help="also decode every media file once (PyAV)")
    p.set_defaults(func=cmd_validate_llamafactory)
