"""``eval``'s passes over one rank's rows: the original with each selection masked into its router, then
each written checkpoint; teacher-forced metrics against the original's reference, and greedy transcripts.

The models load as calibration loads them (``model.load.load_on_rank``: this rank's placement, the plan
printed); one model is in memory at a time. ``pipeline`` checks the inputs and writes the outputs.

A selection's label is its method name, or ``(method, retention)`` in a retention sweep: every masked pass of a
batch shares the one reference pass and encoder recording, so a sweep costs one masked pass more per retention.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from reap_omni.evaluate.accumulate import Acc
from reap_omni.evaluate.options import ORIGINAL, PRUNED, EvalOptions
from reap_omni.model.info import ModelInfo
from reap_omni.model.inputs import iter_batches
from reap_omni.model.load import to_device

if TYPE_CHECKING:
    from reap_omni.evaluate.rows import EvalRow
    from reap_omni.model.distributed import Dist


class _InstructionProcessor:
    """The processor, with the user turn's instruction replaced (greedy transcripts ask for a transcript)."""

    def __init__(self, processor, instruction: str):
        self._processor = processor
        self._instruction = instruction

    def __getattr__(self, name):
        return getattr(self._processor, name)

    def __call__(self, *args, **kwargs):
        return self._processor(*args, **kwargs)

    def apply_chat_template(self, conversation, **kwargs):
        conv = []
        for msg in conversation:
            content = msg["content"]
            if msg["role"] == "user" and isinstance(content, list):
                content = [{**c, "text": self._instruction} if c.get("type") == "text" else c for c in content]
            conv.append({**msg, "content": content})
        return self._processor.apply_chat_template(conv, **kwargs)


def label_fields(label: Any) -> dict[str, Any]:
    """A row record's ``method`` (and ``retention``, for a sweep's ``(method, retention)`` label)."""
    if isinstance(label, tuple):
        return {"method": label[0], "retention": label[1]}
    return {"method": label}


def _to(batch: dict[str, Any], device, dtype) -> dict[str, Any]:
    return {k: to_device(k, v, device, dtype) for k, v in batch.items()}


def _sync(device) -> None:
    import torch

    if getattr(device, "type", "cpu") == "cuda":
        torch.cuda.synchronize(device)


class _LogitsAt:
    """While active, the LM head computes logits only at the given positions (a pre-hook slices its input)."""

    def __init__(self, head):
        self.head = head
        self.positions = None
        self._handle = head.register_forward_pre_hook(self._hook)

    def _hook(self, _mod, args):
        if self.positions is None:
            return None
        h = args[0]
        return (h[:, self.positions.to(h.device), :], *args[1:])

    def close(self) -> None:
        self._handle.remove()


