"""Importers for user-supplied local copies of licence-gated corpora (source kind ``local``).

Corpora such as LRS2/3, VoxCeleb, KeSpeech or the official GigaSpeech/WenetSpeech releases cannot be
downloaded by us; the user points ``options.path`` (or ``--local-path``) at their copy and an importer
that knows the corpus's published layout turns it into candidates. Nothing here touches the network.
Units are speaker / video / recording folders, so the sampler can spread a sample across them.

Each importer yields raw rows in the corpus's own vocabulary (``Text``, ``client_id``, ``text_tn``...);
``SourceSpec.columns`` (catalog) maps them to our fields, over per-layout defaults.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reap_omni.catalog.spec import SourceSpec
from reap_omni.sources.base import Candidate, MediaBlob, Provenance, SourceUnavailable, Unit

VIDEO_EXT = frozenset({".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v"})
AUDIO_EXT = frozenset({".wav", ".flac", ".mp3", ".opus", ".ogg", ".m4a", ".aac", ".sph"})
_MEDIA_KEYS = ("audio", "video")


@dataclass
class Row:
    """One utterance/clip found on disk, before column mapping."""

    key: str  # stable id relative to the corpus root
    raw: dict[str, Any]  # the corpus's own fields
    media: Path  # the local media file
    group: str | None = None


def media_kind(path: Path) -> str:
    return "video" if path.suffix.lower() in VIDEO_EXT else "audio"


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _subdirs(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def _glob_dirs(root: Path, pattern: str) -> list[Path]:
    return sorted(p for p in root.glob(pattern) if p.is_dir())


def _split_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _in_part(rel: str, part: str) -> bool:
    """``rel`` lies in part/split ``part``: a path prefix (``test-clean``) or a leading component (AISHELL ``dev``)."""
    part = part.strip("/")
    return rel == part or rel.startswith(part + "/") or part in rel.split("/")[:2]


def _kaldi_map(path: Path) -> dict[str, str]:
    """``<key> <value...>`` lines (Kaldi text/wav.scp/utt2spk, LibriSpeech .trans.txt, AISHELL transcript)."""
    out: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.strip().split(maxsplit=1)
            if parts:
                out[parts[0]] = parts[1] if len(parts) > 1 else ""
    return out


def _colon_fields(path: Path) -> dict[str, str]:
    """LRS ``.txt``: ``Text:  WORDS`` / ``Conf:  4`` header lines, up to the first blank line."""
    out: dict[str, str] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                break
            key, sep, value = line.partition(":")
            if sep:
                out[key.strip()] = value.strip()
    return out


class Layout:
    """A corpus layout: how to list units under a root and read a unit's rows."""

    name = ""
    title = ""
    expected = ""  # the files we look for, for the layout error
    columns: dict[str, str] = {}  # default our-field -> raw key

    def __init__(self) -> None:
        self._cache: dict[Any, Any] = {}

    def cached(self, key: Any, make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def units(self, root: Path, options: dict[str, Any]) -> list[Unit]:
        raise NotImplementedError

    def rows(self, root: Path, unit: Unit, options: dict[str, Any]) -> Iterator[Row]:
        raise NotImplementedError


@dataclass
class FolderLayout(Layout):
    """Media files in unit folders, each described by a sidecar or a corpus-wide transcript.

    ``unit_globs`` are directory globs relative to the root (one unit each; the first path component is
    the part/split); ``media_globs`` are file globs inside a unit; ``describe(layout, root, file)`` returns
    the raw fields of a file or ``None`` to skip it (no transcript).
    """

    name: str = ""
    title: str = ""
    expected: str = ""
    unit_globs: tuple[str, ...] = ()
    media_globs: tuple[str, ...] = ()
    describe: Callable[[Layout, Path, Path], dict[str, Any] | None] = lambda layout, root, f: {}
    columns: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        Layout.__init__(self)

    def units(self, root: Path, options: dict[str, Any]) -> list[Unit]:
        parts = _split_list(options.get("parts") or options.get("split"))
        found = []
        for pattern in self.unit_globs:
            for d in _glob_dirs(root, pattern):
                rel = _rel(root, d)
                if parts and not any(_in_part(rel, p) for p in parts):
                    continue
                if not any(next(d.glob(g), None) for g in self.media_globs):
                    continue  # a folder at the right depth without media: a wrapper, not a unit
                found.append(Unit(key=rel, shard=rel, info={"dir": rel}))
        return found

    def rows(self, root: Path, unit: Unit, options: dict[str, Any]) -> Iterator[Row]:
        folder = root / unit.info["dir"]
        files = sorted({f for g in self.media_globs for f in folder.glob(g) if f.is_file()})
        for f in files:
            raw = self.describe(self, root, f)
            if raw is None:
                continue
            yield Row(key=_rel(root, f.with_suffix("")), raw=raw, media=f, group=raw.get("group"))


def _describe_lrs(group_key: str) -> Callable[[Layout, Path, Path], dict[str, Any] | None]:
    def describe(layout: Layout, root: Path, f: Path) -> dict[str, Any] | None:
        txt = f.with_suffix(".txt")
        if not txt.is_file():
            return None
        raw: dict[str, Any] = dict(_colon_fields(txt))
        rel = Path(_rel(root, f))
        raw.update({group_key: rel.parent.name, "part": rel.parts[0], "id": rel.with_suffix("").as_posix()})
        raw["group"] = raw[group_key]
        return raw if raw.get("Text") else None

    return describe


def _describe_voxceleb(layout: Layout, root: Path, f: Path) -> dict[str, Any]:
    speaker, video = f.parent.parent.name, f.parent.name
    return {"speaker_id": speaker, "video_id": video, "id": f"{speaker}/{video}/{f.stem}", "group": speaker}


def _describe_librispeech(layout: Layout, root: Path, f: Path) -> dict[str, Any] | None:
    speaker, chapter = f.parent.parent.name, f.parent.name
    trans = f.parent / f"{speaker}-{chapter}.trans.txt"
    texts = layout.cached(trans, lambda: _kaldi_map(trans) if trans.is_file() else {})
    if f.stem not in texts:
        return None
    return {"text": texts[f.stem], "id": f.stem, "speaker_id": speaker, "chapter_id": chapter, "group": speaker}


def _describe_aishell(layout: Layout, root: Path, f: Path) -> dict[str, Any] | None:
    def load() -> dict[str, str]:
        hits = sorted(root.glob("transcript/aishell_transcript_v*.txt"))
        return _kaldi_map(hits[-1]) if hits else {}

    texts = layout.cached("transcript", load)
    if f.stem not in texts:
        return None
    split = Path(_rel(root, f)).parts[1]
    speaker = f.parent.name
    return {"text": texts[f.stem].replace(" ", ""), "id": f.stem, "speaker_id": speaker, "split": split,
            "group": speaker}  # fmt: skip


LRS2 = FolderLayout(
    name="lrs2",
    title="LRS2",
    expected="main/<video_id>/<NNNNN>.mp4 + <NNNNN>.txt (or pretrain/...)",
    unit_globs=("main/*", "pretrain/*"),
    media_globs=("*.mp4",),
    describe=_describe_lrs("video_id"),
    columns={"text": "Text", "id": "id", "group": "video_id"},
)
LRS3 = FolderLayout(
    name="lrs3",
    title="LRS3",
    expected="{pretrain,trainval,test}/<youtube_id>/<NNNNN>.mp4 + <NNNNN>.txt",
    unit_globs=("pretrain/*", "trainval/*", "test/*"),
    media_globs=("*.mp4",),
    describe=_describe_lrs("youtube_id"),
    columns={"text": "Text", "id": "id", "group": "youtube_id"},
)
VOXCELEB = FolderLayout(
    name="voxceleb",
    title="VoxCeleb1/2",
    expected="wav/<speaker>/<youtube_id>/<NNNNN>.wav (VoxCeleb1) or [dev/|test/]mp4/<speaker>/<youtube_id>/<NNNNN>.mp4",
    unit_globs=("wav/*", "mp4/*", "dev/mp4/*", "test/mp4/*", "aac/*", "dev/aac/*", "test/aac/*"),
    media_globs=("*/*.wav", "*/*.mp4", "*/*.m4a"),
    describe=_describe_voxceleb,
    columns={"id": "id", "group": "speaker_id"},
)
LIBRISPEECH = FolderLayout(
    name="librispeech",
    title="LibriSpeech",
    expected="<part>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac + <speaker>-<chapter>.trans.txt",
    unit_globs=("*/*/*",),
    media_globs=("*.flac",),
    describe=_describe_librispeech,
    columns={"text": "text", "id": "id", "group": "speaker_id"},
)
AISHELL1 = FolderLayout(
    name="aishell1",
    title="AISHELL-1",
    expected="transcript/aishell_transcript_v0.8.txt + wav/{train,dev,test}/<S>/<id>.wav",
    unit_globs=("wav/train/*", "wav/dev/*", "wav/test/*"),
    media_globs=("*.wav",),
    describe=_describe_aishell,
    columns={"text": "text", "id": "id", "group": "speaker_id"},
)


def _unit_parts_filter(options: dict[str, Any]) -> list[str]:
    return _split_list(options.get("parts") or options.get("split"))


class KaldiLayout(Layout):
    """KeSpeech: ``Tasks/ASR/<part>/{wav.scp,text,utt2spk[,utt2subdialect]}``; one unit per (part, speaker)."""

    name = "kespeech"
    title = "KeSpeech"
    expected = "Tasks/ASR/<part>/wav.scp + text + utt2spk"
    columns = {"text": "text", "id": "id", "group": "speaker_id", "lang": "subdialect"}

    def _part(self, root: Path, part: str) -> dict[str, dict[str, str]]:
        def load() -> dict[str, dict[str, str]]:
            d = root / "Tasks" / "ASR" / part
            maps = {n: _kaldi_map(d / n) for n in ("wav.scp", "text", "utt2spk") if (d / n).is_file()}
            if (d / "utt2subdialect").is_file():
                maps["utt2subdialect"] = _kaldi_map(d / "utt2subdialect")
            return maps

        return self.cached(("part", part), load)

    def units(self, root: Path, options: dict[str, Any]) -> list[Unit]:
        wanted = _unit_parts_filter(options)
        out = []
        for d in _subdirs(root / "Tasks" / "ASR"):
            if wanted and d.name not in wanted:
                continue
            if not all((d / n).is_file() for n in ("wav.scp", "text", "utt2spk")):
                continue
            by_spk: dict[str, int] = defaultdict(int)
            for spk in self._part(root, d.name)["utt2spk"].values():
                by_spk[spk] += 1
            out += [Unit(key=f"{d.name}/{s}", shard=d.name, rows=n, info={"part": d.name, "speaker": s})
                    for s, n in sorted(by_spk.items())]  # fmt: skip
        return out

    def rows(self, root: Path, unit: Unit, options: dict[str, Any]) -> Iterator[Row]:
        part, speaker = unit.info["part"], unit.info["speaker"]
        maps = self._part(root, part)
        for utt, spk in sorted(maps["utt2spk"].items()):
            if spk != speaker or utt not in maps["wav.scp"] or utt not in maps["text"]:
                continue
            wav = Path(maps["wav.scp"][utt])
            if not wav.is_absolute():
                wav = root / wav if (root / wav).exists() else root / "Tasks" / "ASR" / part / wav
            raw = {"text": maps["text"][utt], "id": utt, "speaker_id": spk, "part": part}
            if "utt2subdialect" in maps:
                raw["subdialect"] = maps["utt2subdialect"].get(utt)
            yield Row(key=f"{part}/{utt}", raw=raw, media=wav, group=spk)


class JsonManifestLayout(Layout):
    """Official WenetSpeech/GigaSpeech: ``<Name>.json`` with ``audios[].segments[]``; one unit per recording."""

    def __init__(self, name: str, title: str, manifest: str, columns: dict[str, str]):
        super().__init__()
        self.name, self.title, self.manifest, self.columns = name, title, manifest, columns
        self.expected = f"{manifest} (audios[].segments[]) + the audio files it names"

    def _audios(self, root: Path) -> list[dict[str, Any]]:
        def load() -> list[dict[str, Any]]:
            with open(root / self.manifest, encoding="utf-8") as f:
                return json.load(f).get("audios", [])

        return self.cached("audios", load)

    @staticmethod
    def _subset_ok(segment: dict[str, Any], subset: str | None) -> bool:
        if not subset:
            return True
        wanted = subset.strip("{}").upper()
        return any(str(s).strip("{}").upper() == wanted for s in segment.get("subsets", []))

    def units(self, root: Path, options: dict[str, Any]) -> list[Unit]:
        if not (root / self.manifest).is_file():
            return []
        subset = options.get("subset")
        out = []
        for i, audio in enumerate(self._audios(root)):
            n = sum(self._subset_ok(s, subset) for s in audio.get("segments", []))
            if n:
                aid = str(audio.get("aid", i))
                out.append(Unit(key=aid, shard=str(audio.get("path", aid)), index=i, rows=n, info={"index": i}))
        return out

    def rows(self, root: Path, unit: Unit, options: dict[str, Any]) -> Iterator[Row]:
        audio = self._audios(root)[unit.info["index"]]
        base = {k: v for k, v in audio.items() if k != "segments"}
        path = root / str(audio["path"])
        for seg in audio.get("segments", []):
            if not self._subset_ok(seg, options.get("subset")):
                continue
            raw = {**base, **seg}
            yield Row(key=str(seg.get("sid")), raw=raw, media=path, group=str(audio.get("aid")))


class CommonVoiceLayout(Layout):
    """Common Voice tarball: ``<lang>/{test,dev,train,validated}.tsv`` + ``<lang>/clips/*.mp3``; unit per speaker."""

    name = "common_voice"
    title = "Common Voice"
    expected = "<lang>/<split>.tsv (columns client_id, path, sentence) + <lang>/clips/*.mp3"
    columns = {"text": "sentence", "id": "path", "group": "client_id", "lang": "locale"}

    def _lang_dirs(self, root: Path, options: dict[str, Any]) -> list[Path]:
        if (root / "clips").is_dir():
            return [root]
        lang = options.get("language") or options.get("lang")
        dirs = [d for d in _subdirs(root) if (d / "clips").is_dir()]
        return [d for d in dirs if not lang or d.name == lang]

    def _tsv(self, path: Path) -> list[dict[str, str]]:
        def load() -> list[dict[str, str]]:
            with open(path, encoding="utf-8", newline="") as f:
                return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))

        return self.cached(path, load)

    def units(self, root: Path, options: dict[str, Any]) -> list[Unit]:
        split = options.get("split") or "test"
        out = []
        for d in self._lang_dirs(root, options):
            tsv = d / f"{split}.tsv"
            if not tsv.is_file():
                continue
            by_client: dict[str, int] = defaultdict(int)
            for rec in self._tsv(tsv):
                by_client[rec.get("client_id", "")] += 1
            rel = _rel(root, tsv) if d != root else tsv.name
            out += [Unit(key=f"{rel}#{c[:16]}", shard=rel, rows=n, info={"tsv": rel, "client_id": c})
                    for c, n in sorted(by_client.items())]  # fmt: skip
        return out

    def rows(self, root: Path, unit: Unit, options: dict[str, Any]) -> Iterator[Row]:
        tsv = root / unit.info["tsv"]
        for rec in self._tsv(tsv):
            if rec.get("client_id", "") != unit.info["client_id"] or not rec.get("path"):
                continue
            raw = dict(rec)
            raw.setdefault("locale", tsv.parent.name)
            yield Row(key=f"{tsv.parent.name}/{rec['path']}", raw=raw, media=tsv.parent / "clips" / rec["path"],
                      group=rec.get("client_id"))  # fmt: skip


