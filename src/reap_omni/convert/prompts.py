"""Task-aware default instructions (English) for training rows built from unified records.

A unified row's ``text`` is the *target* (a transcript, a caption, a label, an answer), so the user turn
needs an instruction that asks for it without containing it. The instruction depends on what the row
is (its ``task``) and what the model receives (its ``modality``).
"""

from __future__ import annotations

from functools import lru_cache

#: What the media is called in an instruction, by unified modality.
MEDIA_NOUN = {
    "audio": "audio",
    "video": "video",
    "mixed": "video",
    "image": "image",
}

#: (task, modality) -> instruction. ``None`` as modality is the fallback for that task.
_INSTRUCTIONS: dict[tuple[str, str | None], str] = {
    ("asr", "audio"): "Transcribe the speech in this audio.",
    ("asr", "mixed"): "Transcribe what is said in this video.",
    ("asr", "video"): "Transcribe what is said in this video.",
    ("caption", "audio"): "Describe the sounds in this audio.",
    ("caption", "video"): "Describe this video.",
    ("caption", "mixed"): "Describe what you see and hear in this video.",
    ("caption", "image"): "Describe this image.",
    ("translation", None): "Translate the speech in this {noun} into English.",
    ("classification", None): "What is happening in this {noun}? Answer with a short label.",
    ("classification", "audio"): "What sound is this? Answer with a short label.",
    ("speaker", None): "Who is speaking in this {noun}?",
    ("emotion", None): "What emotion does the speaker express in this {noun}?",
    ("qa", None): "Answer the question about this {noun}.",
}

#: Modality-only fallbacks for rows without a known task.
_DEFAULTS = {
    "audio": "Transcribe the speech in this audio.",
    "video": "Describe this video.",
    "mixed": "Describe what you see and hear in this video.",
    "image": "Describe this image.",
}


@lru_cache(maxsize=256)  # a handful of (modality, task) pairs; the hot loop calls this once per row
def default_instruction(modality: str, task: str | None) -> str | None:
    """The instruction for a row, or ``None`` when there is no sensible one (a text row with no prompt).

    ``translation`` keeps the target language implicit (English) unless the caller overrides the prompt.
    """
    noun = MEDIA_NOUN.get(modality)
    if task:
        text = _INSTRUCTIONS.get((task, modality)) or _INSTRUCTIONS.get((task, None))
        if text is not None and noun is not None:
            return text.format(noun=noun)
    return _DEFAULTS.get(modality)
