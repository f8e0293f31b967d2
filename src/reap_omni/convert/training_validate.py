"""Validators for MS-SWIFT and LLaMA-Factory training files (TRAINING_FORMATS.md, Part C).

Neither framework checks what matters before training starts: SWIFT pads missing media tags silently,
leaves surplus ones as text, opens media only at encode time and may decode a missing path as base64;
Arrow rejects a file whose columns change type between rows. These validators apply those rules row by
row, streaming (memory is O(columns) plus a bounded path cache), and report every problem as
``file:line: message``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from reap_omni.convert.media_refs import MediaChecker
from reap_omni.convert.sample import AUDIO_TAG, IMAGE_TAG, VIDEO_TAG
from reap_omni.errors import InputError, format_location
from reap_omni.manifest.jsonl import JSON_ERRORS, json_error_message, read_jsonl_blocks, split_block

SWIFT_ROLES = frozenset({"system", "user", "assistant", "tool_call", "tool_response", "tool"})
#: SWIFT's ShareGPT aliases (roles after ``from`` -> ``role``).
SWIFT_ROLE_ALIASES = {"human": "user", "gpt": "assistant", "bot": "assistant", "function_call": "tool_call",
                      "function_response": "tool_response", "observation": "tool_response",
                      "observations": "tool_response"}
_QUERY_SIDE = frozenset({"user", "tool", "tool_response"})
#: media column -> (SWIFT alias, kind, tag)
MEDIA_COLUMNS = (("images", "image", "image", IMAGE_TAG), ("videos", "video", "video", VIDEO_TAG),
                 ("audios", "audio", "audio", AUDIO_TAG))
_MEDIA_KEYS = frozenset(k for c in MEDIA_COLUMNS for k in c[:2])
_JSON_TYPE = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean",
              type(None): "null"}
_decoder = msgspec.json.Decoder()


class _NeedsSlowPath(Exception):
    """A block holds something the fast path does not vouch for; check it line by line."""


class _FastMessage(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    role: str
    content: str


class _FastRow(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """The plain SWIFT row shape (what ``msswift`` writes). Anything else fails to decode: slow path."""

    messages: list[_FastMessage]
    images: list[str] | msgspec.UnsetType = msgspec.UNSET
    videos: list[str] | msgspec.UnsetType = msgspec.UNSET
    audios: list[str] | msgspec.UnsetType = msgspec.UNSET
    solution: str | msgspec.UnsetType = msgspec.UNSET


_fast_decoder = msgspec.json.Decoder(_FastRow)
#: the JSON type each _FastRow field has
_FAST_TYPES = {"messages": "array", "images": "array", "videos": "array", "audios": "array", "solution": "string"}


@dataclass
class ValidationReport:
    """Counts and the first problems of one validation run. ``valid`` counts rows without errors."""

    path: str
    total: int = 0
    invalid: int = 0
    sft_samples: int = 0
    grpo_samples: int = 0
    error_count: int = 0
    warning_count: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def valid(self) -> int:
        return self.total - self.invalid

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "total": self.total, "valid": self.valid, "invalid": self.invalid,
                "sft_samples": self.sft_samples, "grpo_samples": self.grpo_samples,
                "error_count": self.error_count, "warning_count": self.warning_count,
                "errors": list(self.errors), "warnings": list(self.warnings), "ok": self.ok}

    def summary(self) -> str:
        verdict = "OK" if self.ok else f"FAILED ({self.error_count} error(s))"
        return (f"{self.path}: {verdict}: {self.total} row(s), {self.valid} valid, {self.invalid} invalid, "
                f"{self.sft_samples} SFT, {self.grpo_samples} GRPO, {self.warning_count} warning(s)")


class _Validator:
    """Shared machinery: reporting, the Arrow type-stability rule and media checks."""

    target = ""

    def __init__(self, path: str | os.PathLike[str], *, check_media: bool = False, audio_in_video: bool = False,
                 allow_base64: bool = False, media_dir: str | None = None,
                 on_error: Callable[[str], None] | None = None, on_warning: Callable[[str], None] | None = None,
                 keep: int = 100):
        self.path = os.fspath(path)
        self.report = ValidationReport(self.path)
        self.audio_in_video = audio_in_video
        self._on_error = on_error
        self._on_warning = on_warning
        self._keep = keep
        self._first_type: dict[str, tuple[str, int]] = {}
        self.media = MediaChecker(self.target, media_dir=media_dir, decode=check_media,
                                  audio_in_video=audio_in_video, allow_base64=allow_base64, warn=self.warning)
        self._row_errors: list[str] = []

    # -- reporting ---------------------------------------------------------------------------------
    def warning(self, msg: str, line: int | None = None) -> None:
        text = f"{format_location(self.path, line)}: warning: {msg}"
        self.report.warning_count += 1
        if len(self.report.warnings) < self._keep:
            self.report.warnings.append(text)
        if self._on_warning:
            self._on_warning(text)

    def _flush(self, lineno: int) -> None:
        rep = self.report
        rep.invalid += 1
        for msg in self._row_errors:
            text = f"{self.path}:{lineno}: {msg}"
            rep.error_count += 1
            if len(rep.errors) < self._keep:
                rep.errors.append(text)
            if self._on_error:
                self._on_error(text)
        self._row_errors.clear()

    def file_error(self, msg: str) -> None:
        """An error about the whole file or its registration, not one row."""
        text = f"{self.path}: {msg}"
        self.report.error_count += 1
        if len(self.report.errors) < self._keep:
            self.report.errors.append(text)
        if self._on_error:
            self._on_error(text)

    # -- the run -----------------------------------------------------------------------------------
    def run(self) -> ValidationReport:
        from reap_omni.convert.msswift import gc_paused

        rep = self.report
        with gc_paused():
            for first, block in read_jsonl_blocks(self.path):
                try:
                    self.fast_block(block)
                    continue
                except (*JSON_ERRORS, _NeedsSlowPath):
                    pass
                for lineno, line in split_block(first, block):
                    self.check_line(lineno, line)
        if rep.total == 0:
            self.file_error("no rows")
        self.finish()
        return rep

    def fast_block(self, block: bytes) -> None:
        """Validate a whole block at C speed when every row is plainly fine; raise ``_NeedsSlowPath`` (or a
        msgspec error) otherwise, *before* changing any state, so the block is redone line by line."""
        raise _NeedsSlowPath

    def check_line(self, lineno: int, line: bytes) -> None:
        errs = self._row_errors
        rep = self.report
        rep.total += 1
        try:
            row = _decoder.decode(line)
        except JSON_ERRORS as exc:
            errs.append(json_error_message(exc, line))
        else:
            if type(row) is dict:
                self.check_types(row, lineno)
                kind = self.check_row(row, lineno)
                if not errs:
                    if kind == "sft":
                        rep.sft_samples += 1
                    elif kind == "grpo":
                        rep.grpo_samples += 1
            else:
                errs.append(f"expected a JSON object, got {_JSON_TYPE.get(type(row), type(row).__name__)}")
        if errs:
            self._flush(lineno)

    def check_row(self, row: dict[str, Any], lineno: int) -> str | None:
        """Append the row's problems to ``self._row_errors``; return its kind (``sft``/``grpo``) if known."""
        raise NotImplementedError

    def finish(self) -> None:
        """Whole-file checks after the last row."""

    # -- shared row rules --------------------------------------------------------------------------
    def check_types(self, row: dict[str, Any], lineno: int) -> None:
        """Arrow needs one type per column in every row; remember each key's first type (O(keys) memory)."""
        first = self._first_type
        for key, value in row.items():
            t = _JSON_TYPE.get(type(value), "object")
            if t == "null":
                continue
            seen = first.get(key)
            if seen is None:
                first[key] = (t, lineno)
            elif seen[0] != t:
                self._row_errors.append(f"column {key!r} is {_a(t)} here but {_a(seen[0])} at line {seen[1]}; "
                                        "Arrow needs the same type in every row")

    def check_media_list(self, value: Any, col: str, kind: str) -> int | None:
        """A media field must be a list of non-empty strings whose files exist; returns its length, or
        ``None`` when it is not a list (then tag counts are not compared: one error is enough)."""
        errs = self._row_errors
        if type(value) is not list:
            errs.append(f"{col!r} must be a list of paths, got {_JSON_TYPE.get(type(value), 'object')}"
                        + (" (wrap it in [...])" if type(value) is str else ""))
            return None
        check = self.media.check
        for i, item in enumerate(value):
            if type(item) is not str or not item:
                errs.append(f"{col}[{i}] must be a non-empty string path")
                continue
            problem = check(item, kind)
            if problem:
                errs.append(f"{col}[{i}]: {problem}")
        return len(value)


