"""Importers for user-supplied local copies of licence-gated corpora (source kind ``local``).

Corpora such as LRS2/3, VoxCeleb, KeSpeech or the official GigaSpeech/WenetSpeech releases cannot be
downloaded by us; the user points ``options.path`` (or ``--local-path``) at their copy and an importer
that knows the corpus's published layout turns it into candidates. Nothing here touches the network.
Units are speaker / video / recording folders, so the sampler can spread a sample across them.

Each importer yields raw rows in the corpus's own vocabulary (``Text``, ``client_id``, ``text_tn``...);
``SourceSpec.columns`` (catalog) maps them to our fields, over per-layout defaults.
"""

from __future__ import annotations

import functools
import os
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from reap_omni.catalog.spec import SourceSpec
from reap_omni.sources.base import Candidate, MediaBlob, Provenance, SourceUnavailable, Unit
from reap_omni.sources.local_corpora.aishell import AISHELL1
from reap_omni.sources.local_corpora.audioset import AudioSetLayout
from reap_omni.sources.local_corpora.common_voice import CommonVoiceLayout
from reap_omni.sources.local_corpora.folder import FolderMetadataLayout
from reap_omni.sources.local_corpora.how2 import How2Layout
from reap_omni.sources.local_corpora.howto100m import HowTo100MLayout
from reap_omni.sources.local_corpora.json_manifest import JsonManifestLayout
from reap_omni.sources.local_corpora.kespeech import KaldiLayout
from reap_omni.sources.local_corpora.layout import MEDIA_KEYS, FolderLayout, Layout, media_kind, rel_path, subdirs
from reap_omni.sources.local_corpora.librispeech import LIBRISPEECH
from reap_omni.sources.local_corpora.lrs import LRS2, LRS3
from reap_omni.sources.local_corpora.voxceleb import VOXCELEB

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
        children = subdirs(self.path)
        for root in [self.path, *children, *(g for c in children for g in subdirs(c))]:
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
                      if ours not in MEDIA_KEYS and theirs in row.raw}  # fmt: skip
            group = fields.get("group", row.group)
            media = row.media
            rel = rel_path(root, media) if media.is_relative_to(root) else os.fspath(media)
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
