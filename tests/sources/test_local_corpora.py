"""Local-copy importers: each corpus layout, built in miniature with real media, yields the right rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reap_omni.catalog.spec import SourceSpec
from reap_omni.fixtures.media import make_audio, make_video
from reap_omni.media.probe import probe
from reap_omni.sources.base import SourceUnavailable
from reap_omni.sources.local_corpora import LAYOUTS, LocalCorpusSource

AUDIO = make_audio(None, seconds=0.5, fmt="wav")
FLAC = make_audio(None, seconds=0.5, fmt="flac")
MP3 = make_audio(None, seconds=0.5, fmt="mp3", sample_rate=48000)
VIDEO = make_video(None, seconds=0.5)


def _put(root: Path, rel: str, data: bytes | str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data) if isinstance(data, bytes) else p.write_text(data, encoding="utf-8")


def build_lrs2(root):
    for vid in ("6330311066473698535", "6331559613336179781"):
        for n in ("00001", "00002"):
            _put(root, f"mvlrs_v1/main/{vid}/{n}.mp4", VIDEO)
            _put(root, f"mvlrs_v1/main/{vid}/{n}.txt", f"Text:  HELLO {n}\nConf:  4\n\nWORD START END ASDSCORE\n")
    _put(root, "mvlrs_v1/main/6330311066473698535/00003.mp4", VIDEO)  # no transcript: skipped
    return 2, 4, {"text": "HELLO 00001", "group": "6330311066473698535"}, "video"


def build_lrs3(root):
    _put(root, "test/0Fi83BHQsMA/00002.mp4", VIDEO)
    _put(root, "test/0Fi83BHQsMA/00002.txt", "Text:  IT'S A GOOD DAY\nConf:  3\n")
    _put(root, "trainval/abcdEFGhij0/00001.mp4", VIDEO)
    _put(root, "trainval/abcdEFGhij0/00001.txt", "Text:  ANOTHER ONE\n")
    return 2, 2, {"text": "ANOTHER ONE", "group": "abcdEFGhij0"}, "video"


def build_voxceleb1(root):
    for spk in ("id10270", "id10271"):
        _put(root, f"wav/{spk}/5r0dWxy17C8/00001.wav", AUDIO)
        _put(root, f"wav/{spk}/5r0dWxy17C8/00002.wav", AUDIO)
    return 2, 4, {"group": "id10270", "id": "id10270/5r0dWxy17C8/00001"}, "audio"


def build_voxceleb2(root):
    _put(root, "dev/mp4/id00012/21Uxsk56VDQ/00001.mp4", VIDEO)
    _put(root, "dev/mp4/id00015/0fijmz4vTVU/00001.mp4", VIDEO)
    return 2, 2, {"group": "id00012"}, "video"


def build_librispeech(root):
    _put(root, "LibriSpeech/test-clean/1089/134686/1089-134686-0000.flac", FLAC)
    _put(root, "LibriSpeech/test-clean/1089/134686/1089-134686-0001.flac", FLAC)
    _put(root, "LibriSpeech/test-clean/1089/134686/1089-134686.trans.txt",
         "1089-134686-0000 HE HOPED THERE WOULD BE STEW\n1089-134686-0001 STUFF IT INTO YOU\n")  # fmt: skip
    _put(root, "LibriSpeech/test-clean/121/121726/121-121726-0000.flac", FLAC)
    _put(root, "LibriSpeech/test-clean/121/121726/121-121726.trans.txt", "121-121726-0000 ALSO A POPULAR CONTRIVANCE\n")
    return 2, 3, {"text": "ALSO A POPULAR CONTRIVANCE", "group": "121"}, "audio"


def build_aishell1(root):
    _put(root, "data_aishell/transcript/aishell_transcript_v0.8.txt",
         "BAC009S0764W0121 甚至 出现 交易 几乎 停滞 的 情况\nBAC009S0724W0121 一 二 三\n")  # fmt: skip
    _put(root, "data_aishell/wav/test/S0764/BAC009S0764W0121.wav", AUDIO)
    _put(root, "data_aishell/wav/dev/S0724/BAC009S0724W0121.wav", AUDIO)
    _put(root, "data_aishell/wav/dev/S0724/BAC009S0724W0999.wav", AUDIO)  # not in the transcript
    return 2, 2, {"text": "一二三", "group": "S0724"}, "audio"


def build_kespeech(root):
    d = "Tasks/ASR/test"
    _put(root, f"{d}/wav.scp", "u1 Audio/1/u1.wav\nu2 Audio/1/u2.wav\nu3 Audio/2/u3.wav\n")
    _put(root, f"{d}/text", "u1 今天 天气\nu2 好\nu3 <SPOKEN_NOISE> 你好\n")
    _put(root, f"{d}/utt2spk", "u1 spk1\nu2 spk1\nu3 spk2\n")
    _put(root, f"{d}/utt2subdialect", "u1 Mandarin\nu2 Mandarin\nu3 Beijing\n")
    for u in ("1/u1", "1/u2", "2/u3"):
        _put(root, f"Audio/{u}.wav", AUDIO)
    return 2, 3, {"text": "今天 天气", "group": "spk1", "lang": "Mandarin"}, "audio"


def _official_json(root, name, text_key, subsets):
    audios = [
        {"aid": "Y0001", "path": "audio/test/Y0001.opus", "segments": [
            {"sid": "Y0001_S1", "begin_time": 0.0, "end_time": 0.2, text_key: "一段", "subsets": subsets},
            {"sid": "Y0001_S2", "begin_time": 0.2, "end_time": 0.4, text_key: "train only", "subsets": ["{L}"]},
        ]},
        {"aid": "Y0002", "path": "audio/test/Y0002.opus", "segments": [
            {"sid": "Y0002_S1", "begin_time": 0.1, "end_time": 0.3, text_key: "二段", "subsets": subsets}]},
    ]  # fmt: skip
    _put(root, name, json.dumps({"audios": audios}, ensure_ascii=False))
    opus = make_audio(None, seconds=0.5, fmt="ogg")
    _put(root, "audio/test/Y0001.opus", opus)
    _put(root, "audio/test/Y0002.opus", opus)


def build_wenetspeech(root):
    _official_json(root, "WenetSpeech.json", "text", ["TEST_NET"])
    return 2, 2, {"text": "一段", "group": "Y0001", "start": 0.0, "end": 0.2}, "audio"


def build_gigaspeech(root):
    _official_json(root, "GigaSpeech.json", "text_tn", ["{DEV}"])
    return 2, 2, {"text": "一段", "id": "Y0001_S1", "start": 0.0}, "audio"


def build_common_voice(root):
    header = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccent\tlocale\tsegment\n"
    rows = "".join(f'c{i % 2}\tcommon_voice_en_{i}.mp3\tSentence "{i}".\t2\t0\t\t\t\ten\t\n' for i in range(3))
    _put(root, "cv-corpus-17.0/en/test.tsv", header + rows)
    _put(root, "cv-corpus-17.0/en/train.tsv", header)
    for i in range(3):
        _put(root, f"cv-corpus-17.0/en/clips/common_voice_en_{i}.mp3", MP3)
    return 2, 3, {"text": 'Sentence "0".', "group": "c0", "lang": "en"}, "audio"


def build_how2(root):
    _put(root, "video/vidAAA.mp4", VIDEO)
    _put(root, "video/vidBBB.webm", make_video(None, seconds=0.5, codec="vp9", container="webm"))
    _put(root, "data/val/text.en", "vidAAA_0 first sentence\nvidAAA_1 second one\nvidBBB_0 third\nvidZZZ_0 no video\n")
    _put(root, "data/val/segments", "vidAAA_0 vidAAA 0.00 0.20\nvidAAA_1 vidAAA 0.2 0.4\nvidBBB_0 vidBBB 0 0.3\n")
    return 2, 3, {"text": "first sentence", "group": "vidAAA", "start": 0.0, "end": 0.2}, "video"


def build_howto100m(root):
    _put(root, "videos/v1.mp4", VIDEO)
    _put(root, "videos/v2.mp4", VIDEO)
    captions = {
        "v1": {"start": [5.0, 20.0, 40.0], "end": [10.0, 30.0, 45.0], "text": ["cut the onion", "fry it", "late"]},
        "v2": {"start": [0.0], "end": [3.0], "text": ["hello"]},
        "v3": {"start": [0.0], "end": [3.0], "text": ["no video file"]},
    }
    _put(root, "caption.json", json.dumps(captions))
    return 2, 2, {"text": "cut the onion fry it", "group": "v1", "start": 5.0, "end": 35.0}, "video"


def build_audioset(root):
    header = "# Segments csv\n# num_ytids=2\n# YTID, start_seconds, end_seconds, positive_labels\n"
    rows = '--4gqARaEJE, 0.000, 10.000, "/m/068hy,/m/07q6cd_"\n--BfvyPmVMo, 20.000, 30.000, "/m/03l9g"\n'
    _put(root, "eval_segments.csv", header + rows)
    _put(root, "class_labels_indices.csv", "index,mid,display_name\n0,/m/068hy,Domestic animals\n1,/m/07q6cd_,Squeak\n")
    _put(root, "clips/--4gqARaEJE_0.mp4", VIDEO)
    _put(root, "clips/--BfvyPmVMo.mp4", VIDEO)
    return 2, 2, {"label": "Domestic animals, Squeak", "group": "--4gqARaEJE"}, "video"


def build_folder(root):
    _put(root, "test/a.wav", AUDIO)
    _put(root, "test/b.wav", AUDIO)
    _put(root, "test/metadata.jsonl", '{"file_name": "a.wav", "text": "alpha"}\n{"file_name": "b.wav", "text": "b"}\n')
    _put(root, "train/c.wav", AUDIO)
    _put(root, "train/metadata.csv", "file_name,text\nc.wav,gamma\n")
    return 2, 3, {"text": "alpha", "id": "a.wav"}, "audio"


BUILDERS = {
    "lrs2": build_lrs2, "lrs3": build_lrs3, "voxceleb1": build_voxceleb1, "voxceleb2": build_voxceleb2,
    "librispeech": build_librispeech, "aishell1": build_aishell1, "kespeech": build_kespeech,
    "wenetspeech": build_wenetspeech, "gigaspeech": build_gigaspeech, "common_voice": build_common_voice,
    "how2": build_how2, "howto100m": build_howto100m, "audioset": build_audioset, "folder": build_folder,
}  # fmt: skip
OPTIONS = {"wenetspeech": {"subset": "TEST_NET"}, "gigaspeech": {"subset": "DEV"}, "common_voice": {"split": "test"}}


@pytest.mark.parametrize("layout", sorted(BUILDERS))
def test_layout_yields_rows_with_fields_and_readable_media(tmp_path, layout):
    n_units, n_rows, first_fields, kind = BUILDERS[layout](tmp_path)
    spec = SourceSpec(kind="local", adapter=layout, options={"path": str(tmp_path), **OPTIONS.get(layout, {})})
    source = LocalCorpusSource(spec)
    units = source.units()
    assert len(units) == n_units
    candidates = [c for u in units for c in source.read(u)]
    assert len(candidates) == n_rows
    assert len({c.key for c in candidates}) == n_rows
    match = [c for c in candidates if all(c.fields.get(k) == v for k, v in first_fields.items())]
    assert match, f"no candidate with {first_fields}; got {[c.fields for c in candidates]}"
    cand = match[0]
    assert list(cand.media) == [kind]
    blob = cand.media[kind]
    assert cand.provenance.kind == "local" and cand.provenance.file == blob.name
    info = probe(blob.read(), blob.name)  # the opener returns the real file bytes
    assert info.has_audio if kind == "audio" else info.has_video
    assert source.bytes_read == 0
    assert cand.group is not None or layout == "folder"


def test_units_spread_over_speakers_and_split_filter(tmp_path):
    build_librispeech(tmp_path)
    _put(tmp_path, "LibriSpeech/dev-clean/84/121123/84-121123-0000.flac", FLAC)
    _put(tmp_path, "LibriSpeech/dev-clean/84/121123/84-121123.trans.txt", "84-121123-0000 GO DO YOU HEAR\n")
    spec = SourceSpec(kind="local", adapter="librispeech", split="dev-clean")
    source = LocalCorpusSource(spec, local_path=tmp_path)
    units = source.units()
    assert [u.key for u in units] == ["dev-clean/84/121123"]


def test_catalog_columns_override_defaults(tmp_path):
    build_gigaspeech(tmp_path)
    spec = SourceSpec(kind="local", adapter="gigaspeech", columns={"text": "sid"}, options={"subset": "{DEV}"})
    source = LocalCorpusSource(spec, local_path=tmp_path)
    texts = sorted(c.fields["text"] for u in source.units() for c in source.read(u))
    assert texts == ["Y0001_S1", "Y0002_S1"]


def test_missing_media_is_counted_not_fatal(tmp_path):
    build_common_voice(tmp_path)
    (tmp_path / "cv-corpus-17.0/en/clips/common_voice_en_1.mp3").unlink()
    source = LocalCorpusSource(SourceSpec(kind="local", adapter="common_voice", split="test"), local_path=tmp_path)
    rows = [c for u in source.units() for c in source.read(u)]
    assert len(rows) == 2 and source.skipped["missing_media"] == 1


def test_wrong_layout_names_expected_and_found(tmp_path):
    build_voxceleb1(tmp_path)
    source = LocalCorpusSource(SourceSpec(kind="local", adapter="lrs2", options={"path": str(tmp_path)}))
    with pytest.raises(SourceUnavailable, match=r"not a LRS2 layout: expected main/.*; found wav/") as err:
        source.units()
    assert err.value.reason == "layout"


def test_missing_path_and_unknown_layout(tmp_path):
    with pytest.raises(SourceUnavailable, match="needs a local copy") as err:
        LocalCorpusSource(SourceSpec(kind="local", adapter="lrs3")).units()
    assert err.value.reason == "needs_local_copy"
    with pytest.raises(SourceUnavailable, match="not found") as err:
        LocalCorpusSource(SourceSpec(kind="local", adapter="lrs3"), local_path=tmp_path / "nope").units()
    assert err.value.reason == "layout"
    with pytest.raises(SourceUnavailable, match="unknown local layout") as err:
        LocalCorpusSource(SourceSpec(kind="local", adapter="nonesuch"))
    assert err.value.reason == "layout"


def test_layout_option_takes_precedence_over_adapter(tmp_path):
    build_folder(tmp_path)
    spec = SourceSpec(kind="local", adapter="lrs2", options={"layout": "audiofolder", "path": str(tmp_path)})
    assert len(LocalCorpusSource(spec).units()) == 2
    assert "audiofolder" in LAYOUTS


def test_aishell_split_filter(tmp_path):
    build_aishell1(tmp_path)
    source = LocalCorpusSource(SourceSpec(kind="local", adapter="aishell1", split="test"), local_path=tmp_path)
    assert [u.key for u in source.units()] == ["wav/test/S0764"]
