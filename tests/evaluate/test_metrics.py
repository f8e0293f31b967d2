"""eval's metrics against independent computations: NLL, bucketed KL, top-1, WER/CER, answer tokens."""

from __future__ import annotations

import jiwer
import pytest
import torch
import torch.nn.functional as F
from model_helpers import stratum_inputs

from reap_omni.evaluate.metrics import (
    answer_positions,
    bucket_kl,
    error_rate,
    log_probs,
    reference,
    scorable,
    token_nll,
    top1_agreement,
    uses_cer,
)
from reap_omni.model.inputs import load_samples


def _pair(seed: int = 0, t: int = 7, v: int = 50):
    g = torch.Generator().manual_seed(seed)
    p_logits = torch.randn(t, v, generator=g) * 3
    q_logits = p_logits + torch.randn(t, v, generator=g)
    return p_logits, q_logits


def test_nll_and_top1_equal_a_direct_computation():
    p_logits, q_logits = _pair()
    targets = torch.randint(0, 50, (7,), generator=torch.Generator().manual_seed(1))
    logq = log_probs(q_logits)
    torch.testing.assert_close(token_nll(logq, targets), F.cross_entropy(q_logits, targets, reduction="none"))
    ref = reference(log_probs(p_logits), 5)
    assert torch.equal(top1_agreement(ref, logq), q_logits.argmax(-1) == p_logits.argmax(-1))


def test_kl_is_exact_when_k_is_the_vocabulary():
    p_logits, q_logits = _pair()
    p, q = p_logits.double().softmax(-1), q_logits.double().softmax(-1)
    exact = (p * (p.log() - q.log())).sum(-1)
    ref = reference(log_probs(p_logits), 50)
    assert torch.isinf(ref.tail_logp).all() and (ref.tail_logp < 0).all()
    torch.testing.assert_close(bucket_kl(ref, log_probs(q_logits)).double(), exact, rtol=1e-5, atol=1e-6)
    big = reference(log_probs(p_logits), 10_000)  # k above the vocabulary is capped
    assert big.top_idx.shape == (7, 50)


@pytest.mark.parametrize("k", [1, 4, 16])
def test_top_k_kl_is_the_bucketed_divergence_and_a_lower_bound(k):
    p_logits, q_logits = _pair(seed=k)
    p, q = p_logits.double().softmax(-1), q_logits.double().softmax(-1)
    idx = p.topk(k, dim=-1).indices
    p_top, q_top = p.gather(-1, idx), q.gather(-1, idx)
    p_tail, q_tail = 1 - p_top.sum(-1), 1 - q_top.sum(-1)
    want = (p_top * (p_top / q_top).log()).sum(-1) + p_tail * (p_tail / q_tail).log()
    got = bucket_kl(reference(log_probs(p_logits), k), log_probs(q_logits)).double()
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    exact = (p * (p.log() - q.log())).sum(-1)
    assert (got <= exact + 1e-6).all() and (got >= -1e-6).all()


def test_identical_distributions_give_zero_kl_and_full_agreement():
    p_logits, _ = _pair()
    logp = log_probs(p_logits)
    ref = reference(logp, 8)
    assert torch.equal(bucket_kl(ref, logp), torch.zeros(7))
    assert top1_agreement(ref, logp).all()


REFS = ["HELLO WORLD, this is a test.", "It's the second   sentence!", "one two three four"]
HYPS = ["hello world this is test", "its the sentence", "one two tree four five"]


def test_wer_equals_jiwer_on_fixed_strings():
    normalized_refs = ["hello world this is a test", "its the second sentence", "one two three four"]
    assert error_rate(REFS, HYPS, cer=False) == pytest.approx(jiwer.wer(normalized_refs, HYPS))
    # 1 deletion + 1 deletion + 1 substitution + 1 insertion over 6 + 4 + 4 words
    assert error_rate(REFS, HYPS, cer=False) == pytest.approx(4 / 14)
    assert error_rate(["a b c"], ["a b c"], cer=False) == 0.0


def test_cer_equals_jiwer_on_fixed_strings():
    refs, hyps = ["今天天气很好。", "我们 去 公园吧！"], ["今天天汽很好", "我们去公园"]
    assert error_rate(refs, hyps, cer=True) == pytest.approx(jiwer.cer(["今天天气很好", "我们去公园吧"], hyps))
    assert error_rate(refs, hyps, cer=True) == pytest.approx(2 / 12)  # 1 substitution + 1 deletion, 6 + 6 chars


def test_which_rows_use_cer_and_which_can_be_scored():
    assert uses_cer("zh", "") and uses_cer("zh-CN", "") and uses_cer("cmn_hans_cn", "") and uses_cer("yue", "")
    assert not uses_cer("en", "你好") and not uses_cer("de", "hallo")
    assert uses_cer(None, "你好世界") and not uses_cer(None, "hello")
    assert not scorable("...!", cer=False) and scorable("ok.", cer=False)


@pytest.mark.parametrize("stratum", ["S1", "S2", "S3"])
def test_answer_positions_hold_exactly_the_answer_text(tiny_loaded, manifests, stratum):
    _, processor = tiny_loaded
    files = {"S1": "audio", "S2": "video", "S3": "mixed"}
    samples = load_samples(manifests[files[stratum]], stratum, 2)
    inputs = stratum_inputs(processor, manifests, stratum)
    positions = answer_positions(processor, samples, stratum, inputs["input_ids"], inputs["attention_mask"])
    for b, (s, pos) in enumerate(zip(samples, positions, strict=True)):
        assert processor.tokenizer.decode(inputs["input_ids"][b, pos]) == s.text
        assert bool(inputs["attention_mask"][b, pos].all())
