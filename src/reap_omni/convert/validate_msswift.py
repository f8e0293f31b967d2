"""Validator for MS-SWIFT ``messages`` files (TRAINING_FORMATS.md, Part C)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import msgspec

from reap_omni.convert.sample import AUDIO_TAG, IMAGE_TAG, VIDEO_TAG
from reap_omni.convert.validate_common import (
    JSON_TYPE,
    MEDIA_COLUMNS,
    NeedsSlowPath,
    RowValidator,
    ValidationReport,
    count_tags,
    tags_in,
)
from reap_omni.errors import InputError

SWIFT_ROLES = frozenset({"system", "user", "assistant", "tool_call", "tool_response", "tool"})
#: SWIFT's ShareGPT aliases (roles after ``from`` -> ``role``).
SWIFT_ROLE_ALIASES = {"human": "user", "gpt": "assistant", "bot": "assistant", "function_call": "tool_call",
                      "function_response": "tool_response", "observation": "tool_response",
                      "observations": "tool_response"}
_QUERY_SIDE = frozenset({"user", "tool", "tool_response"})
_MEDIA_KEYS = frozenset(k for c in MEDIA_COLUMNS for k in c[:2])

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

class SwiftValidator(RowValidator):
    """MS-SWIFT ``messages`` rows. ``task``: ``auto`` (each row's last role decides), ``sft`` or ``grpo``."""

    target = "swift"

    def __init__(self, path: str | os.PathLike[str], task: str = "auto", **kwargs: Any):
        if task not in ("auto", "sft", "grpo"):
            raise InputError(f"unknown task {task!r}; choose auto, sft or grpo")
        super().__init__(path, **kwargs)
        self.task = task
        self._grpo_without_extra = 0
        self._kinds_seen: set[str] = set()
        self._tag_counts: dict[str, tuple[int, int, int]] = {}
        #: paths checked fine, per kind (``image``/``video``/``audio``): the fast path skips the checker call
        self._good: dict[str, set[str]] = {"image": set(), "video": set(), "audio": set()}

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
                errs.append(f"messages[{i}].content must be a string, got {JSON_TYPE.get(type(content), 'object')}")
                content = ""
            if role not in SWIFT_ROLES:
                errs.append(f"messages[{i}].role {role!r} is not one of {', '.join(sorted(SWIFT_ROLES))}")
                continue
            if role == "system":
                if i:
                    errs.append(f"messages[{i}]: a system message is only allowed first (SWIFT asserts "
                                "query_role: \"system\")")
                elif tags_in(content):
                    errs.append(f"messages[0]: media tag {tags_in(content)[0]} in the system prompt")
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
                if i == last and not is_query and tags_in(content):
                    errs.append(f"messages[{i}]: literal {tags_in(content)[0]} in the final assistant answer "
                                "(the trainer reads it as a media slot)")
                count_tags(content, counts)
        system_col = row.get("system", row.get("system_prompt"))
        if type(system_col) is str and tags_in(system_col):
            errs.append(f"media tag {tags_in(system_col)[0]} in the system column")
        kind = self._check_task(lineno, msgs, prev_query, row)
        self._check_media(row, counts)
        self._check_extras(row, msgs)
        return kind

    def fast_block(self, block: bytes) -> None:
        rows = _fast_decoder.decode_lines(block)
        known = {k for k, (t, _) in self._first_type.items() if _FAST_TYPES.get(k) == t}
        if "messages" not in known or (self.task == "auto" and len(self._kinds_seen) != 1):
            raise NeedsSlowPath
        want_sft = (self.task if self.task != "auto" else next(iter(self._kinds_seen))) == "sft"
        ok_media = [col in known for col in ("images", "videos", "audios")]
        if not want_sft and "solution" not in known:
            raise NeedsSlowPath
        check, aiv, unset = self.media.check, self.audio_in_video, msgspec.UNSET
        ok_images, ok_videos, ok_audios = ok_media
        counts_of = self._tag_counts  # a prompt repeats across rows: count its tags once
        good_i, good_v, good_a = self._good["image"], self._good["video"], self._good["audio"]
        if len(good_i) + len(good_v) + len(good_a) > 1 << 16:  # bounded, like the checker's own cache
            for g in (good_i, good_v, good_a):
                g.clear()
        for r in rows:
            ni = nv = na = 0
            prev = None
            content = ""
            for i, m in enumerate(r.messages):
                role, content = m.role, m.content
                if role == "user":
                    if prev:
                        raise NeedsSlowPath
                    prev = True
                elif role == "assistant":
                    if not prev:
                        raise NeedsSlowPath
                    prev = False
                elif role != "system" or i or "<" in content:
                    raise NeedsSlowPath
                if "<" in content:
                    c = counts_of.get(content)
                    if c is None:
                        c = (content.count(IMAGE_TAG), content.count(VIDEO_TAG), content.count(AUDIO_TAG))
                        if len(counts_of) < 4096:
                            counts_of[content] = c
                    ni += c[0]
                    nv += c[1]
                    na += c[2]
            if prev is None or prev is want_sft or (r.solution is unset) is not want_sft:
                raise NeedsSlowPath  # no turns, the other task, or a solution column where none was seen
            if want_sft and (not content or "<" in content):
                raise NeedsSlowPath
            images, videos, audios = r.images, r.videos, r.audios
            if images is unset:
                if ni:
                    raise NeedsSlowPath
            elif len(images) != ni or not ok_images:
                raise NeedsSlowPath
            else:
                for p in images:
                    if p not in good_i:
                        if not p or check(p, "image") is not None:
                            raise NeedsSlowPath
                        good_i.add(p)
            if videos is unset:
                if nv:
                    raise NeedsSlowPath
            elif len(videos) != nv or not ok_videos:
                raise NeedsSlowPath
            else:
                for p in videos:
                    if p not in good_v:
                        if not p or check(p, "video") is not None:
                            raise NeedsSlowPath
                        good_v.add(p)
            if audios is unset:
                if na:
                    raise NeedsSlowPath
            elif len(audios) != na or not ok_audios:
                raise NeedsSlowPath
            else:
                for p in audios:
                    if p not in good_a:
                        if not p or check(p, "audio") is not None:
                            raise NeedsSlowPath
                        good_a.add(p)
            if aiv and videos and audios:  # UNSET is falsy
                raise NeedsSlowPath
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
            elif type(rej) is str and tags_in(rej):
                errs.append(f"literal {tags_in(rej)[0]} in 'rejected_response'")

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


