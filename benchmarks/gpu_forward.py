"""The REAP observer's cost on a Qwen3-Omni-proportioned MoE at real input lengths (the GPU check of issue 11).

A random thinker with the real text MoE's shape (hidden 2048, 128 experts, top-8, moe_intermediate 768,
32 query / 4 key-value heads of 128; ``--layers`` of them, 6 by default; the audio and vision encoders stay
small, they hold no experts) is built straight on the device in bf16. Real-length media go through the
calibration path's own processor inputs (``inputs.fit_sample``): 30 s of audio (S1), 10 s of video at 2 fps
(S2), 10 s of video with its audio track (S3). For each stratum, plain forwards and forwards with
``ReapObserver`` attached alternate; printed: tokens, median milliseconds, observed/plain ratio (target
<= 1.5x), tokens/s of both, and the device's peak memory.

One prepared run for a lent GPU (a few minutes on an H200, most of it building the model):

    python benchmarks/gpu_forward.py --device cuda:0

It also runs on a CPU with a smaller shape, which is how it is checked here:

    python benchmarks/gpu_forward.py --device cpu --hidden 256 --experts 16 --layers 1 --audio-seconds 4 \
        --video-seconds 2 --heads 4 --kv-heads 1 --head-dim 64 --moe-intermediate 128 --repeats 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def build_model(args, device: str, dtype):
    """The random thinker, constructed on ``device`` (no host copy of the weights)."""
    import torch
    from transformers import Qwen3OmniMoeThinkerConfig, Qwen3OmniMoeThinkerForConditionalGeneration

    from reap_omni.model.tiny import thinker_config_dict

    cfg = thinker_config_dict(num_experts=args.experts, top_k=args.top_k, hidden=args.hidden,
                              moe_intermediate=args.moe_intermediate, layers=args.layers, heads=args.heads,
                              kv_heads=args.kv_heads, head_dim=args.head_dim)
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen3OmniMoeThinkerForConditionalGeneration(Qwen3OmniMoeThinkerConfig(**cfg))
    model.to(dtype).eval()
    with torch.no_grad():  # routers may start at zero (every expert tied): give them a random direction
        for name, p in model.named_parameters():
            if name.endswith("mlp.gate.weight"):
                p.normal_(0.0, 0.02)
    return model


def stratum_inputs(processor, root: Path, args) -> dict[str, dict]:
    from reap_omni.fixtures.media import make_audio, make_video
    from reap_omni.model.inputs import InputOptions, Sample, fit_sample

    audio, video, mixed = root / "a.wav", root / "v.mp4", root / "m.mp4"
    make_audio(audio, seconds=args.audio_seconds, fmt="wav", freq=330.0, seed=0)
    make_video(video, seconds=args.video_seconds, with_audio=False, seed=1)
    make_video(mixed, seconds=args.video_seconds, with_audio=True, seed=2)
    pixels = args.frame_pixels
    opts = InputOptions(video_fps=2.0, video_size={"shortest_edge": pixels, "longest_edge": pixels},
                        max_seq_len=args.max_seq_len)
    text = "a description of the clip, the length of a typical calibration answer"
    rows = {"S1": Sample("a", text, audio, None, "a"), "S2": Sample("v", text, None, video, "v"),
            "S3": Sample("m", text, None, mixed, "m")}
    return {s: fit_sample(processor, x, s, opts) for s, x in rows.items()}


def main() -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda:0" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default=None, help="default bfloat16 on cuda, float32 on cpu")
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--hidden", type=int, default=2048)
    ap.add_argument("--experts", type=int, default=128)
    ap.add_argument("--top-k", type=int, default=8)
    ap.add_argument("--moe-intermediate", type=int, default=768)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--audio-seconds", type=float, default=30.0)
    ap.add_argument("--video-seconds", type=float, default=10.0)
    ap.add_argument("--frame-pixels", type=int, default=224 * 224,
                    help="pixels per frame (the tiny processor has no 2x2 merge: 224x224 gives the real model's "
                         "196 tokens per frame pair at 448x448)")
    ap.add_argument("--max-seq-len", type=int, default=8192)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    from reap_omni.model.load import to_device as _to
    from reap_omni.model.moe import find_moe_blocks
    from reap_omni.model.tiny import build_tiny_processor
    from reap_omni.prune.observer import ReapObserver

    dtype = getattr(torch, args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32"))
    cuda = args.device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    t0 = time.perf_counter()
    model = build_model(args, args.device, dtype)
    blocks = find_moe_blocks(model)
    n_params = sum(p.numel() for p in model.parameters())
    size = f"{n_params / 1e9:.2f} B" if n_params >= 10**9 else f"{n_params / 1e6:.1f} M"
    print(f"model: {size} parameters ({args.layers} MoE layers x {args.experts} experts, top-"
          f"{args.top_k}, hidden {args.hidden}, expert {args.moe_intermediate}) in {str(dtype)[6:]} on "
          f"{args.device}, built in {time.perf_counter() - t0:.1f} s")
    processor = build_tiny_processor()
    with tempfile.TemporaryDirectory(prefix="reap-omni-gpu-") as tmp:
        inputs = stratum_inputs(processor, Path(tmp), args)

    for stratum, raw in inputs.items():
        batch = {k: _to(k, v, args.device, dtype) for k, v in raw.items()}
        mask = batch["attention_mask"]
        tokens = int(mask.sum())

        def plain() -> float:
            sync()
            t = time.perf_counter()
            model(**batch, use_cache=False)  # noqa: B023 - called within this iteration
            sync()
            return time.perf_counter() - t

        def observed() -> float:
            with ReapObserver(blocks) as obs:
                obs.set_attention_mask(mask)  # noqa: B023
                return plain()

        if cuda:
            torch.cuda.reset_peak_memory_stats()
        times: dict[str, list[float]] = {"plain": [], "observed": []}
        with torch.inference_mode():
            plain()
            observed()  # warm-up: kernels, allocator
            for i in range(args.repeats):  # alternating which goes first
                for name, run in (("plain", plain), ("observed", observed))[:: 1 if i % 2 == 0 else -1]:
                    times[name].append(run())
        p, o = statistics.median(times["plain"]), statistics.median(times["observed"])
        peak = f", peak {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if cuda else ""
        print(f"{stratum}: {tokens} tokens; plain {p * 1e3:.1f} ms ({tokens / p:,.0f} tokens/s), observed "
              f"{o * 1e3:.1f} ms ({tokens / o:,.0f} tokens/s); observed/plain {o / p:.2f}x (target <= 1.5x){peak}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
