"""Lookup over every catalog entry: names, aliases, selection by modality, JSON view, overrides.

Names are matched loosely (case, ``-``, ``_``, spaces and dots ignored), so ``MSR-VTT``, ``msr_vtt`` and
``msrvtt`` are the same dataset, as users type them in the seed README's commands.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from reap_omni.catalog import (
    entries_audio,
    entries_av,
    entries_extended,
    entries_mixed,
    entries_text,
    entries_video,
)
from reap_omni.catalog.spec import STRATUM_MODALITY, DatasetSpec, SourceSpec
from reap_omni.errors import ReapOmniError

MODALITY_CHOICES = ("audio", "video", "mixed", "text", "all")
#: the omni strata, then the text stratum S0 (the catalog docs and `list` show them in this order)
STRATA = ("S1", "S2", "S3", "S0")


def normalize_name(name: str) -> str:
    """The key names and aliases are compared by."""
    return re.sub(r"[\s_.\-]+", "", name.strip().lower())


@functools.cache
def all_datasets() -> tuple[DatasetSpec, ...]:
    """Every entry, seed datasets first (S1, S2, S3 in seed README order), then the extended set (the S3 training
    copies of ``entries_av`` first), then the text (S0) sets."""
    return (entries_audio.DATASETS + entries_video.DATASETS + entries_mixed.DATASETS + entries_av.DATASETS
            + entries_extended.DATASETS + entries_text.DATASETS)


@functools.cache
def _index() -> dict[str, DatasetSpec]:
    index: dict[str, DatasetSpec] = {}
    for spec in all_datasets():
        for key in (spec.name, *spec.aliases):
            norm = normalize_name(key)
            other = index.get(norm)
            if other is not None and other is not spec:
                raise RuntimeError(f"catalog name clash: {key!r} of {spec.name} is also {other.name}")
            index[norm] = spec
    return index


def get_dataset(name: str) -> DatasetSpec:
    """The entry called ``name`` (or one of its aliases); a near miss suggests the closest names."""
    spec = _index().get(normalize_name(name))
    if spec is not None:
        return spec
    keys = {normalize_name(k): k for s in all_datasets() for k in (s.name, *s.aliases)}
    close = difflib.get_close_matches(normalize_name(name), list(keys), n=3, cutoff=0.6)
    names = list(dict.fromkeys(_index()[c].name for c in close))
    hint = f"; did you mean {' or '.join(names)}?" if names else ""
    raise ReapOmniError(f"unknown dataset {name!r}{hint} (reap-omni list --all shows every dataset)")


def select(
    names: Sequence[str] | None = None,
    modality: str = "all",
    include_extended: bool = False,
    recommended_only: bool = False,
) -> list[DatasetSpec]:
    """Entries to work on: the named ones (extended allowed when named), or all of a modality.

    ``names`` and ``modality`` together keep the named datasets of that modality, and fail if a named one
    has another modality, since a silent drop would shrink the user's calibration set.
    """
    if modality not in MODALITY_CHOICES:
        raise ReapOmniError(f"unknown modality {modality!r}; choose one of {', '.join(MODALITY_CHOICES)}")
    if names:
        chosen = list({spec.name: spec for spec in map(get_dataset, names)}.values())
        if modality != "all":
            wrong = [s.name for s in chosen if s.modality != modality]
            if wrong:
                raise ReapOmniError(f"{', '.join(wrong)} not {modality} dataset(s); drop --modality or the name")
        return chosen
    out = [s for s in all_datasets() if modality == "all" or s.modality == modality]
    if recommended_only:  # the quickstart mix, wherever its datasets are listed (AVSpeech is an extended one)
        return [s for s in out if s.recommended]
    if not include_extended and modality != "text":  # every text set is an extended one: the seed list has none
        out = [s for s in out if not s.extended]
    return out


# --- routes -------------------------------------------------------------------------------------------

ROUTE_LABELS = {
    "hf_parquet": "Hub parquet",
    "hf_tar": "Hub tar stream",
    "http_tar": "HTTP tar stream",
    "zip_range": "zip range read",
    "hf_files": "Hub files",
    "hf_json": "Hub JSON files",
    "youtube": "YouTube (optional)",
    "local": "user-supplied local copy",
    "mdc": "Mozilla Data Collective",
}
ROUTE_LABELS_ZH = {
    "hf_parquet": "Hub parquet",
    "hf_tar": "Hub tar 流式读取",
    "http_tar": "HTTP tar 流式读取",
    "zip_range": "zip 范围读取",
    "hf_files": "Hub 文件",
    "hf_json": "Hub JSON 文件",
    "youtube": "YouTube（可选）",
    "local": "用户提供本地副本",
    "mdc": "Mozilla Data Collective",
}
_AUTOMATIC = {"hf_parquet", "hf_tar", "http_tar", "zip_range", "hf_files", "hf_json", "mdc"}

#: split names that are a benchmark's evaluation data (a source reading one must say ``eval_split=True``)
EVAL_SPLIT_NAMES = re.compile(r"^(test|eval)", re.IGNORECASE)


def is_eval_split_name(split: str | None) -> bool:
    """Whether ``split`` names evaluation data by its name alone (``test``, ``test.clean``, ``test_net``,
    ``eval``); ``validation``/``dev`` are not, though some benchmarks report on them (``eval_split`` says so)."""
    return bool(split) and bool(EVAL_SPLIT_NAMES.match(split.strip()))


def source_split(src: SourceSpec) -> str | None:
    """The split a source reads: its ``split`` field, else its importer/MDC ``options.split``/``subset``."""
    return src.split or src.options.get("split") or src.options.get("subset") or None


def default_sources(spec: DatasetSpec) -> list[SourceSpec]:
    """The sources a build tries without ``--opt-in`` or ``--local-path`` (local copies and opt-in routes left out)."""
    return [s for s in spec.sources if not s.opt_in and s.kind != "local"]


def primary_source(spec: DatasetSpec) -> SourceSpec | None:
    """The first source a default build tries (None when only local or opt-in routes exist)."""
    return next(iter(default_sources(spec)), None)


def split_label(spec: DatasetSpec, zh: bool = False) -> str:
    """The split the primary source reads and whether a benchmark evaluates on it, for ``list`` and the docs:
    ``train.100``, ``test (eval split)``. The mark comes from the source's ``eval_split`` (the catalog's evidence:
    ESC-50's ``train`` is mteb's benchmark split), not from the split's name."""
    src = primary_source(spec)
    split = source_split(src) if src is not None else None
    if not split:
        return ""
    if src is not None and src.eval_split:
        return f"{split}（评测划分）" if zh else f"{split} (eval split)"
    return split


