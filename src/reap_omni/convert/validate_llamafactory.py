"""Validator for LLaMA-Factory sharegpt files and their ``dataset_info.json`` entry (TRAINING_FORMATS.md)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reap_omni.convert.llamafactory_info import DEFAULT_TAGS, read_dataset_info
from reap_omni.convert.sample import AUDIO_TAG, VIDEO_TAG
from reap_omni.convert.validate_common import (
    JSON_TYPE,
    MEDIA_COLUMNS,
    RowValidator,
    ValidationReport,
    count_tags,
    tags_in,
)
from reap_omni.errors import InputError


@dataclass
class _LFConfig:
    """Where a LLaMA-Factory sharegpt row keeps things, from its ``dataset_info.json`` entry or the defaults."""

    messages: str = "conversations"
    system: str | None = "system"
    media: dict[str, str] = field(default_factory=lambda: {c: c for c in ("images", "videos", "audios")})
    tags: dict[str, str | None] = field(default_factory=dict)
    entry: dict[str, Any] | None = None


def _lf_config(entry: dict[str, Any] | None, first_row: dict[str, Any] | None) -> _LFConfig:
    if entry is None:
        if first_row is not None and "conversations" not in first_row and "messages" in first_row:
            return _LFConfig(messages="messages", tags={"role_tag": "role", "content_tag": "content",
                                                        "user_tag": "user", "assistant_tag": "assistant",
                                                        "observation_tag": "observation",
                                                        "function_tag": "function_call", "system_tag": "system"})
        return _LFConfig(tags=dict(DEFAULT_TAGS))
    columns = entry.get("columns")
    tags = entry.get("tags")
    cfg = _LFConfig(entry=entry)
    if isinstance(columns, dict):  # DatasetAttr.join: an unlisted column becomes None
        cfg.messages = columns.get("messages")
        cfg.system = columns.get("system")
        cfg.media = {c: columns[c] for c in ("images", "videos", "audios") if columns.get(c)}
    cfg.tags = ({k: tags.get(k) for k in DEFAULT_TAGS} if isinstance(tags, dict) else dict(DEFAULT_TAGS))
    return cfg


class LlamaFactoryValidator(RowValidator):
    """LLaMA-Factory sharegpt rows (``formatting: sharegpt``), checked against their ``dataset_info`` entry."""

    target = "llamafactory"

    def __init__(self, path: str | os.PathLike[str], *, dataset_info: str | os.PathLike[str] | None = None,
                 dataset_name: str | None = None, media_dir: str | None = None, **kwargs: Any):
        path = os.fspath(path)
        info_path = dataset_info or os.path.join(os.path.dirname(os.path.abspath(path)), "dataset_info.json")
        info = read_dataset_info(info_path)
        self.entry_name, self.entry = _find_entry(info, path, os.path.dirname(os.path.abspath(info_path)),
                                                  dataset_name)
        if dataset_name and self.entry is None:
            raise InputError(f"no entry named {dataset_name!r}", info_path)
        dataset_dir = os.path.dirname(os.path.abspath(info_path))
        super().__init__(path, media_dir=media_dir or dataset_dir, **kwargs)
        self.info_path = os.fspath(info_path)
        self.cfg: _LFConfig | None = None
        self._columns_seen: set[str] = set()
        self._system_turns = 0

    def check_row(self, row: dict[str, Any], lineno: int) -> str | None:
        if self.cfg is None:
            self.cfg = _lf_config(self.entry, row)
        cfg, errs, tags = self.cfg, self._row_errors, self.cfg.tags
        self._columns_seen.update(row)
        if not cfg.messages:
            return None  # reported once in finish()
        msgs = row.get(cfg.messages)
        if type(msgs) is not list or not msgs:
            errs.append(f"{cfg.messages!r} must be a non-empty JSON array of messages")
            return None
        role_tag, content_tag = tags.get("role_tag"), tags.get("content_tag")
        system_tag = tags.get("system_tag")
        queries = {tags.get("user_tag"), tags.get("observation_tag")} - {None}
        answers = {tags.get("assistant_tag"), tags.get("function_tag")} - {None}
        start = 0
        if type(msgs[0]) is dict and msgs[0].get(role_tag) == "system" and system_tag is None:
            errs.append("messages[0] is a system turn but the dataset_info entry's tags lack system_tag "
                        "(LLaMA-Factory: 'Invalid role tag')")
            return None
        if system_tag is not None and type(msgs[0]) is dict and msgs[0].get(role_tag) == system_tag:
            start = 1
            self._system_turns += 1
            content = msgs[0].get(content_tag)
            if type(content) is str and tags_in(content):
                errs.append(f"messages[0]: media tag {tags_in(content)[0]} in the system prompt (LLaMA-Factory "
                            "does not count it)")
        counts = [0, 0, 0]
        # use_audio_in_video pairs tags only in samples that list both videos and audios
        pair = self.audio_in_video and bool(row.get(cfg.media.get("audios", ""))) \
            and bool(row.get(cfg.media.get("videos", "")))
        turns = msgs[start:]
        if not turns or len(turns) % 2:
            errs.append(f"{len(turns)} turn(s) after the system prompt; LLaMA-Factory needs an even count "
                        "(user/assistant pairs) and skips the row ('Invalid message count')")
        last = len(msgs) - 1
        for i in range(start, len(msgs)):
            m = msgs[i]
            if type(m) is not dict:
                errs.append(f"messages[{i}] must be an object")
                continue
            role, content = m.get(role_tag), m.get(content_tag)
            if type(content) is not str:
                errs.append(f"messages[{i}].{content_tag} must be a string, got "
                            f"{JSON_TYPE.get(type(content), 'object')}")
                continue
            want = queries if (i - start) % 2 == 0 else answers
            if role not in want:
                errs.append(f"messages[{i}].{role_tag} is {role!r}, expected one of {sorted(want)} "
                            "(LLaMA-Factory: 'Invalid role tag', the row is skipped)")
            if "<" in content:
                if i == last and role in answers and tags_in(content):
                    errs.append(f"messages[{i}]: literal {tags_in(content)[0]} in the final answer")
                count_tags(content, counts)
                if pair and VIDEO_TAG in content:
                    self._check_pairing(content, i)
        if cfg.system:
            sys_col = row.get(cfg.system)
            if type(sys_col) is str and tags_in(sys_col):
                errs.append(f"media tag {tags_in(sys_col)[0]} in the system column")
        lengths = {}
        for (col, _alias, kind, tag), idx in zip(MEDIA_COLUMNS, range(3), strict=True):
            name = cfg.media.get(col)
            value = row.get(name) if name else None
            n = 0
            if value is None:
                if name and name in row:
                    errs.append(f"{name!r} is null; omit the key or use [] (Arrow needs one type per column)")
            else:
                n = self.check_media_list(value, name, kind)
                if n is None:
                    continue
            lengths[col] = n
            if counts[idx] != n:
                errs.append(f"the number of {col} ({n}) does not match the number of {tag} tokens ({counts[idx]})")
        if pair and lengths.get("videos", 0) != lengths.get("audios", 0):
            errs.append(f"Number of videos ({lengths['videos']}) must match number of audios "
                        f"({lengths['audios']}) when using audio in video")
        return "sft"

    def _check_pairing(self, content: str, i: int) -> None:
        """``use_audio_in_video``: each ``<video>`` is followed, later in the same message, by its ``<audio>``,
        with no other ``<audio>`` before it (LLaMA-Factory removes the first one it finds)."""
        pos = 0
        seq = []
        while True:
            v, a = content.find(VIDEO_TAG, pos), content.find(AUDIO_TAG, pos)
            nxt = min(x for x in (v, a, len(content)) if x >= 0)
            if nxt == len(content):
                break
            seq.append("v" if nxt == v else "a")
            pos = nxt + 1
        if seq != ["v", "a"] * (len(seq) // 2) or len(seq) % 2:
            self._row_errors.append(f"messages[{i}]: each <video> must be followed by its <audio> in the same "
                                    "message when using audio in video")

    def finish(self) -> None:
        entry = self.entry
        if entry is None:
            self.warning(f"no entry for this file in {self.info_path}; LLaMA-Factory cannot load it without one "
                         "(the 'llamafactory' command writes it)")
            return
        where = f"{self.info_path}: entry {self.entry_name!r}"
        if entry.get("formatting") != "sharegpt":
            self.file_error(f"{where}: formatting must be 'sharegpt' for role/content rows, got "
                            f"{entry.get('formatting', 'alpaca (the default)')!r}")
        if entry.get("ranking"):
            self.file_error(f"{where}: ranking entries are not supported by this validator")
        cfg = self.cfg or _lf_config(entry, None)
        if not cfg.messages:
            self.file_error(f"{where}: columns must list 'messages' (an unlisted column becomes None)")
        elif self.report.total and cfg.messages not in self._columns_seen:
            self.file_error(f"{where}: messages column {cfg.messages!r} is in no row")
        for col in ("images", "videos", "audios"):
            name = cfg.media.get(col, col)
            if col not in cfg.media and name in self._columns_seen:
                self.file_error(f"{where}: rows have {name!r} but columns do not list {col!r}; LLaMA-Factory "
                                "would ignore the media")
            elif col in cfg.media and cfg.media[col] not in self._columns_seen:
                self.file_error(f"{where}: columns list {col!r} -> {cfg.media[col]!r} but no row has it")


def _find_entry(info: dict[str, Any], path: str, dataset_dir: str,
                name: str | None) -> tuple[str | None, dict[str, Any] | None]:
    """The entry registered for ``path`` (by ``name``, else the one whose ``file_name`` is this file)."""
    if name:
        entry = info.get(name)
        return (name, entry) if isinstance(entry, dict) else (name, None)
    target = os.path.realpath(path)
    for key, entry in info.items():
        if (isinstance(entry, dict) and isinstance(entry.get("file_name"), str)
                and os.path.realpath(os.path.join(dataset_dir, entry["file_name"])) == target):
            return key, entry
    return None, None


def validate_llamafactory(path: str | os.PathLike[str], *, dataset_info: str | os.PathLike[str] | None = None,
                          dataset_name: str | None = None, media_dir: str | None = None, check_media: bool = False,
                          audio_in_video: bool = False, on_error: Callable[[str], None] | None = None,
                          on_warning: Callable[[str], None] | None = None) -> ValidationReport:
    """Validate a LLaMA-Factory sharegpt JSONL file and its ``dataset_info.json`` entry (found beside the
    file unless ``dataset_info`` is given)."""
    return LlamaFactoryValidator(path, dataset_info=dataset_info, dataset_name=dataset_name, media_dir=media_dir,
                                 check_media=check_media, audio_in_video=audio_in_video, on_error=on_error,
                                 on_warning=on_warning).run()