def caption_window(captions: dict[str, Any], window_s: float) -> dict[str, Any]:
    """HowTo100M: a ``window_s`` window from the first caption, with the text of the captions overlapping it."""
    starts, ends, texts = captions.get("start", []), captions.get("end", []), captions.get("text", [])
    w0 = float(starts[0]) if starts else 0.0
    w1 = w0 + window_s
    parts = [str(t).strip() for s, e, t in zip(starts, ends, texts, strict=False) if float(e) > w0 and float(s) < w1]
    w1 = min(w1, max((float(e) for e in ends), default=w1))
    return {"text": " ".join(p for p in parts if p), "start": w0, "end": w1}


def _video_index(root: Path) -> dict[str, Path]:
    """Video files anywhere under ``root`` by stem (``<video_id>.mp4``), for id-joined layouts."""
    out: dict[str, Path] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in sorted(files):
            p = Path(dirpath) / name
            if p.suffix.lower() in VIDEO_EXT:
                out.setdefault(p.stem, p)
    return out


class How2Layout(Layout):
    """How2: videos ``<video_id>.<ext>`` + Kaldi ``text.en`` (+ ``segments``: utt video start end); unit per video."""

    name = "how2"
    title = "How2"
    expected = "<video_id>.mp4 files + text.en ('<utt_id> <words>'), optional segments ('<utt_id> <video_id> <s> <e>')"
    columns = {"text": "text", "id": "id", "group": "video_id", "start": "start", "end": "end"}

    def _utts(self, root: Path) -> dict[str, list[dict[str, Any]]]:
        def load() -> dict[str, list[dict[str, Any]]]:
            by_video: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for text_file in sorted(root.rglob("text.en")):
                segments = text_file.parent / "segments"
                segs = _kaldi_map(segments) if segments.is_file() else {}
                for utt, text in _kaldi_map(text_file).items():
                    raw: dict[str, Any] = {"id": utt, "text": text}
                    if utt in segs:
                        video, start, end = segs[utt].split()[:3]
                        raw.update(video_id=video, start=float(start), end=float(end))
                    else:
                        raw["video_id"] = utt.rsplit("_", 1)[0]
                    by_video[raw["video_id"]].append(raw)
            return by_video

        return self.cached("utts", load)

    def units(self, root: Path, options: dict[str, Any]) -> list[Unit]:
        videos = self.cached("videos", lambda: _video_index(root))
        return [Unit(key=v, shard=_rel(root, videos[v]), rows=len(u), info={"video_id": v})
                for v, u in sorted(self._utts(root).items()) if v in videos]  # fmt: skip

    def rows(self, root: Path, unit: Unit, options: dict[str, Any]) -> Iterator[Row]:
        video = self.cached("videos", lambda: _video_index(root))[unit.info["video_id"]]
        for raw in self._utts(root)[unit.info["video_id"]]:
            yield Row(key=raw["id"], raw=raw, media=video, group=raw["video_id"])