def _a(t: str) -> str:
    return ("an " if t[0] in "aeiou" else "a ") + t


def _count_tags(text: str, counts: list[int]) -> None:
    if "<" in text:
        counts[0] += text.count(IMAGE_TAG)
        counts[1] += text.count(VIDEO_TAG)
        counts[2] += text.count(AUDIO_TAG)


def _tags_in(text: str) -> list[str]:
    return [t for t in (IMAGE_TAG, VIDEO_TAG, AUDIO_TAG) if t in text] if "<" in text else []


class SwiftValidator(_Validator):
    """MS-SWIFT ``messages`` rows. ``task``: ``auto`` (each row's last role decides), ``sft`` or ``grpo``."""

    target = "swift"

    def __init__(self, path: str | os.PathLike[str], task: str = "auto", **kwargs: Any):
        if task not in ("auto", "sft", "grpo"):
            raise InputError(f"unknown task {task!r}; choose auto, sft or grpo")
        super().__init__(path, **kwargs)
        self.task = task
        self._grpo_without_extra = 0
        self._kinds_seen: set[str] = set()

    def check_row(self, row: dict[str, Any], lineno: int) -> str | None:
        errs = self._row_errors
        msgs = row.get("messages")
        if msgs is None:
            msgs = self._from_conversations(row)
            if msgs is None:
                return None
        if type(msgs) is not list:
            errs.append("'messages' must be a JSON array of {role, content} objects"
                        + (" (a string is parsed with ast.literal_eval by SWIFT)" if type(msgs) is str else ""))
            return None
        if not msgs:
            errs.append("'messages' is empty")
            return None
        for key in row:
            if key.startswith(("__#", "__@")):
                errs.append(f"column {key!r} uses a prefix SWIFT reserves (__# / __@)")
        if "dataset" in row:
            self.media.warn_once("dataset-col", "a column named 'dataset' may clash with the routing column "
                                                "SWIFT's load_dataset adds")
        counts = [0, 0, 0]
        last = len(msgs) - 1
        prev_query: bool | None = None
        for i, m in enumerate(msgs):
            if type(m) is not dict:
                errs.append(f"messages[{i}] must be an object with 'role' and 'content'")
                continue
            role = m.get("role")
            content = m.get("content")
            if type(content) is not str:
                errs.append(f"messages[{i}].content must be a string, got {_JSON_TYPE.get(type(content), 'object')}")
                content = ""
            if role not in SWIFT_ROLES:
                errs.append(f"messages[{i}].role {role!r} is not one of {', '.join(sorted(SWIFT_ROLES))}")
                continue
            if role == "system":
                if i:
                    errs.append(f"messages[{i}]: a system message is only allowed first (SWIFT asserts "
                                "query_role: \"system\")")
                elif _tags_in(content):
                    errs.append(f"messages[0]: media tag {_tags_in(content)[0]} in the system prompt")
                continue
            is_query = role in _QUERY_SIDE
            if prev_query is None:
                if not is_query:
                    errs.append(f"messages[{i}]: the first turn after the system prompt must be 'user', got {role!r}")
            elif is_query == prev_query and role not in ("tool_call", "tool_response"):
                errs.append(f"messages[{i}]: {role!r} follows another {'user' if is_query else 'assistant'}-side "
                            "turn; user and assistant turns must alternate")
            prev_query = is_query
            if "<" in content:
                if i == last and not is_query and _tags_in(content):
                    errs.append(f"messages[{i}]: literal {_tags_in(content)[0]} in the final assistant answer "
                                "(the trainer reads it as a media slot)")
                _count_tags(content, counts)
        system_col = row.get("system", row.get("system_prompt"))
        if type(system_col) is str and _tags_in(system_col):
            errs.append(f"media tag {_tags_in(system_col)[0]} in the system column")
        kind = self._check_task(lineno, msgs, prev_query, row)
        self._check_media(row, counts)
        self._check_extras(row, msgs)
        return kind

    def fast_block(self, block: bytes) -> None:
        rows = _fast_decoder.decode_lines(block)
        known = {k for k, (t, _) in self._first_type.items() if _FAST_TYPES.get(k) == t}
        if "messages" not in known or (self.task == "auto" and len(self._kinds_seen) != 1):
            raise _NeedsSlowPath
        want_sft = (self.task if self.task != "auto" else next(iter(self._kinds_seen))) == "sft"
        ok_media = [col in known for col in ("images", "videos", "audios")]
        if not want_sft and "solution" not in known:
            raise _NeedsSlowPath
        media = (("image", 0), ("video", 1), ("audio", 2))
        check, aiv, unset = self.media.check, self.audio_in_video, msgspec.UNSET
        for r in rows:
            msgs = r.messages
            ni = nv = na = 0
            prev = None
            content = ""
            for i, m in enumerate(msgs):
                role, content = m.role, m.content
                if role == "user":
                    if prev:
                        raise _NeedsSlowPath
                    prev = True
                elif role == "assistant":
                    if not prev:
                        raise _NeedsSlowPath
                    prev = False
                elif role != "system" or i or "<" in content:
                    raise _NeedsSlowPath
                if "<" in content:
                    ni += content.count(IMAGE_TAG)
                    nv += content.count(VIDEO_TAG)
                    na += content.count(AUDIO_TAG)
            if prev is None or prev is want_sft or (r.solution is unset) is not want_sft:
                raise _NeedsSlowPath  # no turns, the other task, or a solution column where none was seen
            if want_sft and (not content or "<" in content):
                raise _NeedsSlowPath
            for items, n, (kind, idx) in ((r.images, ni, media[0]), (r.videos, nv, media[1]),
                                          (r.audios, na, media[2])):
                if items is unset:
                    if n:
                        raise _NeedsSlowPath
                    continue
                if len(items) != n or not ok_media[idx]:
                    raise _NeedsSlowPath
                for p in items:
                    if not p or check(p, kind) is not None:
                        raise _NeedsSlowPath
            if aiv and r.videos and r.audios:
                raise _NeedsSlowPath
        rep = self.report
        rep.total += len(rows)
        if want_sft:
            rep.sft_samples += len(rows)
        else:
            rep.grpo_samples += len(rows)

    def _from_conversations(self, row: dict[str, Any]) -> list[Any] | None:
        """SWIFT also reads ``conversations``/``conversation`` with ShareGPT keys; normalise them."""
        for key in ("conversations", "conversation"):
            conv = row.get(key)
            if conv is None:
                continue
            if type(conv) is not list:
                return conv
            out: list[Any] = []
            for m in conv:
                if type(m) is dict and ("from" in m or "value" in m):
                    role = m.get("from", m.get("role"))
                    m = {"role": SWIFT_ROLE_ALIASES.get(role, role), "content": m.get("value", m.get("content"))}
                out.append(m)
            return out
        self._row_errors.append("no 'messages' column (SWIFT's canonical format: "
                                "{\"messages\": [{\"role\": ..., \"content\": ...}]})")
        return None

    def _check_task(self, lineno: int, msgs: list[Any], last_is_query: bool | None,
                    row: dict[str, Any]) -> str | None:
        if last_is_query is None:
            self._row_errors.append("no user or assistant turn")
            return None
        kind = "grpo" if last_is_query else "sft"
        if self.task != "auto" and kind != self.task:
            want = "assistant answer" if self.task == "sft" else "user turn (the prompt)"
            self._row_errors.append(f"{self.task.upper()} rows must end with the {want}; this row ends with "
                                    f"{msgs[-1].get('role') if type(msgs[-1]) is dict else '?'!r}")
            return None
        if kind == "sft":
            if type(msgs[-1]) is dict and msgs[-1].get("content") == "":
                self.warning("the final assistant answer is empty: nothing to learn from this row", lineno)
        elif not any(k not in _MEDIA_KEYS and k not in ("messages", "system") for k in row):
            self._grpo_without_extra += 1
        self._kinds_seen.add(kind)
        if len(self._kinds_seen) == 2 and self.task == "auto":
            self.media.warn_once("mixed-task", f"the file mixes SFT rows (ending with assistant) and GRPO rows "
                                               f"(ending with user), first seen at line {lineno}")
        return kind

    def _check_media(self, row: dict[str, Any], counts: list[int]) -> None:
        errs = self._row_errors
        lengths = [0, 0, 0]
        for idx, (col, alias, kind, tag) in enumerate(MEDIA_COLUMNS):
            value = row.get(col)
            name = col
            if value is None and alias in row:
                value, name = row[alias], alias
            if value is None:
                if name in row:
                    errs.append(f"{name!r} is null; omit the key or use [] (Arrow needs one type per column)")
            else:
                n = self.check_media_list(value, name, kind)
                if n is None:
                    continue
                lengths[idx] = n
            if counts[idx] != lengths[idx]:
                errs.append(f"{counts[idx]} {tag} tag(s) but {lengths[idx]} {col} (SWIFT would "
                            + ("prepend the missing tags silently)" if counts[idx] < lengths[idx]
                               else "leave the extra tags in the prompt as text)"))
        if self.audio_in_video and lengths[1] and lengths[2]:
            errs.append("with audio-in-video the video's track is loaded from the video file; do not also list "
                        "audios (or <audio> tags) in a row that has videos")

    def _check_extras(self, row: dict[str, Any], msgs: list[Any]) -> None:
        errs = self._row_errors
        if "objects" in row:
            obj = row["objects"]
            if type(obj) is not dict or "bbox" not in obj:
                errs.append("'objects' must be an object with a 'bbox' list")
            elif type(obj["bbox"]) is not list or any(type(b) is not list or len(b) not in (2, 4)
                                                      for b in obj["bbox"]):
                errs.append("'objects.bbox' must be a list of boxes of length 2 or 4")
        if "tools" in row and type(row["tools"]) not in (str, list):
            errs.append("'tools' must be a JSON string or a list of tool schemas")
        if "label" in row and row["label"] is not None and type(row["label"]) is not bool:
            errs.append("'label' (KTO) must be true or false")
        if "rejected_response" in row:
            rej = row["rejected_response"]
            last = msgs[-1].get("content") if type(msgs[-1]) is dict else None
            if rej is None or rej == "" or rej == []:
                errs.append("'rejected_response' is empty")
            elif rej == last:
                errs.append("'rejected_response' equals the chosen answer")
            elif type(rej) is str and _tags_in(rej):
                errs.append(f"literal {_tags_in(rej)[0]} in 'rejected_response'")

    def finish(self) -> None:
        if self._grpo_without_extra:
            self.warning(f"{self._grpo_without_extra} GRPO row(s) carry no extra column such as 'solution': reward "
                         "functions will get no reference answer")


