"""Metrics of ``reap-omni eval``: where the answer tokens are, and what is measured on them.

Per answer token (the tokens of the row's text in the assistant turn, teacher-forced):

* NLL: −log q(answer token), q the evaluated model's next-token distribution; perplexity = exp(mean NLL).
* KL(original ‖ method), from the original's stored top-k log-probabilities plus one tail bucket holding
  the rest of its mass: Σ_{i∈top-k} p_i·log(p_i/q_i) + p_tail·log(p_tail/q_tail). Merging the tail into one
  bucket can only lower the divergence (log-sum inequality), so this is a lower bound of the exact KL, and
  equals it when k is the vocabulary size (the tail is then empty).
* top-1 agreement: the method's most likely token is the original's.

For ASR rows, greedy transcripts are scored against the row's text with jiwer: WER for space-delimited
languages, CER for Chinese (``lang`` zh/cmn/yue, or CJK text when ``lang`` is missing). Both sides are
normalised the same way first: lower case, punctuation removed, runs of spaces collapsed (CER also drops
the spaces), so ``HELLO, WORLD`` and ``hello world`` match.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from reap_omni.errors import ReapOmniError

#: languages scored by character error rate (no spaces between words)
CER_LANGS = ("zh", "cmn", "yue", "wuu", "nan")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


# -- where the answer is ---------------------------------------------------------------------------------

def answer_positions(processor, samples, stratum: str, input_ids: torch.Tensor,
                     attention_mask: torch.Tensor | None) -> list[torch.Tensor]:
    """Per row of a batch built by ``inputs.build_inputs``: the positions of its answer tokens.

    The row's conversation is rendered twice with the model's chat template, with the answer and as the
    generation prompt alone; the answer is what follows the prompt. Its tokens are located at the end of
    the row's real (non-padding) tokens, and checked to be exactly the ids the processor produced there.
    """
    from reap_omni.model.inputs import conversation

    tok = processor.tokenizer
    out = []
    for b, s in enumerate(samples):
        if not s.text:
            out.append(torch.zeros(0, dtype=torch.long))
            continue
        full = processor.apply_chat_template(conversation(s, stratum), tokenize=False, add_generation_prompt=False)
        prompt = processor.apply_chat_template(conversation(replace(s, text=""), stratum), tokenize=False,
                                               add_generation_prompt=True)
        start = len(prompt) if full.startswith(prompt) else full.rfind(s.text)
        tail = full[start:]
        j = tail.find(s.text)
        if start < 0 or j < 0:
            raise ReapOmniError(f"{s.where}: cannot find the answer text in the rendered chat template")
        ids_tail = _ids(tok, tail)
        n_pre = len(_ids(tok, tail[:j]))
        upto = _ids(tok, tail[:j + len(s.text)])
        if upto != ids_tail[:len(upto)]:
            raise ReapOmniError(f"{s.where}: the answer's tokens merge with the template text after it; "
                                "cannot tell which tokens are the answer")
        row = input_ids[b]
        valid = torch.nonzero(attention_mask[b]).flatten() if attention_mask is not None else None
        end = int(valid[-1]) + 1 if valid is not None and valid.numel() else row.shape[0]
        begin = end - len(ids_tail)
        if begin < 0 or row[begin:end].tolist() != ids_tail:
            raise ReapOmniError(f"{s.where}: the processor's tokens do not end with the answer as the chat template "
                                "renders it; cannot locate the answer tokens")
        out.append(torch.arange(begin + n_pre, begin + len(upto), dtype=torch.long))
    return out


def _ids(tok, text: str) -> list[int]:
    return list(tok(text, add_special_tokens=False)["input_ids"]) if text else []


# -- token metrics -----------------------------------------------------------------------------------------

@dataclass
class Reference:
    """The original model's distribution at answer tokens: its top-k log-probabilities and the tail mass."""

    top_idx: torch.Tensor  # [T, k] int64, most likely first
    top_logp: torch.Tensor  # [T, k] float32
    tail_logp: torch.Tensor  # [T] float32: log of the mass outside the top-k (−inf when k = vocab)

    def to(self, device) -> Reference:
        return Reference(self.top_idx.to(device), self.top_logp.to(device), self.tail_logp.to(device))

    def rows(self, start: int, stop: int) -> Reference:
        return Reference(self.top_idx[start:stop], self.top_logp[start:stop], self.tail_logp[start:stop])

    @staticmethod
    def cat(parts: Sequence[Reference]) -> Reference:
        return Reference(torch.cat([p.top_idx for p in parts]), torch.cat([p.top_logp for p in parts]),
                         torch.cat([p.tail_logp for p in parts]))