class HowTo100MLayout(Layout):
    """HowTo100M: videos ``<video_id>.<ext>`` + ``caption.json`` {id: {start[], end[], text[]}}; one clip per video.

    The clip window (``options.window_s``, default 30 s) starts at the first caption; its text joins the
    captions overlapping the window.
    """

    name = "howto100m"
    title = "HowTo100M"
    expected = "<video_id>.mp4 files + caption.json ({video_id: {start: [], end: [], text: []}})"
    columns = {"text": "text", "id": "video_id", "group": "video_id", "start": "start", "end": "end"}

    def _captions(self, root: Path) -> dict[str, Any]:
        def load() -> dict[str, Any]:
            hits = [root / "caption.json"] if (root / "caption.json").is_file() else sorted(root.rglob("caption.json"))
            if not hits:
                return {}
            with open(hits[0], encoding="utf-8") as f:
                return json.load(f)

        return self.cached("captions", load)

    def units(self, root: Path, options: dict[str, Any]) -> list[Unit]:
        captions = self._captions(root)
        videos = self.cached("videos", lambda: _video_index(root))
        return [Unit(key=v, shard=_rel(root, videos[v]), rows=1, info={"video_id": v})
                for v in sorted(captions) if v in videos and captions[v].get("text")]  # fmt: skip

    def rows(self, root: Path, unit: Unit, options: dict[str, Any]) -> Iterator[Row]:
        vid = unit.info["video_id"]
        cap = self._captions(root)[vid]
        raw = {"video_id": vid, **caption_window(cap, float(options.get("window_s", 30)))}
        media = self.cached("videos", lambda: _video_index(root))[vid]
        yield Row(key=vid, raw=raw, media=media, group=vid)


