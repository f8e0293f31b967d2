"""``download`` and ``quickstart``: build calibration sets (thin commands over ``reap_omni.calibration_set``).

``download`` takes named datasets (or a modality) and ``--samples`` rows from each; ``quickstart`` takes the
catalog's recommended mix, ``--samples`` rows per stratum balanced over its datasets, and ends with the
pruning command to run next. ``quickstart --demo`` runs the same pipeline offline against a generated
loopback Hub.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from reap_omni.calibration_set.options import (
    AUDIO_FORMATS,
    STRATA,
    BuildOptions,
    MediaOptions,
    absolute_output,
    media_options_from_lock,
)
from reap_omni.calibration_set.plan import PlanItem, per_dataset_plan, quickstart_plan, rebalance
from reap_omni.catalog.spec import DatasetSpec
from reap_omni.errors import ReapOmniError
from reap_omni.manifest.stats import BuildStats

MODALITIES = ("audio", "video", "mixed", "text", "all")


# -- arguments ---------------------------------------------------------------------------------------------
def _add_build_arguments(p: argparse.ArgumentParser, *, output: str, samples_help: str, samples_default) -> None:
    p.add_argument("--output", "-o", default=output, help=f"output folder (default {output})")
    p.add_argument("--samples", "-n", type=int, default=samples_default, help=samples_help)
    p.add_argument("--seed", type=int, default=0, help="sampling seed: the same seed gives the same rows (default 0)")
    p.add_argument("--workers", type=int, default=4, help="parallel downloads (units and datasets; default 4)")
    p.add_argument("--overwrite", action="store_true",
                   help="start over: drop the rows and media these datasets already have in --output")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars, resume notes or retry messages")
    p.add_argument("--wait-lock", action="store_true",
                   help="when another run is writing the same --output, wait for it (default: refuse at once)")
    p.add_argument("--token", help="Hugging Face token for gated datasets (default: HF_TOKEN or `hf auth login`)")
    g = p.add_argument_group("sampling")
    g.add_argument("--min-duration", type=float, help="skip rows shorter than this many seconds")
    g.add_argument("--max-duration", type=float, help="skip rows longer than this many seconds (video: the source)")
    g.add_argument("--language", help="keep rows in this language where a dataset has several (e.g. en, zh)")
    g.add_argument("--spread", type=int,
                   help="spread each dataset's rows over this many shards/row groups: more gives more speakers and "
                        "recordings, fewer downloads fewer bytes (default: one unit per shard, up to "
                        "2*sqrt(samples) shards, plus as many units as the rows need)")
    g.add_argument("--oversample", type=float, default=2.0,
                   help="candidates tried per wanted row in a unit before moving on (default 2)")
    m = p.add_argument_group("media")
    m.add_argument("--audio-format", choices=AUDIO_FORMATS, default="wav",
                   help="audio files: 16-bit WAV (default), FLAC, or the original bytes unchanged")
    m.add_argument("--sample-rate", type=int, default=16000, help="audio sample rate in Hz (default 16000, mono)")
    m.add_argument("--max-video-seconds", type=float, default=30.0,
                   help="cut longer videos to a window of this many seconds around the annotated segment (default 30)")
    m.add_argument("--max-side", type=int, help="downscale videos so the longer side is at most this many pixels")
    m.add_argument("--fps", type=float, help="re-time videos to this frame rate (default: keep the source's)")
    strip = m.add_mutually_exclusive_group()
    strip.add_argument("--strip-audio", dest="strip_audio", action="store_true", default=True,
                       help="video (S2) rows: drop the audio track (default; S3 mixed rows always keep it)")
    strip.add_argument("--keep-audio", dest="strip_audio", action="store_false",
                       help="video (S2) rows: keep the audio track")
    s = p.add_argument_group("sources")
    s.add_argument("--local-path", help="your licensed local copy, for datasets served by a 'local' source")
    s.add_argument("--opt-in", action="store_true",
                   help="also try opt-in sources (YouTube clips, third-party mirrors with licence caveats)")
    s.add_argument("--source-option", action="append", default=[], metavar="DATASET[:I]:KEY=VALUE",
                   help="override a catalog source fact, e.g. librispeech:0:split=test (repeatable)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "download", help="download a calibration sample of named datasets (or a modality)",
        description="Sample --samples rows from each dataset into <output>/calibration/{audio,video,mixed,text}.jsonl "
        "with media under <output>/<dataset>/. Reruns resume; the exit code is 1 when a dataset fell short.",
    )  # fmt: skip
    p.add_argument("--dataset", "-d", nargs="+", metavar="NAME",
                   help="catalog names or aliases, or 'all' (see `reap-omni list`)")
    p.add_argument("--modality", "-m", choices=MODALITIES, default="all",
                   help="every dataset of this modality (text: the S0 chat/math/code sets; with --dataset: check "
                        "the names are of it)")
    p.add_argument("--extended", action="store_true", help="with --modality or 'all': include the extended set")
    p.add_argument("--list", action="store_true", help="list the datasets instead of downloading (as `list`)")
    p.add_argument("--from-lock", metavar="FILE", help="rebuild exactly the rows of a manifest.lock.json")
    _add_build_arguments(p, output="./data", samples_default=100, samples_help="rows per dataset (default 100)")
    p.set_defaults(func=cmd_download)

    q = sub.add_parser(
        "quickstart", help="build the recommended calibration mix (S1 audio, S2 video, S3 mixed)",
        description="Download the recommended datasets, --samples rows per stratum balanced over its datasets, "
        "and print the pruning command to run next. --demo does it offline against a generated local Hub.",
    )  # fmt: skip
    q.add_argument("--demo", action="store_true",
                   help="offline demo: serve generated fixture repos on 127.0.0.1 and build from them")
    q.add_argument("--text", type=int, default=0, metavar="N",
                   help="also N rows of text (S0: chat, math, code; answers in `text`, instructions in meta.question) "
                        "for `prune/eval --text-data`; off by default")
    q.add_argument("--allow-eval-splits", action="store_true",
                   help="also use sources that offer only a benchmark's evaluation split (left out by default; their "
                        "rows are flagged and the summary names the benchmark)")
    _add_build_arguments(q, output="./calibration_data", samples_default=None,
                         samples_help="rows per stratum (default 100; 12 with --demo)")
    q.set_defaults(func=cmd_quickstart)


def options_from_args(args: argparse.Namespace, samples: int) -> BuildOptions:
    media = MediaOptions(
        audio_format=args.audio_format, sample_rate=args.sample_rate, max_video_seconds=args.max_video_seconds,
        max_side=args.max_side, fps=args.fps, strip_audio=args.strip_audio,
    )  # fmt: skip
    local = Path(args.local_path).expanduser().resolve() if args.local_path else None
    if local is not None and not local.exists():
        raise ReapOmniError(f"--local-path {args.local_path} does not exist")
    return BuildOptions(
        output=absolute_output(args.output), samples=samples, seed=args.seed, min_duration=args.min_duration,
        max_duration=args.max_duration, language=args.language, spread=args.spread, oversample=args.oversample,
        workers=args.workers, overwrite=args.overwrite, quiet=args.quiet, wait_lock=args.wait_lock,
        token=args.token or None, local_path=local, opt_in=args.opt_in, media=media,
    )  # fmt: skip


# -- download ----------------------------------------------------------------------------------------------
def select_datasets(names: Sequence[str] | None, modality: str, extended: bool) -> list[DatasetSpec]:
    """Datasets named (``all`` = every one of ``modality``), or every dataset of ``modality``."""
    from reap_omni.catalog.registry import select

    names = list(names or [])
    if any(n.lower() == "all" for n in names):
        if len(names) > 1:
            raise ReapOmniError("--dataset all cannot be combined with dataset names")
        names = []
    return select(names or None, modality, include_extended=extended)


def cmd_download(args: argparse.Namespace) -> int:
    if args.list:
        from reap_omni.cli.catalog_cmds import print_list

        print_list(select_datasets(args.dataset, args.modality, args.extended))
        return 0
    if args.samples is not None and args.samples < 1:
        raise ReapOmniError(f"--samples must be at least 1 (got {args.samples})")
    if args.from_lock:
        if args.dataset or args.modality != "all":
            raise ReapOmniError("--from-lock rebuilds the locked datasets; drop --dataset/--modality")
        return _download_from_lock(args)
    datasets = _with_source_options(select_datasets(args.dataset, args.modality, args.extended), args.source_option)
    options = options_from_args(args, args.samples)
    return _run(options, per_dataset_plan(datasets, options.samples))


def _with_source_options(datasets: list[DatasetSpec], overrides: Sequence[str]) -> list[DatasetSpec]:
    if not overrides:
        return datasets
    from reap_omni.catalog.registry import apply_source_options

    return apply_source_options(datasets, overrides)


def _download_from_lock(args: argparse.Namespace) -> int:
    from reap_omni.calibration_set.locked import media_differences, selection_from_lock
    from reap_omni.calibration_set.runner import BuildRunner, source_id
    from reap_omni.catalog.registry import get_dataset
    from reap_omni.manifest.jsonl import iter_json_objects
    from reap_omni.manifest.lock import read_lock

    lock = read_lock(args.from_lock)
    if lock.demo:
        raise ReapOmniError(f"{args.from_lock} comes from `quickstart --demo`: its repos and revisions exist only on "
                            "the demo's local server. Rerun `reap-omni quickstart --demo` instead")  # fmt: skip
    plan, selection, errors = selection_from_lock(lock, get_dataset, source_id)
    for name, message in errors.items():
        print(f"reap-omni: {name}: cannot rebuild from the lock: {message}", file=sys.stderr)
    if not plan:
        raise ReapOmniError(f"{args.from_lock}: no dataset of the lock can be rebuilt")
    lo = lock.options
    base = options_from_args(args, max(p.target for p in plan))
    options = BuildOptions(
        output=base.output, samples=base.samples, seed=int(lo.get("seed", 0)), min_duration=lo.get("min_duration"),
        max_duration=lo.get("max_duration"), language=lo.get("language"), workers=base.workers,
        overwrite=base.overwrite, quiet=base.quiet, wait_lock=base.wait_lock, token=base.token,
        local_path=base.local_path, opt_in=True, media=media_options_from_lock(lo.get("media") or {}),
    )  # fmt: skip
    with BuildRunner(options, selection=selection) as runner:
        stats = runner.run(plan)
        runner.finish()
    rows = []
    for stratum in STRATA:
        path = options.manifest_path(stratum)
        if path.exists():
            rows.extend(obj for _, obj in iter_json_objects(path))
    differ = media_differences(lock, rows)
    if differ:
        print(f"reap-omni: note: {len(differ)} rebuilt media file(s) differ byte-wise from the lock "
              f"(same rows; another FFmpeg/encoder build), e.g. {differ[0]}", file=sys.stderr)  # fmt: skip
    _print_report_hint(options)
    return 1 if stats.failed or errors else 0


def _run(options: BuildOptions, plan: list[PlanItem]) -> int:
    from reap_omni.calibration_set.runner import BuildRunner

    with BuildRunner(options) as runner:
        stats = runner.run(plan)
        runner.finish()
    _print_outputs(options, stats)
    _print_report_hint(options)
    return 1 if stats.failed else 0


def _print_outputs(options: BuildOptions, stats: BuildStats) -> None:
    if options.quiet:
        return
    written = [(s, options.manifest_path(s)) for s in STRATA if options.manifest_path(s).exists()]
    for stratum, path in written:
        print(f"{stratum:>5}: {path}")
    if written:
        print(f" lock: {options.calibration_dir / 'manifest.lock.json'}")


def report_hint(options: BuildOptions) -> str | None:
    """The ``report`` command for ``--output``, as the last hint of a run that wrote rows (None otherwise)."""
    if options.quiet:
        return None
    paths = (options.manifest_path(s) for s in STRATA)
    if not any(p.is_file() and p.stat().st_size for p in paths):
        return None
    return ("\nSee what the calibration set holds (rows, hours, speakers, languages, licences, plots):\n"
            f"  reap-omni report {shlex.quote(str(options.output))}")


def _print_report_hint(options: BuildOptions) -> None:
    hint = report_hint(options)
    if hint:
        print(hint)


# -- quickstart --------------------------------------------------------------------------------------------
def cmd_quickstart(args: argparse.Namespace) -> int:
    samples = args.samples if args.samples is not None else (12 if args.demo else 100)
    if samples < 1:
        raise ReapOmniError(f"--samples must be at least 1 (got {samples})")
    if args.text < 0:
        raise ReapOmniError(f"--text must not be negative (got {args.text})")
    from reap_omni.catalog.registry import select

    mix = select(None, "all", recommended_only=True)
    if not mix:
        raise ReapOmniError("the catalog has no recommended datasets")
    text_sets = select(None, "text") if args.text else []  # S0 only when asked for: the default mix is unchanged
    datasets = _with_source_options(mix + text_sets, args.source_option)
    options = dataclasses.replace(options_from_args(args, samples), allow_eval_splits=args.allow_eval_splits)
    if args.demo:
        options = dataclasses.replace(options, demo=True)
        from reap_omni.calibration_set.demo import demo_hub

        with demo_hub(datasets, samples, args.text) as demo_datasets:
            if not options.quiet:
                print(f"reap-omni: demo mode: generated fixture repos on {os.environ['HF_ENDPOINT']} "
                      "(nothing is downloaded from the internet)", file=sys.stderr)  # fmt: skip
            return _quickstart(options, demo_datasets, samples, args.text)
    return _quickstart(options, datasets, samples, args.text)


def _quickstart(options: BuildOptions, datasets: list[DatasetSpec], samples: int, text_samples: int = 0) -> int:
    from reap_omni.calibration_set.runner import BuildRunner

    plan = quickstart_plan(datasets, samples, text_samples)
    with BuildRunner(options) as runner:
        stats = runner.run(plan)
        # a dataset that failed leaves its share to the others of its stratum, so each stratum still gets N rows
        for _ in range(3):
            delivered = {name: d.rows for name, d in stats.datasets.items()}
            changed = rebalance(plan, delivered)
            grown = [c for c in changed if c.target > delivered.get(c.name, 0)]
            if not grown:
                break
            stats = runner.run(grown)
            targets = {c.name: c for c in changed}
            plan = [targets.get(p.name, p) for p in plan]
        runner.finish()
    _print_outputs(options, runner.stats)
    short = _short_strata(plan, runner.stats, {"text": text_samples}, samples)
    if short:
        print(missing_strata_advice(short, options, text_samples), file=sys.stderr)
        _print_report_hint(options)
        return 1
    print(next_command(options, runner.stats, samples))
    _print_report_hint(options)
    return 0


def _short_strata(plan: list[PlanItem], stats: BuildStats, wanted: dict[str, int],
                  samples: int) -> dict[str, tuple[int, int]]:
    """Strata with fewer rows than wanted (``wanted[stratum]``, else ``samples``) -> (rows they have, wanted)."""
    have: dict[str, int] = {}
    for item in plan:
        have[item.stratum] = have.get(item.stratum, 0) + stats.datasets[item.name].rows
    want = {s: wanted.get(s, samples) for s in have}
    return {s: (n, want[s]) for s, n in have.items() if n < want[s]}


def missing_strata_advice(short: dict[str, tuple[int, int]], options: BuildOptions, text_samples: int = 0) -> str:
    """One line: which strata fell short and how to finish; pruning needs all three (S1/S2/S3 contrasts), and
    the text rows asked for with ``--text``."""
    rerun = " ".join(["reap-omni", "quickstart", "--output", shlex.quote(str(options.output)),
                      "--samples", str(options.samples)] + (["--text", str(text_samples)] if text_samples else []))
    have = ", ".join(f"{s} {n}/{want}" for s, (n, want) in short.items())
    return (f"reap-omni: not ready to prune: {have} rows; fix the failures above (network, access: HF_TOKEN, "
            f"moved files: --source-option), then rerun to resume: {rerun}")


def next_command(options: BuildOptions, stats: BuildStats, samples: int) -> str:
    """The pruning command to run next, with the manifests that have rows."""
    flags = []
    for stratum in STRATA:
        if any(d.stratum == stratum and d.rows for d in stats.datasets.values()):
            flags += [f"--{stratum}-data", shlex.quote(str(options.manifest_path(stratum)))]
    args = ["--model-path", "/path/to/Qwen3-Omni-30B-A3B", "--output-path", "/path/to/pruned", *flags,
            "--retention-rate", "0.5", "--calibration-samples", str(samples)]  # fmt: skip
    return (
        "\nNext: prune experts with this calibration set:\n"
        f"  python reap_expert_pruning.py {' '.join(args)}\n"
        f"  (or: reap-omni prune {' '.join(args)})"
    )