def availability(spec: DatasetSpec) -> str:
    """How a user gets rows without extra effort.

    ``open`` the dataset and its first automatic source need no account; ``gated+mirror`` the dataset is
    gated (account/terms) but a third-party mirror among the default sources downloads without a token;
    ``gated`` every default automatic source needs access; ``opt_in`` only an opt-in route (YouTube,
    mirror with licence risk) downloads; ``local`` only a user-supplied copy works.
    """
    auto = [s for s in spec.sources if not s.opt_in and s.kind in _AUTOMATIC]
    if auto and not spec.gated and not auto[0].gated:
        return "open"
    if any(not s.gated for s in auto):
        return "gated+mirror"
    if auto:
        return "gated"
    if any(s.kind != "local" for s in spec.sources):
        return "opt_in"
    return "local"


def route(spec: DatasetSpec, zh: bool = False) -> str:
    """Short human description of the ordered sources, e.g. "Hub parquet → HTTP tar stream" (``list`` and the
    docs tables show it beside ``split_label``)."""
    labels = ROUTE_LABELS_ZH if zh else ROUTE_LABELS
    return " → ".join(dict.fromkeys(labels[s.kind] for s in spec.sources))


# --- JSON view ----------------------------------------------------------------------------------------


def as_dict(spec: DatasetSpec) -> dict[str, Any]:
    """Plain-JSON view of an entry plus derived ``route``/``availability`` (for ``list --json``)."""
    data = msgspec.to_builtins(spec)
    data["route"] = route(spec)
    data["availability"] = availability(spec)
    src = primary_source(spec)
    data["split"] = source_split(src) if src is not None else None
    data["eval_split"] = bool(src is not None and src.eval_split)
    return data