class AudioSetLayout(Layout):
    """AudioSet local clips ``<YTID>_<start>.<ext>`` or ``<YTID>.<ext>`` + ``*segments*.csv`` (+ label names)."""

    name = "audioset"
    title = "AudioSet"
    expected = "*_segments.csv (YTID, start_seconds, end_seconds, positive_labels) + clips <YTID>[_<start>].mp4"
    columns = {"label": "positive_labels", "id": "YTID", "group": "YTID", "start": "start_seconds"}

    def _segments(self, root: Path) -> dict[str, dict[str, Any]]:
        def load() -> dict[str, dict[str, Any]]:
            names: dict[str, str] = {}
            for p in sorted(root.rglob("class_labels_indices.csv")):
                with open(p, encoding="utf-8", newline="") as f:
                    names.update({r["mid"]: r["display_name"] for r in csv.DictReader(f)})
            out: dict[str, dict[str, Any]] = {}
            for p in sorted(root.rglob("*segments*.csv")):
                with open(p, encoding="utf-8", newline="") as f:
                    lines = [ln for ln in f if not ln.startswith("#")]
                for rec in csv.reader(lines, skipinitialspace=True):
                    if len(rec) < 4:
                        continue
                    mids = [m.strip() for m in rec[3].split(",") if m.strip()]
                    out[rec[0]] = {"YTID": rec[0], "start_seconds": float(rec[1]), "end_seconds": float(rec[2]),
                                   "positive_labels": ", ".join(names.get(m, m) for m in mids)}  # fmt: skip
            return out

        return self.cached("segments", load)

    def units(self, root: Path, options: dict[str, Any]) -> list[Unit]:
        segs = self._segments(root)
        out = []
        for dirpath, _dirs, files in os.walk(root):
            for name in sorted(files):
                p = Path(dirpath) / name
                if p.suffix.lower() not in VIDEO_EXT | AUDIO_EXT:
                    continue
                m = re.match(r"^(?P<id>.+?)(?:_(?P<start>\d+(?:\.\d+)?))?$", p.stem)
                ytid = m.group("id") if m and m.group("id") in segs else p.stem
                if ytid in segs:
                    out.append(Unit(key=_rel(root, p), shard=_rel(root, p), rows=1, info={"file": _rel(root, p),
                                                                                          "ytid": ytid}))  # fmt: skip
        return sorted(out, key=lambda u: u.key)

    def rows(self, root: Path, unit: Unit, options: dict[str, Any]) -> Iterator[Row]:
        raw = dict(self._segments(root)[unit.info["ytid"]])
        # local clips are already the 10 s segment: the window applies to the original video only
        yield Row(key=unit.info["file"], raw=raw, media=root / unit.info["file"], group=raw["YTID"])


