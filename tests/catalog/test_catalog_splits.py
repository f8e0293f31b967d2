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
    select,
    source_split,
    split_label,
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
        "gigaspeech": "train", "common_voice": "train",
    }
    for name, split in want.items():
        src = primary_source(get_dataset(name))
        assert source_split(src) == split and not src.eval_split, name
    # a confirmed training route goes first, the test-only mteb copy last
    for name in ("kinetics400", "kinetics700", "msrvtt", "vggsound", "meld"):
        sources = default_sources(get_dataset(name))
        first, last = sources[0], sources[-1]
        assert first.verified and not first.eval_split and source_split(first) == "train", name
        assert last.eval_split and last.repo.startswith("mteb/"), name
        assert [s.eval_split for s in sources] == sorted(s.eval_split for s in sources), name  # flagged ones last


def test_benchmark_splits_are_flagged_by_evidence_not_by_name():
    """GigaSpeech dev (leaderboard Dev/Test WER) is no longer read, WenetSpeech DEV is flagged, and ESC-50's train
    split is flagged because mteb evaluates on it; the name rule alone would pass them all."""
    giga = get_dataset("gigaspeech").sources[2]
    assert (giga.config, giga.split, giga.files) == ("xl", "train", ("xl/train-0000[0-3]-of-02279.parquet",))
    assert not giga.eval_split and "e9b9f92" in giga.note and "Dev/Test WER" in giga.note
    wenet = get_dataset("wenetspeech").sources[0]
    assert wenet.split == "DEV" and wenet.eval_split and "Test_Net" in wenet.note
    for src in get_dataset("esc50").sources:
        assert src.split == "train" and src.eval_split and "eval_splits=['train']" in src.note
        assert not is_eval_split_name(src.split)  # the evidence, not the name
    assert split_label(get_dataset("esc50")) == "train (eval split)"


def test_kinetics400_mteb_train_split_is_a_training_source():
    sources = get_dataset("kinetics400").sources
    train = [s for s in sources if s.repo == "mteb/kinetics-400" and s.split == "train"]
    assert len(train) == 1 and not train[0].eval_split and train[0].revision.startswith("e5b93b6")
    assert "3,973" in train[0].note and sources.index(train[0]) < len(sources) - 1


def test_every_mteb_video_repo_is_flagged_eval_only_unless_it_reads_train():
    """mteb's video repos are test copies, except the train splits mteb's stats show (Kinetics-400, AVE)."""
    trains = set()
    for d, _, s in SOURCES:
        if s.repo and s.repo.startswith("mteb/") and d.modality != "audio":
            if s.split == "train":
                trains.add(s.repo)
                assert not s.eval_split and s.revision, d.name
            else:
                assert s.eval_split and s.split == "test", d.name
    assert trains == {"mteb/kinetics-400", "mteb/AVE-Dataset"}


def test_quickstart_primary_sources_are_confirmed_open_and_their_split_is_shown():
    rec = select(recommended_only=True)
    assert {s.stratum for s in rec} == {"S1", "S2", "S3"}
    for spec in rec:
        src = primary_source(spec)
        assert src is not None and src.verified and not src.gated and not src.eval_split, spec.name
        assert split_label(spec) == source_split(src) and "eval split" not in split_label(spec)
    assert "avspeech" in {s.name for s in rec}  # the speech-rich S3 training source


# -- the contradicted facts of issue 9, with the evidence in each note --------------------------------------
def _src(name: str, i: int) -> SourceSpec:
    return get_dataset(name).sources[i]


def test_aishell1_reads_the_train_speakers_the_repo_holds():
    tars = _src("aishell1", 0)
    assert "split_pattern" not in tars.options and tars.split == "train" and tars.verified
    assert "8515aae" in tars.note
    mirror = _src("aishell1", 1)
    assert mirror.columns["audio"] == "context" and mirror.columns["text"] == "answer" and mirror.eval_split


def test_librispeech_reads_main_parquet_pinned_at_the_commit_seen():
    first = _src("librispeech", 0)
    assert first.revision == "71cacbfb7e2354c4226d01e70d77d5fca3d04ba1" and first.config == "clean"
    assert first.split == "train.100" and not first.files  # the usual layout clean/train.100/*.parquet, at run time
    assert "loading script" not in first.note and "81d6da0" not in first.note and "71cacbfb" in first.note
    assert not any("549a9ef" in s.note for s in get_dataset("librispeech").sources)
    tar = next(s for s in get_dataset("librispeech").sources if s.kind == "http_tar")
    assert tar.url.endswith("/train-clean-100.tar.gz")