def as_json(specs: Iterable[DatasetSpec], indent: int = 2) -> str:
    """The entries as a JSON array (stable key order, UTF-8 kept readable)."""
    return json.dumps([as_dict(s) for s in specs], ensure_ascii=False, indent=indent)


# --- overrides (--source-option DATASET[:INDEX]:KEY=VALUE) --------------------------------------------

_SOURCE_FIELDS = set(SourceSpec.__struct_fields__)
_TUPLE_FIELDS = {"files", "fallback_repos"}
_BOOL_FIELDS = {"gated", "opt_in", "verified", "eval_split"}
_DICT_FIELDS = {"columns", "options", "field_cleaners"}


def parse_source_option(text: str) -> tuple[str, int | None, str, str]:
    """``"gigaspeech:0:split=validation"`` -> ``("gigaspeech", 0, "split", "validation")``; index optional."""
    head, sep, value = text.partition("=")
    parts = head.split(":")
    if not sep or len(parts) not in (2, 3) or not all(p.strip() for p in parts):
        raise ReapOmniError(f"bad --source-option {text!r}; expected DATASET[:INDEX]:KEY=VALUE, e.g. "
                            "gigaspeech:0:split=validation or vatex:columns.text=caption")
    index: int | None = None
    if len(parts) == 3:
        if not parts[1].isdigit():
            raise ReapOmniError(f"bad --source-option {text!r}: source index {parts[1]!r} is not a number")
        index = int(parts[1])
    return get_dataset(parts[0]).name, index, parts[-1].strip(), value