class Runner:
    """Holds the rows, the original's references and the running sums, across the models it loads."""

    def __init__(self, opts: EvalOptions, rows: dict[str, list[EvalRow]], log: Callable[[str], None],
                 dist: Dist | None = None):
        from reap_omni.model.distributed import Dist

        self.opts = opts
        self.rows = rows  # this rank's shard of each stratum
        self.log = log
        self.dist = dist or Dist()
        self.acc: dict[str, dict[str, Acc]] = {s: {} for s in rows}
        self.refs: dict[tuple[str, str], Any] = {}  # (stratum, row id) -> Reference (CPU)
        self.row_records: list[dict[str, Any]] = []
        self.meta: dict[str, Any] = {}
        self.processor = None

    # model loading -----------------------------------------------------------------------------------
    def _load(self, info: ModelInfo):
        from reap_omni.model.load import load_on_rank

        self._processor()  # tokenizer, chat template and config are checked before any weight is read
        # this rank's device, device-map slice and memory share, as calibration loads
        root, model, device, dtype = load_on_rank(info, self.opts.placement, self.dist, self.log)
        self.meta.setdefault("dtype", str(dtype).removeprefix("torch."))
        self.meta.setdefault("device", str(device))
        return root, model, device, dtype

    def _processor(self):
        if self.processor is None:
            from reap_omni.model.load import load_processor

            self.processor = load_processor(self.opts.model_path)
        return self.processor

    def _collective(self, step: Callable[[], Any], what: str) -> Any:
        """Run ``step``; whether it failed is agreed on by every rank (``Dist.check``) before going on."""
        err: BaseException | None = None
        out = None
        try:
            out = step()
        except Exception as exc:  # noqa: BLE001 - reported collectively, then re-raised on this rank
            err = exc
        self.dist.check(err, what)
        return out

    # passes ------------------------------------------------------------------------------------------
    def run_original_and_masked(self, kept: dict[str, Any], info: ModelInfo | None = None) -> None:
        """The original (``info``: ``--model``'s description) and every selection masked into its router."""
        import torch

        from reap_omni.evaluate.encoder_replay import EncoderReplay
        from reap_omni.evaluate.router_mask import RouterMask, kept_by_layer
        from reap_omni.model.moe import find_moe_blocks

        info = info or ModelInfo.read(self.opts.model_path, "thinker")
        root, model, device, dtype = self._collective(lambda: self._load(info), "model loading")
        blocks = find_moe_blocks(root)
        layers = [b.layer for b in blocks]
        masks = {m: kept_by_layer(layers, v) for m, v in kept.items()}
        replay = EncoderReplay(root)
        head = _LogitsAt(root.get_output_embeddings())
        mask = RouterMask(blocks)
        try:
            with torch.inference_mode():
                for stratum in self.rows:
                    self._collective(lambda s=stratum: self._stratum(s, root, device, dtype, head, mask, replay,
                                                                     masks), f"stratum {stratum}")
        finally:
            mask.close()
            head.close()
            replay.clear()

    def run_pruned(self, name: str = PRUNED, info: ModelInfo | None = None) -> None:
        """A written checkpoint (``info``: its description; ``--pruned`` when not given) on its own."""
        import torch

        info = info or ModelInfo.read(self.opts.pruned, "thinker")
        root, model, device, dtype = self._collective(lambda: self._load(info),
                                                      f"loading the pruned checkpoint {info.path}")
        head = _LogitsAt(root.get_output_embeddings())
        try:
            with torch.inference_mode():
                for stratum in self.rows:
                    self._collective(lambda s=stratum: self._stratum(s, root, device, dtype, head, None, None, {},
                                                                     pruned=name), f"stratum {stratum} ({name})")
        finally:
            head.close()

    def _stratum(self, stratum, root, device, dtype, head, mask, replay, masks, pruned: str | None = None) -> None:
        from reap_omni.model.inputs import media_seconds
        from reap_omni.prune.progress import StratumProgress

        rows = self.rows[stratum]
        by_id = {r.sample.id: r for r in rows}
        processor = self._processor()
        o = self.opts
        methods = [pruned] if pruned else [ORIGINAL, *masks]
        for m in methods:
            self.acc[stratum].setdefault(m, Acc())
        label = f" ({pruned})" if pruned else f" ({len(methods)} models)"
        if self.dist.active:
            label += f" (rank 0 of {self.dist.world_size})"
        with StratumProgress(stratum, len(rows), enabled=o.progress and self.dist.is_main, label=label) as bar:
            for inputs, chunk in iter_batches(processor, [r.sample for r in rows], stratum, o.batch_size, o.inputs):
                batch_rows = [by_id[s.id] for s in chunk]
                self._teacher_forced(stratum, batch_rows, inputs, root, device, dtype, head, mask, replay, masks,
                                     pruned, chunk)
                self._transcripts(stratum, batch_rows, root, device, dtype, mask, methods, masks)
                tokens = int(inputs["attention_mask"].sum()) if "attention_mask" in inputs else 0
                bar.update(len(chunk), tokens, media_seconds(inputs))

    def _teacher_forced(self, stratum, batch_rows, inputs, root, device, dtype, head, mask, replay, masks,
                        pruned, chunk=None) -> None:
        import torch

        from reap_omni.evaluate.metrics import (
            Reference,
            answer_positions,
            bucket_kl,
            log_probs,
            reference,
            token_nll,
            top1_agreement,
        )

        samples = list(chunk) if chunk is not None else [r.sample for r in batch_rows]  # as fed (S0: answer cut)
        positions = answer_positions(self._processor(), samples, stratum, inputs["input_ids"],
                                     inputs.get("attention_mask"))
        counts = [int(p.numel()) for p in positions]
        n_tok = sum(counts)
        if n_tok == 0:
            return
        # logits at p - 1 predict the answer token at p; the head computes only those positions
        union = torch.unique(torch.cat([p - 1 for p in positions]))
        gather_b = torch.cat([torch.full((c,), b, dtype=torch.long) for b, c in enumerate(counts)])
        gather_p = torch.searchsorted(union, torch.cat([p - 1 for p in positions]))
        targets = torch.cat([inputs["input_ids"][b, p] for b, p in enumerate(positions)])
        batch = _to(inputs, device, dtype)
        head.positions = union

        def forward() -> torch.Tensor:
            _sync(device)
            out = root(**batch, use_cache=False, output_router_logits=False)
            logits = out.logits[gather_b.to(out.logits.device), gather_p.to(out.logits.device)]
            return log_probs(logits)

        def record(method: str, logq, ref, seconds: float) -> None:
            nll = token_nll(logq, targets)
            kl = bucket_kl(ref, logq)
            top1 = top1_agreement(ref, logq).double()
            a = self.acc[stratum][method]
            a.rows += sum(c > 0 for c in counts)
            a.tokens += n_tok
            a.nll += float(nll.double().sum())
            a.kl += float(kl.double().sum())
            a.top1 += int(top1.sum())
            a.seconds += seconds
            start = 0
            for r, c in zip(batch_rows, counts, strict=True):
                if c:
                    sl = slice(start, start + c)
                    self.row_records.append({
                        "stratum": stratum, "id": r.sample.id, **label_fields(method), "tokens": c,
                        "nll": float(nll[sl].double().mean()), "kl": float(kl[sl].double().mean()),
                        "top1": float(top1[sl].mean())})
                start += c

        try:
            if pruned:
                ref = Reference.cat([self.refs[(stratum, r.sample.id)] for r, c in zip(batch_rows, counts,
                                                                                        strict=True) if c])
                t0 = time.perf_counter()
                logq = forward()
                _sync(device)
                record(pruned, logq, ref, time.perf_counter() - t0)
                return
            t0 = time.perf_counter()
            mask.set(None)
            with replay.record():
                logp = forward()
            ref = reference(logp, self.opts.kl_top_k)
            _sync(device)
            record(ORIGINAL, logp, ref, time.perf_counter() - t0)
            start = 0
            cpu_ref = ref.to("cpu")
            for r, c in zip(batch_rows, counts, strict=True):
                if c:
                    self.refs[(stratum, r.sample.id)] = cpu_ref.rows(start, start + c)
                start += c
            del logp
            for method, kept in masks.items():
                t0 = time.perf_counter()
                mask.set(kept)
                with replay.replay():
                    logq = forward()
                _sync(device)
                record(method, logq, ref, time.perf_counter() - t0)
                del logq
        finally:
            head.positions = None
            if mask is not None:
                mask.set(None)
            if replay is not None:
                replay.clear()

    def _transcripts(self, stratum, batch_rows, root, device, dtype, mask, methods, masks) -> None:
        import re

        import torch
        from transformers import GenerationConfig

        from reap_omni.evaluate.metrics import error_counts, scorable, uses_cer

        o = self.opts
        asr = [r for r in batch_rows if r.asr]
        if not asr or not o.max_new_tokens:
            return
        cer = {r.sample.id: uses_cer(r.lang, r.sample.text) for r in asr}
        asr = [r for r in asr if scorable(r.sample.text, cer[r.sample.id])]
        if not asr:
            return
        processor = self._processor()
        tok = processor.tokenizer
        eos = [i for i in {tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>")}
               if isinstance(i, int) and i >= 0 and i != tok.unk_token_id]
        gen_cfg = GenerationConfig(max_new_tokens=o.max_new_tokens, do_sample=False, num_beams=1,
                                   eos_token_id=eos or None,
                                   pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else (eos or [0])[0])
        prompt_proc = _InstructionProcessor(processor, o.asr_prompt)
        side = tok.padding_side
        tok.padding_side = "left"  # batched greedy decoding continues every row from its last real token
        try:
            gen_samples = [replace(r.sample, text="") for r in asr]
            inputs, _ = next(iter(iter_batches(prompt_proc, gen_samples, stratum, len(gen_samples), o.inputs)))
        finally:
            tok.padding_side = side
        batch = _to(inputs, device, dtype)
        n_in = int(batch["input_ids"].shape[1])
        for method in methods:
            if mask is not None:
                mask.set(masks.get(method))
            t0 = time.perf_counter()
            try:
                with torch.inference_mode():
                    out = root.generate(**batch, generation_config=gen_cfg)
            finally:
                if mask is not None:
                    mask.set(None)
            _sync(device)
            seconds = time.perf_counter() - t0
            hyps = [re.sub(r"<think>.*?</think>", "", h, flags=re.S).strip()
                    for h in tok.batch_decode(out[:, n_in:], skip_special_tokens=True)]
            a = self.acc[stratum][method]
            a.gen_seconds += seconds
            for r, h in zip(asr, hyps, strict=True):
                by_cer = cer[r.sample.id]
                errors, length = error_counts([r.sample.text], [h], cer=by_cer)  # jiwer sums these per row
                if by_cer:
                    a.cer_errors, a.cer_chars, a.cer_rows = a.cer_errors + errors, a.cer_chars + length, a.cer_rows + 1
                else:
                    a.wer_errors, a.wer_words, a.wer_rows = a.wer_errors + errors, a.wer_words + length, a.wer_rows + 1
                self.row_records.append({"stratum": stratum, "id": r.sample.id, **label_fields(method),
                                         "reference": r.sample.text, "transcript": h,
                                         "metric": "cer" if by_cer else "wer"})

    def document(self) -> dict[str, Any]:
        """``strata``: stratum -> label -> result, ``(method, retention)`` labels kept as they are for the
        pipeline to lay out on the retention axis."""
        strata = {s: {m: a.result() for m, a in accs.items()} for s, accs in self.acc.items()}
        return {"strata": strata, "meta": dict(self.meta)}


