"""The original model's greedy answers to the healing prompts: the targets of sequence-level distillation.

LLaMA-Factory has no logit distillation, so its route to a teacher is SFT on the teacher's own answers
(they are also offered to ms-swift as a plain SFT set). The prompts are eval's (media + the stratum's
instruction, ``model.inputs``), the model is loaded by the same code as ``prune`` and ``eval``
(``model.load.load_on_rank``: placement, device map, disk offload), and batches are padded on the left so
every row continues from its own last token.

Data parallel under torchrun: rank ``r`` answers every N-th remaining row. Resumable: each rank appends its
answers to ``parts/<stratum>.rank<r>.jsonl`` after every batch, and a rerun skips the rows any part file
holds (a line cut by a kill is ignored); ``settings.json`` names what the answers depend on, and parts made
under other settings are discarded.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from reap_omni.convert.sample import MEDIA_TAGS
from reap_omni.errors import ReapOmniError
from reap_omni.fileio import atomic_write_bytes
from reap_omni.model.info import ModelInfo
from reap_omni.model.inputs import INSTRUCTIONS, InputOptions, Sample
from reap_omni.model.placement import Placement, placement_keywords

SETTINGS_FORMAT = "reap-omni-heal-teacher/1"


@placement_keywords
@dataclass
class TeacherOptions:
    model_path: str
    max_new_tokens: int = 128
    batch_size: int = 4
    placement: Placement = field(default_factory=Placement)  # device, device map, memory, offload, dtype
    inputs: InputOptions = field(default_factory=InputOptions)
    progress: bool = False

    def key(self) -> dict[str, Any]:
        """What the answers depend on (a resume reuses answers only under the same key)."""
        return {"format": SETTINGS_FORMAT, "model": str(Path(self.model_path).resolve()),
                "max_new_tokens": self.max_new_tokens, "dtype": self.placement.dtype, "instructions": INSTRUCTIONS,
                "inputs": asdict(self.inputs)}


def clean_answer(text: str) -> str:
    """A decoded answer as a training target: no thinking block, no literal media tag, trimmed."""
    text = re.sub(r"<think>.*?</think>", "", text, flags=re.S)
    for tag in MEDIA_TAGS:
        text = text.replace(tag, "")
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", text)  # control characters are no answer
    return text.strip()


def read_parts(folder: Path) -> dict[str, dict[str, str]]:
    """``{stratum: {row id: answer}}`` from every part file; an unreadable line (cut by a kill) is skipped."""
    out: dict[str, dict[str, str]] = {}
    for part in sorted(folder.glob("*.rank*.jsonl")):
        for line in part.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                rec = json.loads(line)
                out.setdefault(rec["stratum"], {})[rec["id"]] = rec["answer"]
            except (ValueError, KeyError, TypeError):
                continue
    return out


def _end_line(path: Path) -> Path:
    """End the last line of ``path`` if a kill cut it short, so that it cannot swallow the next one."""
    try:
        with open(path, "rb+") as f:
            f.seek(0, 2)
            if f.tell():
                f.seek(-1, 2)
                if f.read(1) != b"\n":
                    f.write(b"\n")
    except FileNotFoundError:
        pass
    return path


def _prepare(folder: Path, opts: TeacherOptions, log: Callable[[str], None]) -> None:
    """Rank 0: keep the parts made under the same settings, discard others."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = folder / "settings.json"
    want = opts.key()
    try:
        have = json.loads(settings.read_text())
    except (OSError, ValueError):
        have = None
    if have != want:
        stale = list(folder.glob("*.rank*.jsonl"))
        if stale and have is not None:
            log(f"teacher answers: {len(stale)} part file(s) were made under other settings; answering again")
        for p in stale:
            p.unlink()
        atomic_write_bytes(settings, (json.dumps(want, indent=1) + "\n").encode())