def _coerce(value: str) -> Any:
    """Values given on the command line: JSON when it parses (numbers, lists, true), else the string."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def _tuple_value(value: str, key: str, dataset: str) -> tuple[str, ...]:
    """A list field from the command line: a JSON list (``["a/*.parquet", "b/*.parquet"]``) or ``a,b``."""
    if value.lstrip().startswith("["):
        try:
            items = json.loads(value)
        except ValueError as exc:
            raise ReapOmniError(f"{dataset}: {key}={value!r} is not a valid JSON list: {exc}") from None
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise ReapOmniError(f"{dataset}: {key} takes a JSON list of strings, got {value!r}")
        return tuple(v.strip() for v in items if v.strip())
    return tuple(v.strip() for v in value.split(",") if v.strip())


def override_source(source: SourceSpec, key: str, value: str, dataset: str = "") -> SourceSpec:
    """A copy of ``source`` with one field (``split``) or one mapping entry (``columns.text``) replaced."""
    field, _, sub = key.partition(".")
    if field not in _SOURCE_FIELDS:
        raise ReapOmniError(f"{dataset}: unknown source key {field!r}; known: {', '.join(sorted(_SOURCE_FIELDS))}")
    if field in _DICT_FIELDS:
        if not sub:
            raise ReapOmniError(f"{dataset}: {field} needs a sub-key, e.g. {field}.text=VALUE")
        mapping = dict(getattr(source, field))
        if value == "":
            mapping.pop(sub, None)
        else:
            mapping[sub] = _coerce(value) if field == "options" else value
        new: Any = mapping
    elif sub:
        raise ReapOmniError(f"{dataset}: source key {field!r} has no sub-keys")
    elif field in _TUPLE_FIELDS:
        new = _tuple_value(value, key, dataset)
    elif field in _BOOL_FIELDS:
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ReapOmniError(f"{dataset}: {field} takes true or false, not {value!r}")
        new = value.lower() in ("true", "1", "yes")
    else:
        new = value or None
    try:
        return msgspec.convert(
            {**msgspec.to_builtins(source), field: new}, SourceSpec, strict=False
        )
    except msgspec.ValidationError as exc:
        raise ReapOmniError(f"{dataset}: invalid value {value!r} for {key}: {exc}") from None


def apply_overrides(spec: DatasetSpec, overrides: Iterable[tuple[int | None, str, str]]) -> DatasetSpec:
    """``spec`` with ``(source_index or None for all, key, value)`` overrides applied."""
    sources = list(spec.sources)
    for index, key, value in overrides:
        if index is not None and not 0 <= index < len(sources):
            raise ReapOmniError(f"{spec.name} has sources 0..{len(sources) - 1}, not {index}")
        targets = range(len(sources)) if index is None else [index]
        for i in targets:
            sources[i] = override_source(sources[i], key, value, spec.name)
    return msgspec.structs.replace(spec, sources=tuple(sources))


def apply_source_options(specs: Sequence[DatasetSpec], options: Sequence[str]) -> list[DatasetSpec]:
    """Apply ``--source-option`` strings to the selected entries; an option for an unselected one is an error."""
    grouped: dict[str, list[tuple[int | None, str, str]]] = {}
    for text in options:
        name, index, key, value = parse_source_option(text)
        grouped.setdefault(name, []).append((index, key, value))
    selected = {s.name for s in specs}
    stray = sorted(set(grouped) - selected)
    if stray:
        raise ReapOmniError(f"--source-option given for {', '.join(stray)}, which is not selected")
    return [apply_overrides(s, grouped.get(s.name, ())) for s in specs]


def check_coherent(spec: DatasetSpec) -> list[str]:
    """Schema problems of one entry (used by tests and by ``catalog-docs --check``)."""
    problems = []
    if STRATUM_MODALITY[spec.stratum] != spec.modality:
        problems.append(f"stratum {spec.stratum} with modality {spec.modality}")
    if not spec.sources:
        problems.append("no sources")
    if spec.gated and not (spec.access and spec.access_zh):
        problems.append("gated without access text (en and zh)")
    if not spec.description_zh or not spec.description_en:
        problems.append("missing description")
    for i, src in enumerate(spec.sources):
        if not src.verified and not src.note:
            problems.append(f"source #{i} unverified without a note")
        if src.kind == "local" and not src.note:
            problems.append(f"source #{i} local without a note on the layout to supply")
        if src.kind in ("hf_parquet", "hf_tar", "hf_files", "hf_json") and not src.repo:
            problems.append(f"source #{i} {src.kind} without repo")
        if src.kind in ("http_tar",) and not src.url:
            problems.append(f"source #{i} {src.kind} without url")
        if src.kind == "zip_range" and not (src.repo or src.url):
            problems.append(f"source #{i} zip_range without repo or url")
    if availability(spec) in ("local", "opt_in") and not (spec.access or spec.note or spec.substitutes):
        problems.append("no automatic route and no text saying what the user must supply")
    return problems


def substitutes_of(spec: DatasetSpec) -> list[DatasetSpec]:
    """The entries named as substitutes (AudioSet -> VALOR-32K, VGGSound)."""
    return [get_dataset(n) for n in spec.substitutes]


def by_stratum(specs: Iterable[DatasetSpec]) -> Mapping[str, list[DatasetSpec]]:
    """Entries grouped per stratum, in S1, S2, S3, S0 order."""
    groups: dict[str, list[DatasetSpec]] = {s: [] for s in STRATA}
    for spec in specs:
        groups[spec.stratum].append(spec)
    return groups
