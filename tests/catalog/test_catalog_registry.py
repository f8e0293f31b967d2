"""Schema sanity for every catalog entry, name lookup, selection and overrides."""

from __future__ import annotations

import re

import pytest

from reap_omni.catalog import registry
from reap_omni.catalog.registry import (
    all_datasets,
    apply_source_options,
    availability,
    check_coherent,
    get_dataset,
    normalize_name,
    select,
)
from reap_omni.catalog.spec import COLUMN_KEYS, SOURCE_KINDS, STRATUM_MODALITY, column_names, mismatch_message
from reap_omni.catalog.text import CLEANERS, template_fields
from reap_omni.errors import ReapOmniError

ALL = all_datasets()
SEED_NAMES = {
    "S1": ["librispeech", "common_voice", "gigaspeech", "voxpopuli", "wenetspeech", "wavcaps", "aishell1", "covost2"],
    "S2": ["kinetics400", "kinetics700", "msrvtt", "vatex", "youcook2", "longvideobench", "activitynet_qa"],
    "S3": ["voxceleb", "lrs2", "lrs3", "how2", "audioset", "vggsound", "meld", "howto100m"],
}
EXTENDED_REQUIRED = ["fleurs", "mls", "peoples_speech", "spgispeech", "tedlium", "audiocaps", "clotho", "esc50",
                     "musiccaps", "aishell3", "kespeech", "valor32k", "avqa", "nextqa", "videomme", "ssv2",
                     "avspeech", "ave", "finevideo"]


@pytest.mark.parametrize("spec", ALL, ids=lambda s: s.name)
def test_entry_is_coherent(spec):
    assert check_coherent(spec) == []
    assert STRATUM_MODALITY[spec.stratum] == spec.modality
    assert re.fullmatch(r"[a-z0-9_]+", spec.name)
    assert spec.homepage.startswith("http")
    assert re.search(r"[\u4e00-\u9fff]", spec.description_zh), "Chinese description must be Chinese"
    if spec.gated:
        assert spec.access and spec.access_zh
    for src in spec.sources:
        assert src.kind in SOURCE_KINDS
        assert set(src.columns) <= set(COLUMN_KEYS), set(src.columns) - set(COLUMN_KEYS)
        assert src.verified or src.note
        for cleaner in (src.text_cleaner, *src.field_cleaners.values()):
            assert cleaner is None or cleaner in CLEANERS
        if src.text_template:
            assert set(template_fields(src.text_template)) <= set(src.columns) | {"text"}
        if src.revision and src.repo and src.repo.startswith("mteb/"):
            assert re.fullmatch(r"[0-9a-f]{40}", src.revision)
        for value in src.columns.values():
            assert column_names(value)


def test_names_and_aliases_are_unique_after_normalisation():
    owner: dict[str, str] = {}
    for spec in ALL:
        for key in {normalize_name(k) for k in (spec.name, *spec.aliases)}:
            assert owner.setdefault(key, spec.name) == spec.name, f"{key} names {owner[key]} and {spec.name}"
    assert len({s.name for s in ALL}) == len(ALL)


def test_seed_and_extended_sets():
    for stratum, names in SEED_NAMES.items():
        got = [s.name for s in ALL if s.stratum == stratum and not s.extended]
        assert got == names
    extended = {s.name for s in ALL if s.extended}
    assert set(EXTENDED_REQUIRED) <= extended


def test_every_seed_video_or_mixed_dataset_has_a_route_or_says_what_to_supply():
    for spec in ALL:
        if spec.stratum == "S1" or spec.extended:
            continue
        kind = availability(spec)
        if kind in ("local", "opt_in"):
            assert spec.access or spec.substitutes, spec.name
        if spec.substitutes:
            assert all(get_dataset(n).modality == spec.modality for n in spec.substitutes)


def test_voxceleb1_is_never_s3():
    assert get_dataset("voxceleb1").stratum == "S1"
    assert get_dataset("vox2").name == "voxceleb"


def test_quickstart_mix_is_open_and_covers_every_stratum():
    rec = select(recommended_only=True)
    assert {s.stratum for s in rec} == {"S1", "S2", "S3"}
    assert all(availability(s) == "open" and not s.gated for s in rec)


@pytest.mark.parametrize("typed,name", [
    ("MSR-VTT", "msrvtt"), ("msr_vtt", "msrvtt"), ("Kinetics-400", "kinetics400"), ("k700", "kinetics700"),
    ("AISHELL", "aishell1"), ("common_voice", "common_voice"),
])
def test_lookup_is_loose(typed, name):
    assert get_dataset(typed).name == name