def teacher_answers(opts: TeacherOptions, samples: dict[str, list[Sample]], folder: Path,
                    log: Callable[[str], None], info: ModelInfo | None = None) -> dict[str, dict[str, str]] | None:
    """Every row's answer (``{stratum: {id: answer}}``, "" when the model answered nothing usable), resuming from
    ``folder``. Under torchrun every rank answers its share; rank 0 returns the answers, the others ``None``.
    ``info``: the original's description from ``check_model`` (read from ``opts.model_path`` when not given)."""
    from reap_omni.model.distributed import Dist

    dist = Dist.from_env()
    try:
        err: BaseException | None = None
        if dist.is_main:
            try:
                _prepare(folder, opts, log)
            except OSError as exc:
                err = ReapOmniError(f"cannot write the teacher answers in {folder}: {exc.strerror or exc}")
        dist.check(err, "preparing the teacher answers")
        done = read_parts(folder)
        todo = {s: [x for x in rows if x.id not in done.get(s, {})] for s, rows in samples.items()}
        left = sum(len(v) for v in todo.values())
        if dist.is_main:
            total = sum(len(v) for v in samples.values())
            log(f"teacher answers: {total - left} of {total} rows already answered, {left} to go")
        if left:
            err = None
            try:
                _answer(opts, info or ModelInfo.read(opts.model_path, "thinker"),
                        {s: dist.shard(v) for s, v in todo.items()},
                        lambda s: folder / f"{s}.rank{dist.rank}.jsonl", dist, log)
            except Exception as exc:  # noqa: BLE001 - reported to every rank, then re-raised here
                err = exc
            dist.check(err, "answering with the original model")
        if not dist.is_main:
            return None
        answers = read_parts(folder)
        return {s: {x.id: answers.get(s, {}).get(x.id, "") for x in rows} for s, rows in samples.items()}
    finally:
        dist.close()


def _answer(opts: TeacherOptions, info: ModelInfo, shards: dict[str, list[Sample]], part: Callable[[str], Path],
            dist, log: Callable[[str], None]) -> None:
    import torch
    from transformers import GenerationConfig

    from reap_omni.model.info import media_token_ids
    from reap_omni.model.inputs import iter_batches, media_seconds
    from reap_omni.model.load import load_on_rank, load_processor, to_device
    from reap_omni.prune.progress import StratumProgress

    processor = load_processor(opts.model_path)
    root, _model, device, dtype = load_on_rank(info, opts.placement, dist, log)
    tok = processor.tokenizer
    eos = [i for i in {tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>")}
           if isinstance(i, int) and i >= 0 and i != tok.unk_token_id]
    pad = tok.pad_token_id if tok.pad_token_id is not None else (eos or [0])[0]
    # a placeholder token in an answer would be read back as a media slot: never generate one
    gen_cfg = GenerationConfig(max_new_tokens=opts.max_new_tokens, do_sample=False, num_beams=1,
                               eos_token_id=eos or None, pad_token_id=pad,
                               suppress_tokens=media_token_ids(root.config))
    side = tok.padding_side
    tok.padding_side = "left"  # batched greedy decoding continues every row from its last real token
    try:
        for stratum, rows in shards.items():
            prompts = [replace(x, text="") for x in rows]
            with StratumProgress(stratum, len(rows), enabled=opts.progress and dist.is_main,
                                 label=" (teacher answers)") as bar, \
                    open(_end_line(part(stratum)), "a", encoding="utf-8") as out_file:
                for inputs, chunk in iter_batches(processor, prompts, stratum, opts.batch_size, opts.inputs):
                    t0 = time.perf_counter()
                    batch = {k: to_device(k, v, device, dtype) for k, v in inputs.items()}
                    n_in = int(batch["input_ids"].shape[1])
                    with torch.inference_mode():
                        out = root.generate(**batch, generation_config=gen_cfg)
                    texts = tok.batch_decode(out[:, n_in:], skip_special_tokens=True)
                    for sample, text in zip(chunk, texts, strict=True):
                        out_file.write(json.dumps({"stratum": stratum, "id": sample.id, "answer": clean_answer(text),
                                               "seconds": round(time.perf_counter() - t0, 3)},
                                              ensure_ascii=False) + "\n")
                    out_file.flush()
                    bar.update(len(chunk), int(inputs["attention_mask"].sum()), media_seconds(inputs))
    finally:
        tok.padding_side = side
