"""``reap-omni eval``'s options: what to evaluate (selections, written checkpoints), on which rows, how.

The placement flags are one ``Placement`` (``model.placement``), as for ``prune`` and ``heal``'s teacher.
``retention_rates`` lists the retentions of a sweep (every selection at each, on the one loaded model); empty, it
is ``[retention_rate]``, the one-value run of before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reap_omni.errors import ReapOmniError
from reap_omni.model.inputs import InputOptions
from reap_omni.model.placement import Placement, placement_keywords

#: selections computed from the scores, in report order
METHODS = ("reap-omni", "reap-s1", "reap-text", "reap-all", "frequency", "random")
#: what ``--methods`` defaults to; ``reap-text`` and ``reap-all`` join when the scores hold S0 (``default_methods``)
DEFAULT_METHODS = ("reap-omni", "reap-s1", "frequency", "random")
TEXT_METHODS = ("reap-text", "reap-all")
ORIGINAL, PRUNED = "original", "pruned"
NEEDS_SCORES = ("reap-omni", "reap-s1", "reap-text", "reap-all", "frequency")
DEFAULT_ASR_PROMPT = "Transcribe the audio into text."
EVAL_FORMAT = "reap-omni-eval/1"


@placement_keywords
@dataclass
class EvalOptions:
    model_path: str
    output: str
    scores: str | None = None
    retention_rate: float = 0.5
    #: a sweep: every selection at each of these retentions (empty: ``[retention_rate]``)
    retention_rates: list[float] = field(default_factory=list)
    #: None: ``DEFAULT_METHODS``, plus ``TEXT_METHODS`` when the scores hold S0 statistics
    methods: list[str] | None = None
    pruned: str | None = None
    #: several named checkpoints (``--pruned NAME=PATH`` ...), evaluated after ``pruned`` in this order
    pruned_named: list[tuple[str, str]] = field(default_factory=list)
    audio_data: str | None = None
    video_data: str | None = None
    mixed_data: str | None = None
    text_data: str | None = None  # S0: held-out text rows; NLL/KL/top-1 on their answer tokens
    samples: int = 100
    max_new_tokens: int = 128  # 0: no transcripts
    asr_prompt: str = DEFAULT_ASR_PROMPT
    calibration_lock: list[str] = field(default_factory=list)
    skip_calibration_rows: bool = False
    lam: float = 1.0
    beta: float = 1.0
    gamma: float = 0.0  # REAP-OMNI's optional S0 weight, as prune's --gamma
    seed: int = 0
    kl_top_k: int = 64
    placement: Placement = field(default_factory=Placement)  # device, device map, memory, offload, dtype
    batch_size: int = 1
    inputs: InputOptions = field(default_factory=InputOptions)
    progress: bool = False

    @property
    def rates(self) -> list[float]:
        """The retentions evaluated, in the order given (one value: the run of before)."""
        return list(self.retention_rates) or [self.retention_rate]


def default_methods(has_text: bool) -> list[str]:
    """``--methods``' default: REAP-OMNI, S1 saliency, frequency and random; with S0 statistics also REAP on the
    text rows alone and on the union of all rows (the selections a text-only REAP user would otherwise get)."""
    out = list(DEFAULT_METHODS)
    if has_text:
        out[2:2] = TEXT_METHODS
    return out


def checkpoints(opts: EvalOptions) -> list[tuple[str, str]]:
    """The written checkpoints to evaluate, in order: ``(name, path)``; the first is the recovery reference."""
    return ([(PRUNED, opts.pruned)] if opts.pruned else []) + list(opts.pruned_named)


def check_options(opts: EvalOptions) -> None:
    """Every option on its own, before any file is read."""
    methods = list(DEFAULT_METHODS) if opts.methods is None else opts.methods
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ReapOmniError(f"unknown --methods entry {unknown[0]!r} (choose from {', '.join(METHODS)})")
    if len(set(methods)) != len(methods):
        raise ReapOmniError("--methods names a method twice")
    rates = opts.rates
    if len(set(rates)) != len(rates):
        raise ReapOmniError(f"--retention lists a value twice: {', '.join(f'{r:g}' for r in rates)}")
    names = [name for name, _ in checkpoints(opts)]
    taken = [n for n in names if n in (ORIGINAL, *METHODS)]
    if taken or len(set(names)) != len(names):
        raise ReapOmniError(f"--pruned names must be unique and not {ORIGINAL} or a method: {', '.join(names)}")
    if any(m in NEEDS_SCORES for m in methods) and not opts.scores:
        need = ", ".join(m for m in methods if m in NEEDS_SCORES)
        raise ReapOmniError(f"--scores is required for {need} (a pruned folder or its reap_omni/scores.json)")
    if opts.samples < 1:
        raise ReapOmniError("--samples must be at least 1")
    if opts.batch_size < 1:
        raise ReapOmniError("--batch-size must be at least 1")
    if opts.kl_top_k < 1:
        raise ReapOmniError("--kl-top-k must be at least 1")
    if opts.max_new_tokens < 0:
        raise ReapOmniError("--max-new-tokens must be 0 (no transcripts) or more")
    opts.placement.check()
    if not any((opts.audio_data, opts.video_data, opts.mixed_data, opts.text_data)):
        raise ReapOmniError("pass at least one of --audio-data, --video-data, --mixed-data, --text-data")
    out = Path(opts.output)
    if out.exists() and not out.is_dir():
        raise ReapOmniError(f"--output {out} is a file; pass a folder")

