"""Conversion commands: csv, json, folder, merge, split, validate (the seed's ``convert_utils.py``)."""

from __future__ import annotations

import argparse
import sys

from reap_omni.convert.output import ConvertReport
from reap_omni.errors import ValidationFailed

_MODALITIES = ("audio", "video", "mixed", "image", "text")


def _nonneg_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError("must be zero or more")
    return n


def _pos_int(value: str) -> int:
    n = _nonneg_int(value)
    if n == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def _add_common(p: argparse.ArgumentParser, media_flags: bool = True) -> None:
    if media_flags:
        p.add_argument("--keep-relative", action="store_true",
                       help="write media paths as given instead of absolute (they stay relative to the input)")
    p.add_argument("--skip-invalid", action="store_true",
                   help="skip bad rows and report them in a summary instead of failing on the first one")


def _add_table_flags(p: argparse.ArgumentParser, kind: str) -> None:
    """Flags shared by csv (``-col``) and json (``-key``)."""
    word = "column" if kind == "col" else "key (dotted for nested fields, e.g. meta.caption)"
    for fieldname in ("id", "text", "audio", "video", "image"):
        p.add_argument(f"--{fieldname}-{kind}", dest=fieldname, metavar="NAME",
                       help=f"{word} holding the {fieldname} (default: {fieldname!r} if present)")
    p.add_argument("--modality", choices=_MODALITIES,
                   help="modality of every row (default: inferred from which media fields are filled)")
    p.add_argument("--video-modality", choices=("auto", "video", "mixed"), default="video",
                   help="modality of rows with only a video: video (default), mixed (its audio track is used), "
                   "or auto (probe the file: mixed when it has an audio track)")
    p.add_argument("--name", help="dataset name: recorded as source.dataset and prefixed to ids (without it, ids "
                   "come from the id column as they are, or are <input file name>_<row number>)")
    p.add_argument("--task", help="task of every row (asr, caption, qa, translation, classification, ...)")
    p.add_argument("--lang", help="language code of every row")
    p.add_argument("--split", help="source split recorded in each row (train, test, ...)")
    p.add_argument(f"--meta-{kind}s", dest="meta", metavar="NAMES", default="",
                   help=f"comma-separated {'columns' if kind == 'col' else 'keys'} copied into meta")
    p.add_argument("--allow-missing-media", action="store_true",
                   help="keep rows whose media file does not exist (counted and reported) instead of failing")
    _add_common(p)


def _fields(args: argparse.Namespace):
    from reap_omni.convert.tabular import FieldMap

    return FieldMap(
        id=args.id, text=args.text, audio=args.audio, video=args.video, image=args.image,
        modality=args.modality, video_modality=args.video_modality, name=args.name, task=args.task,
        lang=args.lang, split=args.split, meta=tuple(k.strip() for k in args.meta.split(",") if k.strip()),
    )


def _done(report: ConvertReport) -> int:
    print(report.summary())
    return 0


def _cmd_csv(args: argparse.Namespace) -> int:
    from reap_omni.convert.tabular import convert_csv

    delimiter = "\t" if args.delimiter in ("\\t", "tab") else args.delimiter
    return _done(convert_csv(
        args.input, args.output, _fields(args), delimiter=delimiter, keep_relative=args.keep_relative,
        allow_missing_media=args.allow_missing_media, skip_invalid=args.skip_invalid,
    ))


def _cmd_json(args: argparse.Namespace) -> int:
    from reap_omni.convert.tabular import convert_json

    return _done(convert_json(
        args.input, args.output, _fields(args), layout=args.format, list_key=args.list_key,
        keep_relative=args.keep_relative, allow_missing_media=args.allow_missing_media,
        skip_invalid=args.skip_invalid,
    ))


def _cmd_folder(args: argparse.Namespace) -> int:
    from reap_omni.convert.folder import convert_folder

    return _done(convert_folder(
        args.input, args.output, name=args.name, video_modality=args.video_modality, text_key=args.text_key,
        task=args.task, lang=args.lang, keep_relative=args.keep_relative, skip_invalid=args.skip_invalid,
        jobs=args.jobs,
    ))


def _cmd_merge(args: argparse.Namespace) -> int:
    from reap_omni.convert.merge import merge_manifests

    return _done(merge_manifests(
        args.inputs, args.output, max_samples=args.max_samples, on_duplicate=args.on_duplicate,
        shuffle=args.shuffle, seed=args.seed, keep_relative=args.keep_relative, skip_invalid=args.skip_invalid,
    ))


