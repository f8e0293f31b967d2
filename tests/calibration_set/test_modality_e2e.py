"""``download --modality video`` and ``--modality mixed`` end to end, for every S2 and S3 seed dataset.

Each dataset's routes are imitated in their real layouts by the fixture builders (``build.demo.serve_source``:
mteb parquet with embedded MP4 bytes, CVDF tar.gz parts and path list, lmms-eval zips plus annotation parquet,
the byte-split LongVideoBench tar, the nested MELD tar), and the ``local``-only corpora by small copies in
their published layouts (``sources.local_corpora``). Two passes per modality: *primary*, where every route is
served and the first one answers; *fallback*, where each dataset's first route is missing from the Hub, so the
next one (another archive, or a licensed local copy given with ``--local-path``) must answer. Every written
row must then pass ``validate --check-media``. Two more cases: a long source video cut to ``--max-video-seconds``
around its annotated segment, and AudioSet's opt-in YouTube route through yt-dlp against 127.0.0.1.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import av
import numpy as np
import pytest

from reap_omni.calibration_set.demo import DEMO_KINDS, serve_source
from reap_omni.catalog.registry import get_dataset, select
from reap_omni.cli import run
from reap_omni.fixtures.media import make_video
from reap_omni.manifest.record import iter_records
from reap_omni.manifest.validate import validate_manifest
from reap_omni.media.probe import probe

#: dataset -> source kind that delivers its rows in the (primary, fallback) pass; None: no row in that pass
ROUTES = {
    "video": {
        "kinetics400": ("http_tar", "hf_parquet"),  # CVDF train path list -> part + train.csv, then mteb train
        "kinetics700": ("http_tar", "hf_parquet"),  # CVDF train path list -> tar.gz part, then mteb test
        "msrvtt": ("hf_tar", "hf_parquet"),  # the MSR-VTT.tar prefix + train annotations, then mteb test
        "vatex": ("hf_parquet", "zip_range"),  # zip in wufeim/aug_text, annotations in lmms-eval/VATEX
        "youcook2": ("hf_parquet", "zip_range"),
        "longvideobench": ("hf_tar", "hf_tar"),  # byte-split tar prefix; its only route
        "activitynet_qa": ("zip_range", "hf_parquet"),  # lmms-eval chunks, then mteb ActivityNet Captions
    },
    "mixed": {
        "voxceleb": ("zip_range", "local"),
        "lrs2": ("local", "local"),
        "lrs3": ("local", "local"),
        "how2": ("local", "local"),
        "audioset": (None, "local"),  # no Hub copy carries video: YouTube (opt-in) or a local copy
        "vggsound": ("hf_tar", "hf_parquet"),  # the train clips of a tar prefix, then mteb test
        "meld": ("hf_tar", "hf_files"),  # MELD.Raw.tar.gz -> train tar.gz (nested), then loose train mp4s
        "howto100m": ("local", "local"),
    },
}
#: datasets the fixtures cannot serve without the user, and what their one-line message must name
NEEDS_USER = {("mixed", "primary"): {"audioset": ("--local-path", "--opt-in", "valor32k", "vggsound")}}
LOCAL_ONLY = ("lrs2", "lrs3", "how2", "howto100m")


# -- licensed local copies, in the layouts ``sources.local_corpora`` reads ----------------------------------
@functools.cache
def clip(seconds: float = 0.5, with_audio: bool = True, seed: int = 0) -> bytes:
    return make_video(seconds=seconds, width=32, height=24, fps=10, with_audio=with_audio, audio_rate=16000,
                      audio_channels=1, seed=seed)


def _put(root: Path, rel: str, data: bytes | str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data) if isinstance(data, bytes) else p.write_text(data, encoding="utf-8")


def lrs2_copy(root: Path) -> None:
    for v, vid in enumerate(("6330311066473698535", "6331559613336179781", "6332062124509813446")):
        _put(root, f"mvlrs_v1/main/{vid}/00001.mp4", clip(seed=v))
        _put(root, f"mvlrs_v1/main/{vid}/00001.txt", f"Text:  SENTENCE NUMBER {v}\nConf:  4\n\nWORD START END\n")


def lrs3_copy(root: Path) -> None:
    for v, yt in enumerate(("0Fi83BHQsMA", "0akiEFwtkyA", "1BHOflzxPjI")):
        _put(root, f"trainval/{yt}/00002.mp4", clip(seed=v))  # the catalog reads pretrain + trainval
        _put(root, f"trainval/{yt}/00002.txt", f"Text:  TALK NUMBER {v}\nConf:  3\n")
    _put(root, "test/0Fi83BHQsMA/00009.mp4", clip(seed=9))  # the benchmark part: never read
    _put(root, "test/0Fi83BHQsMA/00009.txt", "Text:  A TEST SENTENCE\nConf:  3\n")


def how2_copy(root: Path) -> None:
    for v in ("vidAAA", "vidBBB", "vidCCC"):
        _put(root, f"video/{v}.mp4", clip())
    _put(root, "data/val/text.en", "vidAAA_0 first sentence\nvidBBB_0 second one\nvidCCC_0 third one\n")
    _put(root, "data/val/segments", "vidAAA_0 vidAAA 0.0 0.4\nvidBBB_0 vidBBB 0.1 0.5\nvidCCC_0 vidCCC 0 0.3\n")


def howto100m_copy(root: Path) -> None:
    captions = {v: {"start": [0.0, 0.2], "end": [0.2, 0.5], "text": [f"step one of {v}", "step two"]}
                for v in ("ht_v1", "ht_v2", "ht_v3")}
    for v in captions:
        _put(root, f"videos/{v}.mp4", clip())
    _put(root, "caption.json", json.dumps(captions))


def voxceleb2_copy(root: Path) -> None:
    # each speaker's first clip lost its audio track (VoxCeleb audio is unverified): S3 must reject it
    for s, spk in enumerate(("id00012", "id00015", "id00017")):
        _put(root, f"dev/mp4/{spk}/21Uxsk56VDQ/00001.mp4", clip(with_audio=False, seed=s))
        _put(root, f"dev/mp4/{spk}/21Uxsk56VDQ/00002.mp4", clip(seed=s))


def audioset_copy(root: Path) -> None:
    _put(root, "eval_segments.csv", "# YTID, start_seconds, end_seconds, positive_labels\n"
         '--4gqARaEJE, 0.000, 10.000, "/m/068hy"\n--BfvyPmVMo, 20.000, 30.000, "/m/03l9g"\n'
         '--U7joUcTCo, 0.000, 10.000, "/m/068hy"\n')
    _put(root, "class_labels_indices.csv", "index,mid,display_name\n0,/m/068hy,Domestic animals\n1,/m/03l9g,Hammer\n")
    for ytid, start in (("--4gqARaEJE", 0), ("--BfvyPmVMo", 20), ("--U7joUcTCo", 0)):
        _put(root, f"clips/{ytid}_{start}.mp4", clip())


LOCAL_COPIES = {"lrs2": lrs2_copy, "lrs3": lrs3_copy, "how2": how2_copy, "howto100m": howto100m_copy,
                "voxceleb": voxceleb2_copy, "audioset": audioset_copy}


# -- helpers ------------------------------------------------------------------------------------------------
def serve_routes(hub, modality: str, fallback: bool, rows: int = 2) -> list[str]:
    """Fixtures for the imitable sources of the modality's seed datasets; ``--source-option`` args for those
    whose URLs moved to the hub. With ``fallback`` a dataset's first source is left off the Hub when a later
    source (imitable or local) can stand in for it."""
    args: list[str] = []
    for d in select(None, modality):
        skip = None
        if fallback:
            usable = [i for i, s in enumerate(d.sources) if s.kind in (*DEMO_KINDS, "local") and not s.opt_in]
            skip = usable[0] if len(usable) > 1 else None
        for i, spec in enumerate(d.sources):
            if i == skip:
                continue
            served = serve_source(hub, spec, rows)
            for key in ("url", "metadata"):
                if served is not None and getattr(served, key) != getattr(spec, key):
                    args += ["--source-option", f"{d.name}:{i}:{key}={getattr(served, key)}"]
    return args


def local_copies(root: Path) -> Path:
    for name, build in LOCAL_COPIES.items():
        build(root / name)
    return root


def records(out: Path, stratum: str) -> list:
    return [r for _, r in iter_records(out / "calibration" / f"{stratum}.jsonl")]


def check_rows(out: Path, modality: str, n: int) -> list:
    path = out / "calibration" / f"{modality}.jsonl"
    report = validate_manifest(path, check_media=True)
    assert report.ok and report.rows == n, report.summary() + "\n" + "\n".join(report.messages)
    recs = records(out, modality)
    for line in path.read_text().splitlines():
        assert {"width", "height", "fps", "duration", "has_audio", "clip_start", "clip_end"} <= set(json.loads(line))
    for r in recs:
        info = probe(r.video)
        assert info.has_video and r.width == info.width and r.height == info.height and r.duration > 0
        assert 0 <= r.clip_start < r.clip_end and r.fps > 0
        if modality == "video":  # S2: audio stripped by default
            assert not info.has_audio and r.has_audio is False and r.audio is None
        else:  # S3: the MP4 keeps its track and the window's audio is extracted as 16 kHz mono
            assert info.has_audio and r.has_audio is True
            track = probe(r.audio)
            assert track.sample_rate == 16000 and track.channels == 1 and not track.has_video
    return recs


# -- tests --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("modality", ["video", "mixed"])
@pytest.mark.parametrize("route", ["primary", "fallback"])
def test_modality_download_builds_every_seed_dataset(hub_server, tmp_path, capsys, modality, route):
    expected = ROUTES[modality]
    assert set(expected) == {d.name for d in select(None, modality)}, "a seed dataset was added: give it routes"
    fallback = route == "fallback"
    args = serve_routes(hub_server, modality, fallback)
    if modality == "mixed":
        local = local_copies(tmp_path / "licensed")
        if fallback:  # one folder holding every licensed copy, as a user would pass it
            args += ["--local-path", str(local)]
        else:  # each local-only corpus pointed at its own copy
            for n in LOCAL_ONLY:
                i = next(i for i, s in enumerate(get_dataset(n).sources) if s.kind == "local")
                args += ["--source-option", f"{n}:{i}:options.path={local / n}"]
    out = tmp_path / "data"
    code = run(["download", "--modality", modality, "--samples", "2", "--output", str(out), "--quiet", *args])

    needs_user = NEEDS_USER.get((modality, route), {})
    err = capsys.readouterr().err
    assert code == (1 if needs_user else 0), err
    assert "Traceback" not in err
    stats = json.loads((out / "calibration" / "stats.json").read_text())["datasets"]
    assert {n for n, s in stats.items() if s["status"] != "ok"} == set(needs_user), err
    for name, words in needs_user.items():
        lines = [ln for ln in err.splitlines() if ln.startswith(f"reap-omni: {name}: 0/2 rows")]
        assert len(lines) == 1 and all(w in lines[0] for w in words), err

    recs = check_rows(out, modality, 2 * (len(expected) - len(needs_user)))
    kinds: dict[str, set[str]] = {}
    for r in recs:
        kinds.setdefault(r.source["dataset"], set()).add(r.source["kind"])
    want = {name: {k[fallback]} for name, k in expected.items() if k[fallback] is not None}
    assert kinds == want
    assert all(r.text for r in recs if r.source["dataset"] != "voxceleb")  # VoxCeleb has no transcripts
    if modality == "mixed" and fallback:  # the copy's silent clips were turned away, and counted
        assert stats["voxceleb"]["failures"].get("no_audio", 0) >= 1


def _blue(path: str) -> float:
    """Mean blue of the first frame: ``fixtures.media.pattern_frame`` makes it 25.5 * seconds (seed 0)."""
    with av.open(path) as c:
        frame = next(c.decode(video=0))
    return float(np.asarray(frame.to_ndarray(format="rgb24"))[..., 2].mean())


def test_long_video_is_cut_around_its_annotated_segment(hub_server, tmp_path):
    """YouCook2's lmms-eval zip holds whole recipe videos and ``segment`` [start, end] places the sentence."""
    spec = get_dataset("youcook2").sources[1]  # the mteb repo stays missing: the zip route answers
    long_video = make_video(seconds=4.0, width=32, height=24, fps=10, with_audio=False)
    assert serve_source(hub_server, spec, 3, media=lambda i, key: long_video) is not None
    out = tmp_path / "data"
    assert run(["download", "-d", "youcook2", "-n", "3", "-o", str(out), "--quiet", "--max-video-seconds", "1"]) == 0
    recs = check_rows(out, "video", 3)
    for r in recs:
        assert r.source["kind"] == "zip_range" and r.meta["source_duration"] == pytest.approx(4.0, abs=0.15)
        row = int(r.source["original_id"].rsplit("-", 1)[1])  # fixture segment of row i: [i, i + 1.5]
        centre = min(max(row + 0.75, 0.5), 3.5)  # clamped inside the 4 s source
        assert r.clip_start == pytest.approx(centre - 0.5, abs=0.11)
        assert r.clip_end == pytest.approx(centre + 0.5, abs=0.11) and r.duration == pytest.approx(1.0, abs=0.11)
        assert _blue(r.video) == pytest.approx(25.5 * r.clip_start, abs=8)  # the pixels come from there too
    assert len({r.clip_start for r in recs}) > 1


