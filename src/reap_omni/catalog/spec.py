"""Declarative dataset and source specifications.

A catalog entry is data: names, stratum, modality, task, licence, gating, bilingual descriptions and
an ordered list of ``SourceSpec``s tried in turn. Facts marked unverified in the references are plain
fields here, so a user can override them (``--source-option key=value``, see ``registry.apply_overrides``)
when the world changes, and a reader that finds something else names the key to change
(``mismatch_message``).

Column keys (``SourceSpec.columns``: our field -> the source's column, tsv/csv header or JSON key)
-------------------------------------------------------------------------------------------------
Media (required when present in the mapping; a row without them is skipped):

* ``audio`` / ``video``: a column holding ``{"bytes", "path"}`` (HF ``Audio``/``Video`` storage), a path
  column, or, for archive kinds, the column that names the member (see ``options.member_template``).

Text-producing fields (a missing column is a layout error naming the real columns):

* ``text`` transcript or caption; ``caption``; ``translation``; ``label`` (class name, or a ClassLabel int
  that the reader maps through the parquet features); ``question``; ``options``; ``answer``.

Optional fields (a missing column leaves the field empty, with a warning):

* ``id`` original id; ``group`` speaker / recording / source video (diversity across the sample);
  ``lang``; ``start`` / ``end`` (seconds, clip window inside the media); ``duration``.

Text rows (stratum S0, modality ``text``): ``question`` (the instruction) and ``answer``, or ``messages`` (a chat,
a list of ``{role, content}``: its first user turn is the question, the assistant's reply after it the answer).
The answer becomes the row's ``text`` and the question ``meta.question``, newlines kept (code and worked
solutions need them); no template applies (``catalog.text.text_row``).

Value syntax: ``"col"`` one column; ``"a,b,c"`` gathers several columns into a list (LongVideoBench
``option0..option4``); ``"col[0]"`` takes one element of a list column (VATEX ``enCap[0]``).

Text rendering (implemented once in ``reap_omni.catalog.text.render_text``)
--------------------------------------------------------------------------
1. ``field_cleaners`` (field -> cleaner name) clean single fields, e.g. the ActivityNet-QA question;
2. ``text_template`` (``str.format`` over our field names) builds the text, e.g.
   ``"the sound of {label}"`` or ``"{question} {options} Answer: {answer}"``. ``None`` means the
   ``text`` field as is; ``""`` means no text at all (VoxCeleb). A list field renders as ``"A. x B. y"``;
   an integer ``answer`` with options renders as the lettered option; newlines collapse to spaces;
3. ``text_cleaner`` cleans the rendered text and may return ``None`` to drop the row (GigaSpeech
   non-speech segments); whitespace is always collapsed.

Kind-specific ``options`` keys used by the entries (each reader documents what it honours):

* archives: ``member_template`` (``str.format`` over the *source* row, e.g. ``"{id}.wav"``),
  ``member_column`` + ``member_match`` (``"exact" | "suffix" | "stem"``: how a metadata value finds its
  member), ``nested`` (glob of inner archives to stream), ``byte_split`` (parts of one tar split by bytes:
  stream a prefix), ``metadata_format`` (``"tsv" | "csv" | "psv" | "json" | "jsonl" | "parquet" |
  "lhotse_cuts" | "kaldi" | "trans_txt"``), ``metadata_repo`` (annotation file lives in another repo),
  ``group_pattern`` (regex with one group taking the speaker/video id from a member path),
  ``split_pattern`` (regex a member path must match, e.g. ``"/test/"``), ``url_is_list`` (``url`` is a
  text file of archive URLs);
* hf_parquet: ``files`` empty means resolve ``config``/``split`` like ``datasets`` does (card ``configs:``
  data_files, then ``<config>/<split>/*.parquet``, ``<config>/partial-<split>/``, ``*-<split>-*.parquet``);
  list the branch at run time, never hard-code ``refs/convert/parquet`` file names;
* archives, more: ``member_glob`` (members to take when there is no metadata, VoxCeleb), ``csv_header``
  (column names of a header-less CSV), ``tar_modes`` (tarfile modes to try, ``["r|gz", "r|"]``),
  ``metadata_fallback_repos`` / ``metadata_revision`` (where ``metadata`` lives when not beside the media),
  ``metadata_member`` (the annotation file is this member of the archive ``metadata`` names, Charades),
  ``label_names_url`` (id -> name table for labels); ``metadata_format`` may also be ``"howto100m_captions"``;
* local: ``path`` (the user's copy), ``layout`` (importer name when not ``adapter``), ``split`` / ``subset`` /
  ``language`` (which part of the corpus); importers bring default column maps, ``columns`` overrides them;
* any kind: ``filter`` ({column: value} equality filter on source rows), ``window_s`` (cut long videos to
  this many seconds around ``start``), ``json_items`` (key of the list inside a JSON annotation file),
  ``optional_columns`` (extra fields, beyond the always-optional ones, whose absence is not an error).

``column_names`` and ``extract_field`` implement the value syntax, so every reader agrees on it.

Splits
------
A source reads a non-evaluation split (``train``, or ``validation``/``dev`` where train is huge or absent)
whenever the dataset has one: calibrating on a benchmark's test split contaminates the pruned model's results
on it. Where a source has nothing else (mteb's test-only repos, a test zip), ``eval_split=True`` says so as
data and ``split`` names the split; the rows' ``source`` then carries ``eval_split: true`` and the build summary
names the benchmark. ``registry.EVAL_SPLIT_NAMES`` lists the split names treated as evaluation splits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import msgspec

Stratum = Literal["S0", "S1", "S2", "S3"]
Modality = Literal["text", "audio", "video", "mixed"]
SourceKind = Literal[
    "hf_parquet",  # parquet files in a Hub repo (main, refs/convert/parquet, refs/pr/N): row-group reads
    "hf_tar",  # tar/tar.gz files in a Hub repo, streamed member by member, paired with a metadata file
    "http_tar",  # tar/tar.gz behind a plain HTTP URL (OpenSLR, CVDF), streamed, stopped after N samples
    "zip_range",  # members of a remote zip (Hub or HTTP) read through Range requests
    "hf_files",  # loose files in a Hub repo plus an annotation file
    "hf_json",  # JSON/JSONL data files of a Hub repo (text sets with no parquet export), fetched whole
    "youtube",  # YouTube ids with time windows (optional extra [youtube])
    "local",  # a user-supplied local copy (licence-gated corpora), read by a layout importer
    "mdc",  # Mozilla Data Collective (Common Voice)
]
SOURCE_KINDS: tuple[str, ...] = SourceKind.__args__  # type: ignore[attr-defined]
STRATUM_MODALITY: dict[str, str] = {"S0": "text", "S1": "audio", "S2": "video", "S3": "mixed"}
#: Column keys a reader may be asked to fill (see the module docstring).
COLUMN_KEYS: tuple[str, ...] = (
    "audio", "video", "text", "caption", "translation", "label", "question", "options", "answer",
    "id", "group", "lang", "start", "end", "duration", "messages",
)
OPTIONAL_COLUMN_KEYS: tuple[str, ...] = ("id", "group", "lang", "start", "end", "duration")


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
    text_template: str | None = None  # str.format over our fields; None: the ``text`` field; "": no text
    field_cleaners: dict[str, str] = msgspec.field(default_factory=dict)  # field -> cleaner, before template
    text_cleaner: str | None = None  # name in reap_omni.catalog.text (e.g. "gigaspeech"), after template
    adapter: str | None = None  # module in reap_omni.catalog.adapters, or the local importer's layout name
    options: dict[str, Any] = msgspec.field(default_factory=dict)  # kind-specific settings
    gated: bool = False  # needs a token and accepted terms (HF) or an API key (MDC)
    opt_in: bool = False  # never tried unless the user asks for it (licence/redistribution risk)
    verified: bool = True  # False when any fact of this source is [unverified] in the references
    #: the source offers only a benchmark's evaluation split (mteb's test-only repos, a test zip): its manifest
    #: rows carry ``eval_split: true`` and the build summary names the benchmark (see ``split`` for which one)
    eval_split: bool = False
    note: str = ""  # what the user must do / why this source may fail / which option to change


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
    #: catalog names to use instead when no source can give this dataset's modality (AudioSet -> VALOR-32K)
    substitutes: tuple[str, ...] = ()
    note: str = ""  # dataset-level caveat shown in docs and when every source fails
    note_zh: str = ""


_INDEXED = re.compile(r"^(?P<col>.+)\[(?P<idx>-?\d+)\]$")


def column_names(value: str) -> list[str]:
    """Source columns a mapping value reads: ``"a,b"`` -> ``["a", "b"]``, ``"enCap[0]"`` -> ``["enCap"]``."""
    out = []
    for part in value.split(","):
        part = part.strip()
        m = _INDEXED.match(part)
        out.append(m.group("col") if m else part)
    return [p for p in out if p]


def extract_field(row: Mapping[str, Any], value: str) -> Any:
    """The value a mapping reads from ``row`` (``KeyError`` naming the column when it is absent).

    ``"col"`` -> ``row["col"]``; ``"a,b"`` -> ``[row["a"], row["b"]]`` (``None`` entries dropped);
    ``"col[i]"`` -> ``row["col"][i]`` (``None`` when the list is shorter).
    """
    if "," in value:
        items = [extract_field(row, part.strip()) for part in value.split(",") if part.strip()]
        return [item for item in items if item is not None]
    m = _INDEXED.match(value)
    if m:
        seq = row[m.group("col")]
        idx = int(m.group("idx"))
        try:
            return seq[idx] if seq is not None else None
        except (IndexError, TypeError, KeyError):
            return None
    return row[value]


def mismatch_message(dataset: str, key: str, assumed: Any, found: Any, source_index: int = 0) -> str:
    """The one-line error a reader raises when a catalog fact is wrong: what was assumed, what is there,
    and the ``--source-option`` that fixes it."""
    if isinstance(found, (list, tuple, set)):
        shown = ", ".join(map(str, list(found)[:30])) + (" ..." if len(found) > 30 else "")
        found_text = f"[{shown}]"
    else:
        found_text = str(found)
    return (
        f"{dataset}: source #{source_index} assumed {key}={assumed!r} but found {found_text}; "
        f"fix it with --source-option {dataset}:{source_index}:{key}=<value>"
    )
