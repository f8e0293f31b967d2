"""Run the audio and vision encoders once per batch, however many expert selections are evaluated on it.

Router masking changes only the thinker's text MoE layers; the audio tower and the vision encoder hold no
experts, so their outputs for a batch are the same under every selection. ``EncoderReplay.record()``
keeps each encoder call's output during the first forward of a batch; ``replay()`` then answers the same
calls, in the same order, with those outputs instead of running the encoders again. On a video batch the
vision encoder is a large share of a forward, so this is what keeps an evaluated selection cheaper than a
plain forward.

The encoders are found by their attribute names (``audio_tower``, ``visual``), which are the same in
transformers 4.57 and 5.x. The model reshapes some output fields after the call (5.x splits
``pooler_output`` per video in place on the output object), so outputs are stored and handed out as
shallow copies; the tensors themselves are never modified by the model. A replayed call with other input
shapes than the recorded one, or a call that was never recorded, is an error, never a silent mismatch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

ENCODER_NAMES = ("audio_tower", "visual")


def _copy(output: Any) -> Any:
    if isinstance(output, dict):  # transformers ModelOutput is an OrderedDict: copy its fields, keep its class
        return type(output)(**output)
    if isinstance(output, tuple) and not hasattr(output, "_fields"):
        return tuple(output)
    return output


def _signature(args, kwargs) -> tuple:
    shapes = []
    for v in (*args, *kwargs.values()):
        shapes.append(tuple(v.shape) if isinstance(v, torch.Tensor) else None)
    return tuple(shapes)


class EncoderReplay:
    """Record the encoders' outputs on one forward, replay them on the next ones (same inputs)."""

    def __init__(self, root):
        self.modules = [m for name, m in root.named_modules() if name.rsplit(".", 1)[-1] in ENCODER_NAMES]
        self._records: dict[int, list[tuple[tuple, Any]]] = {}

    def clear(self) -> None:
        self._records = {}

    @contextlib.contextmanager
    def record(self) -> Iterator[None]:
        """Forwards inside keep every encoder call's output (earlier records are dropped)."""
        self._records = {id(m): [] for m in self.modules}
        handles = [m.register_forward_hook(self._recorder(m), with_kwargs=True) for m in self.modules]
        try:
            yield
        finally:
            for h in handles:
                h.remove()

    def _recorder(self, module):
        calls = self._records[id(module)]

        def hook(_mod, args, kwargs, output):
            calls.append((_signature(args, kwargs), _copy(output)))

        return hook

    @contextlib.contextmanager
    def replay(self) -> Iterator[None]:
        """Forwards inside get the recorded outputs instead of running the encoders."""
        saved = []
        position = {id(m): 0 for m in self.modules}
        for m in self.modules:
            saved.append((m, "forward" in vars(m), vars(m).get("forward")))
            m.forward = self._player(m, position)
        try:
            yield
        finally:
            for m, had, fwd in saved:
                if had:
                    m.forward = fwd
                else:
                    del m.forward

    def _player(self, module, position: dict[int, int]):
        calls = self._records.get(id(module), [])
        name = type(module).__name__

        def forward(*args, **kwargs):
            i = position[id(module)]
            if i >= len(calls):
                raise RuntimeError(f"{name} was called {i + 1} times, but only {len(calls)} outputs were recorded")
            sig, out = calls[i]
            if sig != _signature(args, kwargs):
                raise RuntimeError(f"{name} call {i + 1} has other inputs than the recorded call")
            position[id(module)] = i + 1
            return _copy(out)

        return forward
