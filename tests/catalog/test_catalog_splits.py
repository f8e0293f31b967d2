"""Splits and evidence: sources read training splits, test-only sources say so (``eval_split``), the build flags
their rows and names the benchmarks, and the facts found contradicted by public evidence stay fixed."""

from __future__ import annotations

import importlib.util
import io
import json
import re
import sys
from pathlib import Path

import pytest

from reap_omni.calibration_set.options import BuildOptions
from reap_omni.calibration_set.plan import per_dataset_plan
from reap_omni.calibration_set.runner import BuildRunner, eval_split_line
from reap_omni.catalog.docs import render_catalog
from reap_omni.catalog.registry import (
    all_datasets,
    apply_source_options,
    as_dict,
    default_sources,
    get_dataset,
    is_eval_split_name,
    primary_source,
    route,
    select,
    source_split,
)
from reap_omni.catalog.spec import SourceSpec
from reap_omni.cli import run
from reap_omni.manifest.record import iter_records


def _build_helpers():
    """``tests/calibration_set/build_helpers.py`` (the in-memory sources), imported by path."""
    if "build_helpers" not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "calibration_set" / "build_helpers.py"
        spec = importlib.util.spec_from_file_location("build_helpers", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["build_helpers"] = module
        spec.loader.exec_module(module)
    return sys.modules["build_helpers"]


ALL = all_datasets()
SOURCES = [(d, i, s) for d in ALL for i, s in enumerate(d.sources)]
#: a file, metadata or member path that names an evaluation split (``asr_test.tsv``, ``vox2_test_mp4.zip``)
EVAL_PATH = re.compile(r"(^|[/_.\-])(test|eval)([/_.\-*]|$)", re.IGNORECASE)


def _paths(src: SourceSpec) -> list[str]:
    return [*src.files, src.metadata or "", src.url or "", str(src.options.get("metadata_member") or "")]


@pytest.mark.parametrize(("ds", "i", "src"), SOURCES, ids=[f"{d.name}#{i}" for d, i, _ in SOURCES])
def test_every_source_reads_a_training_split_unless_flagged_eval_only(ds, i, src):
    split = source_split(src)
    if is_eval_split_name(split) or any(EVAL_PATH.search(p) for p in _paths(src) if p):
        assert src.eval_split, f"{ds.name} source #{i} reads {split or _paths(src)}: an evaluation split"
    if src.eval_split:
        assert split, f"{ds.name} source #{i} is eval-only but names no split for the summary"
        assert src.kind != "local", "a local copy holds whatever the user has: no split is imposed"


def test_split_names_that_are_evaluation_data():
    for name in ("test", "test.clean", "test_net", "TEST_MEETING", "eval", "evaluation"):
        assert is_eval_split_name(name), name
    for name in ("train", "train.100", "validation", "dev", "DEV", "9_hours", "balanced_train", None, ""):
        assert not is_eval_split_name(name), name


def test_seed_sources_moved_to_training_splits():
    """The seed used train.100 for LibriSpeech and train elsewhere; dev where train is huge or the only copy."""
    want = {
        "librispeech": "train.100", "voxpopuli": "dev", "aishell1": "train", "covost2": "train",
        "gigaspeech": "train", "wenetspeech": "DEV", "common_voice": "train",
    }
    for name, split in want.items():
        src = primary_source(get_dataset(name))
        assert source_split(src) == split and not src.eval_split, name
    # a confirmed training route goes first; the test-only mteb copy follows it
    for name in ("kinetics400", "kinetics700"):
        first, second = default_sources(get_dataset(name))[:2]
        assert first.verified and not first.eval_split and source_split(first) == "train", name
        assert second.eval_split and second.repo.startswith("mteb/"), name
    # where the training copy is not confirmed yet, the mteb test copy stays first (flagged) and the copy follows
    for name in ("msrvtt", "vggsound", "meld"):
        first, second = default_sources(get_dataset(name))[:2]
        assert first.eval_split and not second.eval_split and source_split(second) == "train", name


def test_every_mteb_video_repo_is_flagged_eval_only():
    for d, _, s in SOURCES:
        if s.repo and s.repo.startswith("mteb/") and d.modality != "audio":
            assert s.eval_split and s.split == "test", d.name


def test_quickstart_primary_sources_are_confirmed_open_and_their_split_is_shown():
    rec = select(recommended_only=True)
    assert {s.stratum for s in rec} == {"S1", "S2", "S3"}
    for spec in rec:
        src = primary_source(spec)
        assert src is not None and src.verified and not src.gated, spec.name
        assert f"split {source_split(src)}" in route(spec)
        assert ("(eval split)" in route(spec)) == src.eval_split


# -- the contradicted facts of issue 9, with the evidence in each note --------------------------------------
def _src(name: str, i: int) -> SourceSpec:
    return get_dataset(name).sources[i]


def test_aishell1_reads_the_train_speakers_the_repo_holds():
    tars = _src("aishell1", 0)
    assert "split_pattern" not in tars.options and tars.split == "train" and tars.verified
    assert "8515aae" in tars.note
    mirror = _src("aishell1", 1)
    assert mirror.columns["audio"] == "context" and mirror.columns["text"] == "answer" and mirror.eval_split


def test_librispeech_reads_the_parquet_branch_not_main():
    first = _src("librispeech", 0)
    assert first.revision == "refs/convert/parquet" and first.config == "clean" and first.split == "train.100"
    assert not first.files  # listed at run time: clean/train.100/ or clean/partial-train.100/
    assert "unitxt" in first.note
    assert not any("549a9ef" in s.note for s in get_dataset("librispeech").sources)
    tar = next(s for s in get_dataset("librispeech").sources if s.kind == "http_tar")
    assert tar.url.endswith("/train-clean-100.tar.gz")


@pytest.mark.parametrize(("name", "i", "facts", "evidence", "verified"), [
    ("gigaspeech", 2, {"config": "dev", "split": "dev"}, "fixie-ai/gigaspeech/tree/main/dev", True),
    # the annotations are fixed; the member naming inside vatex.zip is still unseen
    ("vatex", 1, {"metadata": "vatex_test/test-*.parquet"}, "lmms-lab/VATEX/blob/main/README.md", False),
    ("esc50", 1, {"split": "train"}, "mteb/esc50/commit/31ea5347", True),
    ("audioset_audio", 0, {"config": "balanced", "split": "train", "files": ("data/bal_train/*.parquet",)},
     "agkphysics/AudioSet/commit/cb06767e", True),
    ("fleurs", 0, {"revision": "refs/convert/parquet", "split": "train"}, "google/fleurs/commit/03505e7d", True),
])
def test_contradicted_facts_are_fixed_with_their_evidence(name, i, facts, evidence, verified):
    src = _src(name, i)
    for key, value in facts.items():
        assert getattr(src, key) == value, (name, key)
    assert evidence in src.note and src.verified is verified


def test_remaining_contradictions():
    assert _src("esc50", 1).columns["label"] == "category"
    assert _src("vatex", 1).options["metadata_repo"] == "lmms-lab/VATEX"
    assert "en_us/fleurs-train*.parquet" in _src("fleurs", 0).files  # the older converter layout
    assert not any("JSFUSION" in (s.metadata or "") for s in get_dataset("msrvtt").sources)
    audioset = _src("audioset", 0)
    assert audioset.url.endswith("/balanced_train_segments.csv") and "comment" in audioset.note
    assert _src("avqa", 0).revision is None and "not found" in _src("avqa", 0).note  # never an unfound sha


def test_eval_split_is_overridable_like_any_fact():
    (msrvtt,) = apply_source_options(select(["msrvtt"]), ["msrvtt:0:eval_split=false", "msrvtt:1:split=val"])
    assert msrvtt.sources[0].eval_split is False and msrvtt.sources[1].split == "val"
    assert get_dataset("msrvtt").sources[0].eval_split is True


# -- docs, list --------------------------------------------------------------------------------------------
def test_docs_and_list_show_the_split_used(capsys):
    text = render_catalog()
    assert "split `train.100`" in text and "[eval split]" in text
    assert "Hub parquet → Hub tar stream · split test (eval split)" in text  # the MSR-VTT row
    view = as_dict(get_dataset("librispeech"))
    assert view["split"] == "train.100" and view["eval_split"] is False
    assert as_dict(get_dataset("msrvtt"))["eval_split"] is True
    assert run(["list"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"librispeech \*.*split train\.100", out)
    assert re.search(r"msrvtt \*.*split test \(eval split\)", out)
    assert run(["list", "--json", "--recommended"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"]: r["eval_split"] for r in rows}["msrvtt"] is True


# -- the runner: rows of eval-only sources are flagged and the summary names the benchmarks -----------------
def _run(tmp_path, datasets, sources, samples=4):
    opts = BuildOptions(output=tmp_path / "out", samples=samples, quiet=True)
    out, err = io.StringIO(), io.StringIO()
    runner = BuildRunner(opts, lambda spec, name: sources[spec.repo], out=out, err=err,
                         licence_of=lambda n: "CC-BY-4.0")
    runner.run(per_dataset_plan(datasets, samples))
    runner.finish()
    rows = {}
    for stratum in ("audio", "video", "mixed"):
        path = opts.manifest_path(stratum)
        if path.exists():
            for _, rec in iter_records(path):
                rows.setdefault(rec.source["dataset"], []).append(rec)
    return rows, out.getvalue(), err.getvalue()


def test_eval_only_rows_carry_the_flag_and_the_summary_names_the_benchmark(tmp_path):
    h = _build_helpers()
    train = SourceSpec(kind="hf_parquet", repo="org/toy", split="train", columns={"audio": "audio", "text": "text"})
    bench = SourceSpec(kind="hf_parquet", repo="org/bench", split="test", eval_split=True,
                       columns={"video": "video", "text": "caption"})
    datasets = [h.dataset("toy", sources=(train,)),
                h.dataset("bench", "video", sources=(bench,))]
    sources = {"org/toy": h.MemorySource(train), "org/bench": h.MemorySource(bench, kind="video")}
    rows, out, err = _run(tmp_path, datasets, sources)
    assert len(rows["toy"]) == 4 and len(rows["bench"]) == 4, err
    assert all(r.source.get("eval_split") is True for r in rows["bench"])
    assert all(r.source.get("eval_split") is False for r in rows["toy"])  # stated either way
    lines = [ln for ln in out.splitlines() if "evaluation split" in ln]
    assert lines == [eval_split_line({"bench": ("Bench", "test")})]
    assert "do not report Bench test results for a model pruned on this set" in lines[0] and "Toy" not in lines[0]


def test_no_summary_line_when_every_row_comes_from_a_training_split(tmp_path):
    h = _build_helpers()
    train = SourceSpec(kind="hf_parquet", repo="org/toy", split="train", columns={"audio": "audio", "text": "text"})
    rows, out, _ = _run(tmp_path, [h.dataset("toy", sources=(train,))], {"org/toy": h.MemorySource(train)})
    assert len(rows["toy"]) == 4 and "evaluation split" not in out
    assert eval_split_line({}) == ""


def test_the_summary_names_several_benchmarks_on_one_line():
    line = eval_split_line({"msrvtt": ("MSR-VTT", "test"), "kinetics400": ("Kinetics-400", "test")})
    assert line.count("\n") == 0
    assert "do not report Kinetics-400 test / MSR-VTT test results for a model pruned on this set" in line