@pytest.mark.parametrize(("name", "i", "facts", "evidence", "verified"), [
    ("gigaspeech", 2, {"config": "xl", "split": "train"}, "fixie-ai/gigaspeech, commit e9b9f92", True),
    ("voxceleb", 0, {"files": ("vox2/vox2_test_mp4.zip",)}, "commit/23dcdd6d", True),
    ("voxceleb1", 0, {"files": ("vox1/vox1_test_wav.zip",), "metadata": "vox1/vox1_meta.csv"}, "commit/23dcdd6d",
     True),
    ("meld", 2, {"columns": {"video": "video", "audio": "audio", "label": "emotion", "text": "utterance",
                             "id": "video_id"}}, "mteb/MELD/blob/main/README.md", True),
    ("avqa", 0, {"revision": "91c54bcc1debe3a468ff705ce98ac5e34712fd77"}, "mteb/tasks/multichoice/eng/avqa.py", True),
    ("common_voice", 2, {"files": ("en/validation/*/*.parquet",)}, "common_voice_17_0/commits/26338ed", True),
    ("msrvtt", 0, {"split": "train", "metadata": "data/train-*.parquet"}, "AlexZigma/msr-vtt/tree/main/data", True),
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
    assert "not seen" not in _src("msrvtt", 0).note  # both caveats are resolved by the audit
    assert "unverified" not in _src("voxceleb", 0).note.lower()  # the mp4s carry audio (third-party recipes)
    assert _src("meld", 2).text_template is None  # the utterance is the row's text


def test_eval_split_is_overridable_like_any_fact():
    (msrvtt,) = apply_source_options(select(["msrvtt"]), ["msrvtt:1:eval_split=false", "msrvtt:0:split=val"])
    assert msrvtt.sources[1].eval_split is False and msrvtt.sources[0].split == "val"
    assert get_dataset("msrvtt").sources[1].eval_split is True


# -- docs, list --------------------------------------------------------------------------------------------
def test_docs_and_list_show_the_split_used_and_whether_a_benchmark_evaluates_on_it(capsys):
    text = render_catalog()
    assert "split `train.100`" in text and "[eval split]" in text
    assert "| train (eval split) | Hub parquet |" in text  # ESC-50: named train, flagged by evidence
    assert "| DEV (eval split) | Hub tar stream → Hub parquet → user-supplied local copy |" in text  # WenetSpeech
    view = as_dict(get_dataset("librispeech"))
    assert view["split"] == "train.100" and view["eval_split"] is False
    assert as_dict(get_dataset("msrvtt"))["eval_split"] is False and as_dict(get_dataset("esc50"))["eval_split"]
    assert run(["list", "--all"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"librispeech \*.*  train\.100  +Hub parquet", out)
    assert re.search(r"msrvtt \*.*  train  +Hub tar stream → Hub parquet", out)
    assert re.search(r"wenetspeech .*  DEV \(eval split\)  ", out) and "split used" in out.splitlines()[0]
    assert run(["list", "--json", "--all"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["msrvtt"]["eval_split"] is False and rows["esc50"]["eval_split"] is True
    assert rows["esc50"]["split"] == "train"


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


def test_download_of_an_eval_only_dataset_works_and_says_so_in_one_line(hub_server, tmp_path, capsys):
    """VoxCeleb2's only automatic source is its test zip: `download --dataset voxceleb` still builds (the user
    named it), the rows are flagged with their split, and one line names the benchmark."""
    from reap_omni.fixtures.repos import add_spec_fixture

    add_spec_fixture(hub_server, get_dataset("voxceleb").sources[0], members=6)
    out = tmp_path / "out"
    assert run(["download", "--dataset", "voxceleb", "-o", str(out), "-n", "3"]) == 0
    printed = capsys.readouterr().out
    lines = [ln for ln in printed.splitlines() if "evaluation split" in ln]
    assert lines == [eval_split_line({"voxceleb": ("VoxCeleb2", "test")})]
    recs = [r for _, r in iter_records(out / "calibration" / "mixed.jsonl")]
    assert len(recs) == 3 and all(r.source["eval_split"] is True and r.source["split"] == "test" for r in recs)
