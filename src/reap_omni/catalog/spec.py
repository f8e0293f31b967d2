"""Declarative dataset and source specifications.

A catalog entry is data: names, stratum, modality, task, licence, gating, bilingual descriptions and
an ordered list of ``SourceSpec``s tried in turn. Facts marked unverified in the references are plain
fields here, so a user can override them (``--source-option key=value``) when the world changes.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Stratum = Literal["S1", "S2", "S3"]
Modality = Literal["audio", "video", "mixed"]
SourceKind = Literal[
    "hf_parquet",  # parquet files in a Hub repo (main, refs/convert/parquet, refs/pr/N): row-group reads
    "hf_tar",  # tar/tar.gz files in a Hub repo, streamed member by member, paired with a metadata file
    "http_tar",  # tar/tar.gz behind a plain HTTP URL (OpenSLR, CVDF), streamed, stopped after N samples
    "zip_range",  # members of a remote zip (Hub or HTTP) read through Range requests
    "hf_files",  # loose files in a Hub repo plus an annotation file
    "youtube",  # YouTube ids with time windows (optional extra [youtube])
    "local",  # a user-supplied local copy (licence-gated corpora), read by a layout importer
    "mdc",  # Mozilla Data Collective (Common Voice)
]


class SourceSpec(msgspec.Struct, kw_only=True, omit_defaults=True, frozen=True):
    """One way to obtain a dataset's rows. Field names describe the *source's* own layout."""

    kind: SourceKind
    repo: str | None = None  # Hub repo id (datasets), e.g. "openslr/librispeech_asr"
    fallback_repos: tuple[str, ...] = ()  # tried in order when ``repo`` is missing (lmms-eval -> lmms-lab)
    revision: str | None = None  # commit sha or branch; pinned where known
    config: str | None = None
    split: str | None = None
    files: tuple[str, ...] = ()  # glob(s) of data files inside the repo/revision, e.g. "clean/test/*.parquet"
    url: str | None = None  # http(s) URL of an archive or annotation file
    metadata: str | None = None  # annotation file (path in repo or URL) joined to media members
    #: our field -> the source's column/key, e.g. {"audio": "audio", "text": "text", "group": "speaker_id"}
    columns: dict[str, str] = msgspec.field(default_factory=dict)
    text_cleaner: str | None = None  # name in reap_omni.catalog.text (e.g. "gigaspeech")
    adapter: str | None = None  # module in reap_omni.catalog.adapters for truly special layouts
    options: dict[str, Any] = msgspec.field(default_factory=dict)  # kind-specific settings
    verified: bool = True  # False when any fact of this source is [unverified] in the references
    note: str = ""  # what the user must do / why this source may fail


class DatasetSpec(msgspec.Struct, kw_only=True, omit_defaults=True, frozen=True):
    """A dataset the toolkit knows: what it is and the ordered ways to get a sample of it."""

    name: str  # canonical key, e.g. "librispeech"
    title: str  # display name, e.g. "LibriSpeech"
    stratum: Stratum
    modality: Modality
    task: str  # asr, caption, classification, qa, translation, speaker, emotion, ...
    description_en: str
    description_zh: str
    scale: str  # e.g. "960 h"
    licence: str
    homepage: str
    sources: tuple[SourceSpec, ...]
    aliases: tuple[str, ...] = ()
    gated: bool = False
    access: str = ""  # how to get access when gated (English); shown in errors and docs
    access_zh: str = ""
    languages: tuple[str, ...] = ()
    extended: bool = False  # part of extended_datasets.py rather than the seed README's list
    recommended: bool = False  # part of the quickstart mix