def log_probs(logits: torch.Tensor) -> torch.Tensor:
    """float32 log-softmax over the vocabulary (last dim)."""
    return torch.log_softmax(logits.float(), dim=-1)


def token_nll(logp: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """−log q(target) per token: ``logp`` [T, V], ``targets`` [T]."""
    return -logp.gather(-1, targets[:, None].to(logp.device))[:, 0]


def _tail(logp: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """log of the probability mass outside ``idx`` per row (−inf when ``idx`` covers the vocabulary)."""
    return torch.logsumexp(logp.scatter(-1, idx, float("-inf")), dim=-1)


def reference(logp: torch.Tensor, k: int) -> Reference:
    """The stored view of the original's distribution: top-``k`` (k is capped at the vocabulary size)."""
    top_logp, top_idx = torch.topk(logp, min(k, logp.shape[-1]), dim=-1)
    return Reference(top_idx, top_logp, _tail(logp, top_idx))


def bucket_kl(ref: Reference, logq: torch.Tensor) -> torch.Tensor:
    """KL(original ‖ method) per token over the original's top-k tokens plus one tail bucket."""
    ref = ref.to(logq.device)
    logq_top = logq.gather(-1, ref.top_idx)
    logq_tail = _tail(logq, ref.top_idx)
    p_top = ref.top_logp.exp()
    head = (p_top * (ref.top_logp - logq_top)).sum(-1)
    p_tail = ref.tail_logp.exp()
    tail = torch.where(p_tail > 0, p_tail * (ref.tail_logp - logq_tail), torch.zeros_like(p_tail))
    return head + tail


def top1_agreement(ref: Reference, logq: torch.Tensor) -> torch.Tensor:
    """Whether the method's most likely token is the original's, per token (bool)."""
    return logq.argmax(-1) == ref.top_idx[:, 0].to(logq.device)


# -- transcripts -------------------------------------------------------------------------------------------

def uses_cer(lang: str | None, text: str) -> bool:
    """Chinese is scored by characters: by ``lang`` (zh, zh-CN, cmn, yue, ...), or by its script when unset."""
    if lang:
        return lang.strip().lower().replace("_", "-").split("-")[0] in CER_LANGS
    return bool(_CJK.search(text or ""))


def _transforms():
    import jiwer

    words = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(),
                           jiwer.Strip(), jiwer.ReduceToListOfListOfWords()])
    chars = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveWhiteSpace(),
                           jiwer.Strip(), jiwer.ReduceToListOfListOfChars()])
    return words, chars


def scorable(reference_text: str, cer: bool) -> bool:
    """A reference with nothing left after normalisation (only punctuation) cannot be scored."""
    words, chars = _transforms()
    return bool((chars if cer else words)([reference_text])[0])


def error_counts(references: Sequence[str], hypotheses: Sequence[str], cer: bool) -> tuple[int, int]:
    """jiwer's edit and reference-length counts after normalisation: (S + D + I, H + S + D).

    jiwer's corpus rate is ``float(S + D + I) / float(H + S + D)`` with both summed over the sentences, so
    counts summed over batches or ranks give exactly the rate jiwer computes over all rows at once.
    """
    import jiwer

    if len(references) != len(hypotheses) or not references:
        raise ValueError("need as many hypotheses as references, at least one")
    words, chars = _transforms()
    t = chars if cer else words
    out = jiwer.process_words(list(references), list(hypotheses), reference_transform=t, hypothesis_transform=t)
    return (int(out.substitutions + out.deletions + out.insertions),
            int(out.hits + out.substitutions + out.deletions))


def rate(errors: int, length: int) -> float:
    """WER/CER from summed counts, by jiwer's own formula (jiwer counts insertions when nothing is referenced)."""
    return float(errors) / float(length) if length else float(errors)


def error_rate(references: Sequence[str], hypotheses: Sequence[str], cer: bool) -> float:
    """Corpus WER (or CER): total edits over total reference words (characters), jiwer after normalisation."""
    return rate(*error_counts(references, hypotheses, cer))


def jiwer_available() -> bool:
    try:
        import jiwer  # noqa: F401
    except ImportError:
        return False
    return True