def test_audioset_opt_in_youtube_route_from_loopback(hub_server, tmp_path):
    """With --opt-in, AudioSet's YouTube route fetches the annotated window through yt-dlp (from 127.0.0.1)."""
    pytest.importorskip("yt_dlp", reason="yt-dlp not installed (pip install 'reap-omni[youtube]')")
    segments = hub_server.add_file("yt/eval_segments.csv", (
        b"# YTID, start_seconds, end_seconds, positive_labels\n"
        b'--4gqARaEJE, 1.000, 3.000, "/m/068hy"\n--BfvyPmVMo, 0.000, 2.000, "/m/03l9g"\nDEADDEADDEA, 0, 2, "/m/03l9g"\n'
    ))
    names = hub_server.add_file("yt/class_labels_indices.csv",
                                b"index,mid,display_name\n0,/m/068hy,Domestic animals\n1,/m/03l9g,Hammer\n")
    for ytid in ("--4gqARaEJE", "--BfvyPmVMo"):
        hub_server.add_file(f"yt/watch/{ytid}.mp4", make_video(seconds=4.0, width=32, height=24, fps=10,
                                                               audio_rate=16000, audio_channels=1))
    out = tmp_path / "data"
    code = run(["download", "-d", "audioset", "-n", "2", "-o", str(out), "--quiet", "--opt-in", "--max-video-seconds",
                "1", "--source-option", f"audioset:0:url={segments}",
                "--source-option", f"audioset:0:options.label_names_url={names}",
                "--source-option", f"audioset:0:options.url_template={hub_server.endpoint}/files/yt/watch/{{id}}.mp4",
                "--source-option", "audioset:0:options.cut=local"])
    assert code == 0
    recs = check_rows(out, "mixed", 2)
    assert {r.source["kind"] for r in recs} == {"youtube"}
    by_id = {r.source["original_id"]: r for r in recs}
    assert by_id["--4gqARaEJE"].text == "the sound of Domestic animals"  # label ids mapped through label_names_url
    # the whole 4 s video came back ("cut": "local"); the media step took 1 s centred on the annotated window
    assert (by_id["--4gqARaEJE"].clip_start, by_id["--BfvyPmVMo"].clip_start) == pytest.approx((1.5, 0.5), abs=0.11)