def test_unknown_dataset_suggests_close_names():
    with pytest.raises(ReapOmniError, match=r"unknown dataset 'librispeach'; did you mean librispeech"):
        get_dataset("librispeach")
    with pytest.raises(ReapOmniError, match="reap-omni list --all"):
        get_dataset("zzzz")


def test_select_by_modality_and_names():
    video = select(modality="video")
    assert video and all(s.modality == "video" and not s.extended for s in video)
    assert any(s.extended for s in select(modality="video", include_extended=True))
    assert [s.name for s in select(["fleurs", "FLEURS", "librispeech"])] == ["fleurs", "librispeech"]
    with pytest.raises(ReapOmniError, match="not video"):
        select(["librispeech"], modality="video")
    with pytest.raises(ReapOmniError, match="unknown modality"):
        select(modality="image")


def test_source_options_override_facts():
    specs = select(["gigaspeech", "vatex"])
    out = apply_source_options(specs, [
        "gigaspeech:0:split=validation",
        "vatex:columns.text=enCap[1]",
        "gigaspeech:2:options.window_s=30",
        "gigaspeech:0:files=a/*.parquet, b/*.parquet",
        "gigaspeech:1:verified=false",
        'gigaspeech:3:files=["x/*.parquet", "y/part,1.parquet"]',
    ])
    giga, vatex = out
    assert giga.sources[0].split == "validation"
    assert giga.sources[0].files == ("a/*.parquet", "b/*.parquet")
    assert giga.sources[1].verified is False
    assert giga.sources[3].files == ("x/*.parquet", "y/part,1.parquet")  # a JSON list keeps commas in names
    assert giga.sources[2].options["window_s"] == 30
    assert all(s.columns["text"] == "enCap[1]" for s in vatex.sources)
    assert get_dataset("gigaspeech").sources[0].split == "train"  # the catalog itself is untouched


@pytest.mark.parametrize("option,message", [
    ("gigaspeech:split", "expected DATASET"),
    ("gigaspeech:x:split=a", "not a number"),
    ("gigaspeech:9:split=a", "has sources 0..3"),
    ("gigaspeech:0:colour=a", "unknown source key 'colour'"),
    ("gigaspeech:0:columns=a", "needs a sub-key"),
    ("gigaspeech:0:verified=maybe", "true or false"),
    ('gigaspeech:0:files=["a", ', "not a valid JSON list"),
    ("gigaspeech:0:files=[1, 2]", "JSON list of strings"),
    ("vatex:split=test", "not selected"),
])
def test_bad_source_options(option, message):
    with pytest.raises(ReapOmniError, match=message):
        apply_source_options(select(["gigaspeech"]), [option])


def test_mismatch_message_names_dataset_assumption_and_fix():
    msg = mismatch_message("vatex", "columns.text", "caption", ["video", "audio", "sentence"], 0)
    assert msg == ("vatex: source #0 assumed columns.text='caption' but found [video, audio, sentence]; "
                   "fix it with --source-option vatex:0:columns.text=<value>")


def test_json_view_round_trips():
    import json

    data = json.loads(registry.as_json(select(["meld"])))
    assert data[0]["name"] == "meld" and data[0]["availability"] == "open"
    assert data[0]["sources"][-1]["revision"] == "6c0bf58845b1acccefc450b131c304378c1e38d5"
    assert data[0]["split"] == "train" and data[0]["eval_split"] is False


def test_check_coherent_reports_bad_entries():
    import msgspec

    from reap_omni.catalog.spec import SourceSpec

    good = get_dataset("lrs2")
    bad = msgspec.structs.replace(
        good, modality="audio", access_zh="", sources=(SourceSpec(kind="hf_parquet", verified=False),),
    )
    problems = check_coherent(bad)
    assert "stratum S3 with modality audio" in problems
    assert "gated without access text (en and zh)" in problems
    assert "source #0 unverified without a note" in problems
    assert "source #0 hf_parquet without repo" in problems


def test_a_gated_dataset_is_never_shown_as_open():
    for spec in ALL:
        kind = availability(spec)
        if spec.gated:
            assert kind != "open", spec.name
        if kind == "gated+mirror":  # the fallback really is a default automatic source without access
            assert any(not s.gated and not s.opt_in and s.kind != "local" for s in spec.sources), spec.name
    assert availability(get_dataset("gigaspeech")) == "gated+mirror"
    assert availability(get_dataset("longvideobench")) == "gated"
