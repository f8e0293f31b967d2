"""Per-dataset text cleaners and the one text renderer every source's rows go through.

Cleaners take a string and return the cleaned string, or ``None`` when the row must be dropped (a
GigaSpeech non-speech segment, a TED-LIUM ``ignore_time_segment_in_scoring`` line). They are pure and
cheap, so the engine can run them on undecoded rows before fetching any media.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from typing import Any

from reap_omni.catalog.spec import SourceSpec
from reap_omni.errors import ReapOmniError

Cleaner = Callable[[str], "str | None"]

_WS = re.compile(r"\s+")
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef"
_SPACE_NEAR_CJK = re.compile(rf"(?<=[{_CJK}])\s+|\s+(?=[{_CJK}])")
_HANZI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def whitespace(text: str) -> str:
    """Collapse runs of whitespace and strip: every rendered text ends with this."""
    return _WS.sub(" ", text).strip()


_GIGA_PUNCT = {"<COMMA>": ",", "<PERIOD>": ".", "<QUESTIONMARK>": "?", "<EXCLAMATIONPOINT>": "!"}
_GIGA_GARBAGE = ("<SIL>", "<MUSIC>", "<NOISE>", "<OTHER>")


def gigaspeech(text: str) -> str | None:
    """Map GigaSpeech punctuation tags to marks and drop non-speech segments (as ESB does)."""
    if any(tag in text for tag in _GIGA_GARBAGE):
        return None
    for tag, mark in _GIGA_PUNCT.items():
        text = text.replace(tag, mark)
    text = re.sub(r"\s+([,.?!])", r"\1", text)
    text = whitespace(text)
    return text or None


_TEDLIUM_NOISE = re.compile(r"\{[A-Za-z_]+\}|<sil>|<unk>", re.IGNORECASE)


def tedlium(text: str) -> str | None:
    """Remove TED-LIUM noise tokens (``{NOISE}``, ``<sil>``), rejoin split contractions, drop ignored segments."""
    if "ignore_time_segment_in_scoring" in text:
        return None
    text = _TEDLIUM_NOISE.sub(" ", text)
    text = re.sub(r"(\w) '(\w)", r"\1'\2", text)  # "it 's" -> "it's"
    text = whitespace(text)
    return text or None


def cjk_spaces(text: str) -> str:
    """Remove spaces next to CJK characters, keeping spaces between Latin words."""
    return whitespace(_SPACE_NEAR_CJK.sub("", whitespace(text)))


def aishell(text: str) -> str | None:
    """AISHELL-1 transcripts separate every character by a space; join them (as lhotse does)."""
    text = cjk_spaces(text)
    return text or None


def aishell3(text: str) -> str | None:
    """AISHELL-3 ``content.txt`` alternates hanzi and pinyin: keep every other token from the first.

    Accepts the whole line (``SSB00050001.wav\\t广 guang3 州 zhou1``) or just the part after the id.
    """
    tokens = text.split()
    if tokens and tokens[0].lower().endswith(".wav"):
        tokens = tokens[1:]
    hanzi = [t for t in tokens[0::2] if _HANZI.search(t)]
    out = "".join(ch for ch in "".join(hanzi) if _HANZI.match(ch))
    return out or None


_KESPEECH_TAGS = re.compile(r"<[A-Z_]+>|\[[A-Z_]+\]")


def kespeech(text: str) -> str | None:
    """Remove KeSpeech tags such as ``<SPOKEN_NOISE>`` and the spaces between characters."""
    text = cjk_spaces(_KESPEECH_TAGS.sub(" ", text))
    return text or None


def activitynet_question(text: str) -> str | None:
    """Capitalise the ActivityNet-QA question and end it with "?" (as lmms-eval does)."""
    text = whitespace(text)
    if not text:
        return None
    text = text[0].upper() + text[1:]
    return text if text.endswith("?") else text + "?"


def sentence_case(text: str) -> str | None:
    """Upper-case corpora (LibriSpeech) read better to a chat model in sentence case."""
    text = whitespace(text)
    if not text:
        return None
    if text.isupper():
        text = text.lower()
        text = re.sub(r"\bi\b", "I", text)
    return text[0].upper() + text[1:]


CLEANERS: dict[str, Cleaner] = {
    "whitespace": whitespace,
    "gigaspeech": gigaspeech,
    "tedlium": tedlium,
    "aishell": aishell,
    "aishell3": aishell3,
    "kespeech": kespeech,
    "activitynet_question": activitynet_question,
    "sentence_case": sentence_case,
}


def get_cleaner(name: str) -> Cleaner:
    """The cleaner called ``name``; a clear error lists the known ones."""
    try:
        return CLEANERS[name]
    except KeyError:
        raise ReapOmniError(f"unknown text cleaner {name!r}; known cleaners: {', '.join(sorted(CLEANERS))}") from None


_LETTERED = re.compile(r"^[A-Z][.)]\s")


def _lettered(i: int, option: Any) -> str:
    option = whitespace(str(option))
    return option if _LETTERED.match(option) else f"{string.ascii_uppercase[i % 26]}. {option}"


def _present(options: list | tuple) -> list[Any]:
    """Options without the empty slots of fixed-width columns (LongVideoBench option4 = None)."""
    return [opt for opt in options if opt is not None and str(opt).strip()]


def format_options(options: Any) -> str:
    """``["x", "y"]`` -> ``"A. x B. y"``; items already lettered ("A. x") are kept as they are."""
    if not isinstance(options, (list, tuple)):
        return "" if options is None else str(options)
    return " ".join(_lettered(i, opt) for i, opt in enumerate(_present(options)))


def _format_value(name: str, value: Any, fields: Mapping[str, Any]) -> str:
    if value is None:
        return ""
    if name == "answer" and isinstance(value, int) and not isinstance(value, bool):
        opts = fields.get("options")
        opts = _present(opts) if isinstance(opts, (list, tuple)) else None
        if opts and 0 <= value < len(opts):
            return _lettered(value, opts[value])  # an index answer reads as its option
        return str(value)
    if isinstance(value, (list, tuple)):
        return format_options(value) if name == "options" else ", ".join(whitespace(str(v)) for v in value)
    return str(value)


def template_fields(template: str) -> list[str]:
    """Field names a template refers to (``"{question} {options}"`` -> ``["question", "options"]``)."""
    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


def render_text(source: SourceSpec, fields: Mapping[str, Any], dataset: str = "") -> str | None:
    """The row's text from its mapped fields: field cleaners, template, text cleaner, whitespace.

    Returns ``None`` when a cleaner drops the row. A template naming a field the row lacks is a
    catalog error, reported with the fields that are there.
    """
    values = dict(fields)
    for field, cleaner in source.field_cleaners.items():
        if isinstance(values.get(field), str):
            cleaned = get_cleaner(cleaner)(values[field])
            if cleaned is None:
                return None
            values[field] = cleaned
    if source.text_template is None:
        text = values.get("text")
        text = "" if text is None else _format_value("text", text, values)
    elif source.text_template == "":
        return ""
    else:
        missing = [f for f in template_fields(source.text_template) if f not in values]
        if missing:
            raise ReapOmniError(
                f"{dataset or 'dataset'}: text_template {source.text_template!r} needs {', '.join(missing)} "
                f"but the row has {', '.join(sorted(values)) or 'no fields'}; fix columns or text_template"
            )
        text = source.text_template.format_map({k: _format_value(k, v, values) for k, v in values.items()})
    if source.text_cleaner:
        cleaned = get_cleaner(source.text_cleaner)(text)
        if cleaned is None:
            return None
        text = cleaned
    return whitespace(text)


# -- text rows (S0) ----------------------------------------------------------------------------------------
def _content(turn: Any) -> str:
    """A chat turn's text: ``{"role", "content"}`` dicts (HF chat format) or a plain string."""
    if isinstance(turn, Mapping):
        turn = turn.get("content")
    if isinstance(turn, (int, float)) and not isinstance(turn, bool):
        return str(turn)
    return turn.strip() if isinstance(turn, str) else ""