class FolderMetadataLayout(Layout):
    """HF audiofolder/videofolder: media files + ``metadata.jsonl`` / ``metadata.csv`` with ``file_name``."""

    name = "folder"
    title = "audiofolder/videofolder"
    expected = "metadata.jsonl or metadata.csv (column file_name) next to the media files"
    columns = {"text": "text", "id": "file_name"}
    chunk = 100  # rows per unit

    def _records(self, path: Path) -> list[dict[str, Any]]:
        def load() -> list[dict[str, Any]]:
            with open(path, encoding="utf-8", newline="") as f:
                if path.suffix == ".jsonl":
                    return [json.loads(line) for line in f if line.strip()]
                return list(csv.DictReader(f))

        return self.cached(path, load)

    def units(self, root: Path, options: dict[str, Any]) -> list[Unit]:
        files = [p for p in (root / "metadata.jsonl", root / "metadata.csv") if p.is_file()]
        for d in _subdirs(root):
            files += [p for p in (d / "metadata.jsonl", d / "metadata.csv") if p.is_file()]
        split = options.get("split")
        out = []
        for meta in files:
            rel = _rel(root, meta)
            if split and meta.parent != root and meta.parent.name != split:
                continue
            n = len(self._records(meta))
            chunk = int(options.get("rows_per_unit", self.chunk))
            for i in range(0, n, chunk):
                stop = min(n, i + chunk)
                info = {"file": rel, "start": i, "stop": stop}
                out.append(Unit(key=f"{rel}#{i}", shard=rel, index=i // chunk, rows=stop - i, info=info))
        return out

    def rows(self, root: Path, unit: Unit, options: dict[str, Any]) -> Iterator[Row]:
        meta = root / unit.info["file"]
        for rec in self._records(meta)[unit.info["start"] : unit.info["stop"]]:
            name = rec.get("file_name")
            if not name:
                continue
            yield Row(key=f"{_rel(root, meta.parent)}/{name}", raw=dict(rec), media=meta.parent / name)


LAYOUTS: dict[str, Callable[[], Layout]] = {
    "lrs2": lambda: LRS2,
    "lrs3": lambda: LRS3,
    "voxceleb": lambda: VOXCELEB,
    "voxceleb1": lambda: VOXCELEB,
    "voxceleb2": lambda: VOXCELEB,
    "librispeech": lambda: LIBRISPEECH,
    "aishell1": lambda: AISHELL1,
    "aishell": lambda: AISHELL1,
    "kespeech": KaldiLayout,
    "wenetspeech": lambda: JsonManifestLayout(
        "wenetspeech",
        "WenetSpeech",
        "WenetSpeech.json",
        {"text": "text", "id": "sid", "group": "aid", "start": "begin_time", "end": "end_time"},
    ),  # fmt: skip
    "gigaspeech": lambda: JsonManifestLayout(
        "gigaspeech",
        "GigaSpeech",
        "GigaSpeech.json",
        {"text": "text_tn", "id": "sid", "group": "aid", "start": "begin_time", "end": "end_time"},
    ),  # fmt: skip
    "common_voice": CommonVoiceLayout,
    "how2": How2Layout,
    "howto100m": HowTo100MLayout,
    "audioset": AudioSetLayout,
    "folder": FolderMetadataLayout,
    "audiofolder": FolderMetadataLayout,
    "videofolder": FolderMetadataLayout,
}


def _listing(root: Path, limit: int = 8) -> str:
    try:
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
    except OSError:
        return "nothing readable"
    if not names:
        return "an empty folder"
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


class LocalCorpusSource:
    """Source kind ``local``: a user's copy of a corpus, read by the importer named in the spec."""

    def __init__(self, spec: SourceSpec, local_path: str | os.PathLike[str] | None = None):
        self.spec = spec
        self.options = dict(spec.options)
        if spec.split and "split" not in self.options:
            self.options["split"] = spec.split
        layout_name = (self.options.get("layout") or spec.adapter or "").lower().replace("-", "_")
        if layout_name not in LAYOUTS:
            known = ", ".join(sorted(LAYOUTS))
            raise SourceUnavailable(
                f"unknown local layout {layout_name or '(none)'}; set options.layout to one of {known}", reason="layout"
            )
        self.layout = LAYOUTS[layout_name]()
        if isinstance(self.layout, FolderLayout):  # module-level tables are shared: give each source its cache
            self.layout = FolderLayout(**{k: getattr(self.layout, k) for k in FolderLayout.__dataclass_fields__})
        given = local_path if local_path is not None else self.options.get("path")
        self.path = Path(os.path.expanduser(os.fspath(given))) if given else None
        self.root: Path | None = None
        self.skipped: dict[str, int] = defaultdict(int)  # reason -> rows skipped (missing media file, ...)

    @property
    def bytes_read(self) -> int:
        return 0  # local files: nothing crosses the network

    def units(self) -> list[Unit]:
        title = self.layout.title
        if self.path is None:
            raise SourceUnavailable(
                f"{title} needs a local copy: pass --local-path or options.path (expected {self.layout.expected})",
                reason="needs_local_copy",
            )
        if not self.path.is_dir():
            raise SourceUnavailable(f"{self.path}: local {title} copy not found (not a folder)", reason="layout")
        # accept the corpus root itself or a folder that wraps it (LibriSpeech/, data_aishell/, mvlrs_v1/, ...),
        # or one holding several corpora (--local-path /data for /data/lrs2/mvlrs_v1, /data/lrs3, ...)
        children = _subdirs(self.path)
        for root in [self.path, *children, *(g for c in children for g in _subdirs(c))]:
            units = self.layout.units(root, self.options)
            if units:
                self.root = root
                return units
        raise SourceUnavailable(
            f"{self.path}: not a {title} layout: expected {self.layout.expected}; found {_listing(self.path)}",
            reason="layout",
        )

    def read(self, unit: Unit) -> Iterator[Candidate]:
        if self.root is None:
            self.units()
        root = self.root
        assert root is not None
        mapping = {**self.layout.columns, **self.spec.columns}
        for row in self.layout.rows(root, unit, self.options):
            if not row.media.is_file():
                self.skipped["missing_media"] += 1
                continue
            fields = {ours: row.raw[theirs] for ours, theirs in mapping.items()
                      if ours not in _MEDIA_KEYS and theirs in row.raw}  # fmt: skip
            group = fields.get("group", row.group)
            media = row.media
            rel = _rel(root, media) if media.is_relative_to(root) else os.fspath(media)
            blob = MediaBlob(name=rel, opener=functools.partial(open, media, "rb"))
            yield Candidate(
                key=f"{self.layout.name}:{row.key}",
                fields=fields,
                media={media_kind(media): blob},
                provenance=Provenance(kind="local", file=rel),
                group=str(group) if group is not None else None,
            )


def open_source(spec: SourceSpec, *, token: str | None = None, dataset: str | None = None,
                local_path: str | os.PathLike[str] | None = None, **_: Any) -> LocalCorpusSource:
    """``sources.factory`` entry point: the user's copy at ``local_path`` (``--local-path``) or ``options.path``."""
    return LocalCorpusSource(spec, local_path=local_path)