def _cmd_split(args: argparse.Namespace) -> int:
    from reap_omni.convert.split import split_by_modality

    return _done(split_by_modality(
        args.input, args.output, keep_relative=args.keep_relative, skip_invalid=args.skip_invalid
    ))


def _cmd_validate(args: argparse.Namespace) -> int:
    from reap_omni.manifest.jsonl import encode_json
    from reap_omni.manifest.validate import validate_manifest

    report = validate_manifest(args.inputs, check_media=args.check_media, max_errors=args.max_errors, jobs=args.jobs)
    if args.json:
        sys.stdout.write(encode_json(report.to_dict()).decode() + "\n")
    else:
        for message in report.messages:
            print(message)
        print(report.summary())
    if report.ok:
        return 0
    if args.json:
        return ValidationFailed.exit_code
    raise ValidationFailed(f"{report.errors} error(s) found")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("csv", help="CSV file -> unified JSONL manifest",
                       description="Convert a CSV file (quoted fields, embedded newlines, BOM) to a unified "
                       "JSONL manifest. Relative media paths are resolved against the CSV's folder.")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--delimiter", default=",", help="field delimiter, one character (\\t or 'tab' for a tab)")
    _add_table_flags(p, "col")
    p.set_defaults(func=_cmd_csv)

    p = sub.add_parser("json", help="JSON array / object with a list / JSON Lines -> unified JSONL manifest",
                       description="Convert JSON (an array of objects, an object holding a list, or JSON Lines; "
                       "detected from the file) to a unified JSONL manifest, streaming.")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--format", choices=("auto", "array", "object", "jsonl"), default="auto",
                   help="input layout (default: detected)")
    p.add_argument("--list-key", help="key (dotted) of the row list in an object (default: the only list of objects)")
    _add_table_flags(p, "key")
    p.set_defaults(func=_cmd_json)

    p = sub.add_parser("folder", help="folder of media files -> unified JSONL manifest",
                       description="Convert a folder of audio/video/image files to a manifest. Text comes from "
                       "metadata.csv/metadata.jsonl (file_name column) or same-stem .txt/.lab files; the modality "
                       "from the files themselves (probed with PyAV).")
    p.add_argument("input", help="the folder")
    p.add_argument("output")
    p.add_argument("--name", help="dataset name, used as id prefix (default: the folder name)")
    p.add_argument("--video-modality", choices=("auto", "video", "mixed"), default="auto",
                   help="auto (default): videos with an audio track are mixed, others video; video: always video; "
                   "mixed: always mixed (a video without audio is an error)")
    p.add_argument("--text-key", help="metadata column holding the text (default: text, transcription, sentence, "
                   "caption or transcript)")
    p.add_argument("--task", help="task of every row")
    p.add_argument("--lang", help="language code of every row")
    p.add_argument("--jobs", type=_pos_int, default=4, help="files probed in parallel (default 4)")
    _add_common(p)
    p.set_defaults(func=_cmd_folder)

    p = sub.add_parser("merge", help="merge manifests into one",
                       description="Merge unified manifests, streaming; ids must stay unique.")
    p.add_argument("inputs", nargs="+")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--max-samples", type=_nonneg_int, help="keep at most N rows (a random N with --shuffle)")
    p.add_argument("--on-duplicate", choices=("error", "skip", "rename"), default="error",
                   help="what to do with a repeated id: error (default, names both places), skip, or rename "
                   "(id_2, id_3, ...)")
    p.add_argument("--shuffle", action="store_true", help="shuffle the rows (memory: ~10 bytes per row)")
    p.add_argument("--seed", type=int, default=0, help="shuffle seed (default 0)")
    _add_common(p)
    p.set_defaults(func=_cmd_merge)

    p = sub.add_parser("split", help="split a manifest by modality",
                       description="Split a manifest into <output>/{audio,video,mixed,image,text}.jsonl "
                       "(only the non-empty ones).")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True, help="output folder")
    _add_common(p)
    p.set_defaults(func=_cmd_split)

    p = sub.add_parser("validate", help="validate unified manifests",
                       description="Check schema, modality/media rules, unique ids and that media files exist; "
                       "print file:line: message per error and a summary; exit 1 if anything is wrong.")
    p.add_argument("inputs", nargs="+")
    p.add_argument("--check-media", action="store_true",
                   help="also open each media file (PyAV) and check it has the streams its modality needs")
    p.add_argument("--max-errors", type=_nonneg_int, default=100,
                   help="print at most N errors (all are counted; default 100)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--jobs", type=_pos_int, default=4, help="files probed in parallel with --check-media (default 4)")
    p.set_defaults(func=_cmd_validate)
