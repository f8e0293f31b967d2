"""S0 (text) rows as model inputs: an instruction and its answer, no media.

A text row (``modality: text``) carries its answer in ``text`` and its instruction in ``meta.question``, or a chat
in ``meta.messages`` whose first user turn is taken (``catalog.text.chat_turns``). The conversation is the
instruction as the user turn and the answer as the assistant turn, through the model's chat template, like the
media strata's; S0 differs from them in carrying no modality token. It is what a text-only REAP run calibrates
on, so REAP-OMNI can be compared with it and text ability measured (``eval``'s S0 metrics).

An answer too long for ``--max-seq-len`` is cut (its end dropped) until the row fits: a text row has no media to
shorten, and its first tokens are what routing sees first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from reap_omni.errors import ReapOmniError

if TYPE_CHECKING:
    from reap_omni.manifest.record import Record


class Sample(Protocol):
    """What this module reads of ``inputs.Sample`` (a frozen dataclass; ``inputs`` imports this module)."""

    id: str
    text: str
    where: str
    question: str


class InputOptions(Protocol):
    max_seq_len: int


def question_of(rec: Record) -> str:
    """The instruction of a text row: ``meta.question``, else the first user turn of ``meta.messages``."""
    from reap_omni.catalog.text import chat_turns

    meta = rec.meta if isinstance(rec.meta, dict) else {}
    question = meta.get("question")
    if isinstance(question, str) and question.strip():
        return question.strip()
    return chat_turns(meta.get("messages"))[0]


def conversation(sample: Sample) -> list[dict[str, Any]]:
    """User turn: the instruction (empty when the row has none); assistant turn: the answer, when given."""
    msgs: list[dict[str, Any]] = [{"role": "user", "content": [{"type": "text", "text": sample.question}]}]
    if sample.text:
        msgs.append({"role": "assistant", "content": [{"type": "text", "text": sample.text}]})
    return msgs


def build(processor, samples: list[Sample]) -> dict[str, Any]:
    """Processor outputs (token ids and mask) for text rows: no audio, no video."""
    texts = [processor.apply_chat_template(conversation(s), tokenize=False, add_generation_prompt=not s.text)
             for s in samples]
    try:
        return dict(processor(text=texts, return_tensors="pt", padding=True))
    except (ValueError, TypeError, RuntimeError) as exc:
        where = ", ".join(s.where for s in samples)
        raise ReapOmniError(f"the model's processor rejected {where}: {exc}") from None


def fit(processor, sample: Sample, opts: InputOptions) -> tuple[dict[str, Any], Sample]:
    """One text row's inputs (batch of 1) and the sample they render: its answer cut at the end until the row fits
    ``max_seq_len`` (the returned sample holds the answer as fed, so its tokens can be located)."""
    from dataclasses import replace

    for _attempt in range(8):
        inputs = build(processor, [sample])
        length = int(inputs["input_ids"].shape[1])
        if length <= opts.max_seq_len:
            return inputs, sample
        keep = int(len(sample.text) * 0.9 * opts.max_seq_len / length)
        if keep < 1 or keep >= len(sample.text):
            break
        sample = replace(sample, text=sample.text[:keep].rstrip() or sample.text[:keep])
    raise ReapOmniError(f"{sample.where}: the instruction alone does not fit into --max-seq-len {opts.max_seq_len} "
                        f"({length} tokens); raise --max-seq-len")


def text_digest(sample: Sample) -> str:
    """sha256 of a text row's instruction and answer: its identity in the held-out check, as media digests are
    for the other strata (a calibration row copied under another id is still caught)."""
    import hashlib

    return hashlib.sha256(f"{sample.question}\0{sample.text}".encode()).hexdigest()