def chat_turns(messages: Any) -> tuple[str, str]:
    """``(question, answer)`` of a chat: its first user turn and the assistant turn right after it.

    Later turns are left out: a row is one instruction and its answer, as REAP's text calibration uses them.
    Empty strings when the chat has no such pair (the row is then refused as having no answer).
    """
    if not isinstance(messages, (list, tuple)):
        return "", ""
    for i, turn in enumerate(messages):
        if isinstance(turn, Mapping) and turn.get("role") == "user":
            nxt = messages[i + 1] if i + 1 < len(messages) else None
            if isinstance(nxt, Mapping) and nxt.get("role") == "assistant":
                return _content(turn), _content(nxt)
            return _content(turn), ""
    return "", ""


def text_row(fields: Mapping[str, Any]) -> tuple[str, str]:
    """``(question, answer)`` of a text (S0) candidate: ``question``/``answer`` fields, or a ``messages`` chat.

    Outer whitespace is stripped, inner newlines kept (code, worked solutions). An empty answer means the row
    cannot be used (the caller rejects it as ``empty_text``).
    """
    if fields.get("messages") is not None:
        question, answer = chat_turns(fields["messages"])
    else:
        question, answer = "", ""
    question = _content(fields.get("question")) if fields.get("question") is not None else question
    answer = _content(fields.get("answer")) if fields.get("answer") is not None else answer
    return question, answer