def validate_msswift(path: str | os.PathLike[str], *, task: str = "auto", check_media: bool = False,
                     audio_in_video: bool = False, allow_base64: bool = False,
                     on_error: Callable[[str], None] | None = None,
                     on_warning: Callable[[str], None] | None = None) -> ValidationReport:
    """Validate an MS-SWIFT JSONL file; ``on_error``/``on_warning`` receive each ``file:line`` message as found."""
    return SwiftValidator(path, task=task, check_media=check_media, audio_in_video=audio_in_video,
                          allow_base64=allow_base64, on_error=on_error, on_warning=on_warning).run()


@dataclass
class _LFConfig:
    """Where a LLaMA-Factory sharegpt row keeps things, from its ``dataset_info.json`` entry or the defaults."""

    messages: str = "conversations"
    system: str | None = "system"
    media: dict[str, str] = field(default_factory=lambda: {c: c for c in ("images", "videos", "audios")})
    tags: dict[str, str | None] = field(default_factory=dict)
    entry: dict[str, Any] | None = None


def _lf_config(entry: dict[str, Any] | None, first_row: dict[str, Any] | None) -> _LFConfig:
    from reap_omni.convert.llamafactory import DEFAULT_TAGS

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


class LlamaFactoryValidator(_Validator):
    """LLaMA-Factory sharegpt rows (``formatting: sharegpt``), checked against their ``dataset_info`` entry."""

    target = "llamafactory"

    def __init__(self, path: str | os.PathLike[str], *, dataset_info: str | os.PathLike[str] | None = None,
                 dataset_name: str | None = None, media_dir: str | None = None, **kwargs: Any):
        from reap_omni.convert.llamafactory import read_dataset_info

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
            if type(content) is str and _tags_in(content):
                errs.append(f"messages[0]: media tag {_tags_in(content)[0]} in the system prompt (LLaMA-Factory "
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
                            f"{_JSON_TYPE.get(type(content), 'object')}")
                continue
            want = queries if (i - start) % 2 == 0 else answers
            if role not in want:
                errs.append(f"messages[{i}].{role_tag} is {role!r}, expected one of {sorted(want)} "
                            "(LLaMA-Factory: 'Invalid role tag', the row is skipped)")
            if "<" in content:
                if i == last and role in answers and _tags_in(content):
                    errs.append(f"messages[{i}]: literal {_tags_in(content)[0]} in the final answer")
                _count_tags(content, counts)
                if pair and VIDEO_TAG in content:
                    self._check_pairing(content, i)
        if cfg.system:
            sys_col = row.get(cfg.system)
            if type(sys_col) is str and _tags_in(sys_col):
                errs.append(f"media tag {_tags_in(sys_col)[0]} in the system column")
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
