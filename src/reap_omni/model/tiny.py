"""A tiny random Qwen3-Omni-MoE model and a real tiny processor, built offline.

Tests and the benchmark need a model that exercises the real classes (audio tower, vision tower,
interleaved audio+video rope, MoE routing, talker) but runs in seconds on a CPU. The configuration
follows transformers' own Qwen3-Omni-MoE tests; the processor is assembled from real components
(byte-level BPE tokenizer, Whisper feature extractor, Qwen2-VL image/video processors) because the
Hub's tiny processor cannot be downloaded offline.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|audio_start|>", "<|audio_end|>", "<|audio_pad|>",
    "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>",
)
#: 256 byte tokens, then the special tokens in the order above.
VOCAB_SIZE = 256 + len(SPECIAL_TOKENS)
TOKEN_IDS = {tok: 256 + i for i, tok in enumerate(SPECIAL_TOKENS)}

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'audio' or 'audio' in c %}<|audio_start|><|audio_pad|><|audio_end|>"
    "{% elif c['type'] == 'video' or 'video' in c %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif c['type'] == 'image' or 'image' in c %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: Vision geometry of the tiny model (patch 16, no spatial merge, 2 frames per temporal patch).
PATCH_SIZE, MERGE_SIZE, TEMPORAL_PATCH = 16, 1, 2
NUM_MEL_BINS = 20


def thinker_config_dict(
    *, num_experts: int = 8, top_k: int = 2, hidden: int = 32, moe_intermediate: int = 32, layers: int = 4,
    mlp_only_layers: list[int] | None = None, heads: int = 4, kv_heads: int = 2, head_dim: int | None = None,
) -> dict[str, Any]:
    """The thinker config of transformers' tests, with token ids matching the tiny tokenizer."""
    rope = {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default", "interleaved": True,
            "rope_theta": 1e6}
    text = {
        "vocab_size": VOCAB_SIZE, "hidden_size": hidden, "intermediate_size": 37, "num_hidden_layers": layers,
        "num_attention_heads": heads, "num_key_value_heads": kv_heads, "head_dim": head_dim or hidden // heads,
        "hidden_act": "silu",
        "max_position_embeddings": 4096, "rms_norm_eps": 1e-6, "rope_theta": 1e6, "tie_word_embeddings": False,
        "use_sliding_window": False, "sliding_window": 50, "max_window_layers": 3, "pad_token_id": 0,
        "moe_intermediate_size": moe_intermediate, "num_experts": num_experts, "num_experts_per_tok": top_k,
        "decoder_sparse_step": 1, "norm_topk_prob": True, "mlp_only_layers": mlp_only_layers or [],
        "rope_parameters": rope, "rope_scaling": rope,
    }
    return {
        "model_type": "qwen3_omni_moe_thinker",
        "audio_config": {
            "d_model": hidden, "encoder_attention_heads": 4, "encoder_ffn_dim": 32, "encoder_layers": 2,
            "num_mel_bins": NUM_MEL_BINS, "max_source_positions": 1500, "downsample_hidden_size": 32,
            "n_window": 50, "output_dim": hidden, "n_window_infer": 100,
        },
        "vision_config": {
            "depth": 2, "embed_dim": 32, "hidden_size": 32, "out_hidden_size": hidden, "intermediate_size": 24,
            "hidden_act": "quick_gelu", "mlp_ratio": 4, "num_heads": 4, "patch_size": PATCH_SIZE,
            "spatial_merge_size": MERGE_SIZE, "temporal_patch_size": TEMPORAL_PATCH, "deepstack_visual_indexes": [1],
            "initializer_range": 0.02,
        },
        "text_config": text,
        "audio_token_id": TOKEN_IDS["<|audio_pad|>"], "image_token_id": TOKEN_IDS["<|image_pad|>"],
        "video_token_id": TOKEN_IDS["<|video_pad|>"], "audio_start_token_id": TOKEN_IDS["<|audio_start|>"],
        "audio_end_token_id": TOKEN_IDS["<|audio_end|>"], "user_token_id": ord("u"),
        "vision_start_token_id": TOKEN_IDS["<|vision_start|>"], "vision_end_token_id": TOKEN_IDS["<|vision_end|>"],
        "position_id_per_seconds": 13, "seconds_per_chunk": 2,
    }


def talker_config_dict(thinker_hidden: int = 32) -> dict[str, Any]:
    """A tiny talker (MoE with a shared expert) and code predictor, mirroring the real checkpoint's parts."""
    rope = {"mrope_section": [1, 1, 2], "rope_type": "default", "interleaved": True, "rope_theta": 1e6}
    return {
        "text_config": {
            "vocab_size": 64, "hidden_size": 32, "intermediate_size": 32, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "moe_intermediate_size": 16,
            "num_experts": 8, "num_experts_per_tok": 2, "norm_topk_prob": True,
            "shared_expert_intermediate_size": 16, "rope_parameters": rope, "rope_scaling": rope,
        },
        "code_predictor_config": {
            "vocab_size": 64, "hidden_size": 32, "intermediate_size": 32, "num_hidden_layers": 1,
            "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "num_code_groups": 4,
        },
        "num_code_groups": 4, "thinker_hidden_size": thinker_hidden, "accept_hidden_layer": 1,
        "codec_eos_token_id": 60, "codec_nothink_id": 61, "codec_think_bos_id": 62, "codec_think_eos_id": 63,
        "codec_pad_id": 58, "codec_bos_id": 59, "spatial_merge_size": MERGE_SIZE,
        "audio_token_id": TOKEN_IDS["<|audio_pad|>"], "image_token_id": TOKEN_IDS["<|image_pad|>"],
        "video_token_id": TOKEN_IDS["<|video_pad|>"], "vision_start_token_id": TOKEN_IDS["<|vision_start|>"],
        "audio_start_token_id": TOKEN_IDS["<|audio_start|>"], "speaker_id": {"tiny": 1},
    }


def code2wav_config_dict() -> dict[str, Any]:
    return {
        "codebook_size": 64, "hidden_size": 16, "num_attention_heads": 2, "num_key_value_heads": 2,
        "intermediate_size": 16, "num_hidden_layers": 1, "num_quantizers": 4, "upsample_rates": [2, 2],
        "upsampling_ratios": [2], "decoder_dim": 16, "sliding_window": 8,
    }


def build_tiny_model(kind: str = "full", seed: int = 0, **thinker_kwargs: Any):
    """A random tiny model: ``full`` (thinker + talker + code2wav, like the Instruct checkpoint) or ``thinker``."""
    import torch
    from transformers import (
        Qwen3OmniMoeConfig,
        Qwen3OmniMoeForConditionalGeneration,
        Qwen3OmniMoeThinkerConfig,
        Qwen3OmniMoeThinkerForConditionalGeneration,
    )

    torch.manual_seed(seed)
    thinker = thinker_config_dict(**thinker_kwargs)
    if kind == "thinker":
        model = Qwen3OmniMoeThinkerForConditionalGeneration(Qwen3OmniMoeThinkerConfig(**thinker))
    elif kind == "full":
        cfg = Qwen3OmniMoeConfig(
            thinker_config=thinker, talker_config=talker_config_dict(thinker["text_config"]["hidden_size"]),
            code2wav_config=code2wav_config_dict(), enable_audio_output=True,
        )
        model = Qwen3OmniMoeForConditionalGeneration(cfg)
    else:
        raise ValueError(f"unknown tiny model kind {kind!r}")
    _randomise(model, seed)
    return model.eval()


def _randomise(model, seed: int) -> None:
    """Give every parameter a non-trivial random value: zero-initialised routers would make routing a tie."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and ("norm" in name or "ln" in name):
                p.copy_(1.0 + 0.05 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))


def build_tiny_processor():
    """A real ``Qwen3OmniMoeProcessor`` whose token ids match ``TOKEN_IDS``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        Qwen2TokenizerFast,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
        Qwen3OmniMoeProcessor,
        WhisperFeatureExtractor,
    )

    byte_chars = _bytes_to_unicode()
    vocab = {byte_chars[b]: b for b in range(256)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    extra = {
        "image_token": "<|image_pad|>", "audio_token": "<|audio_pad|>", "video_token": "<|video_pad|>",
        "vision_bos_token": "<|vision_start|>", "vision_eos_token": "<|vision_end|>",
        "audio_bos_token": "<|audio_start|>", "audio_eos_token": "<|audio_end|>",
    }
    tokenizer = Qwen2TokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", extra_special_tokens=extra,
    )
    for t, i in TOKEN_IDS.items():
        assert tokenizer.convert_tokens_to_ids(t) == i, (t, i)
    geometry = {"patch_size": PATCH_SIZE, "merge_size": MERGE_SIZE, "temporal_patch_size": TEMPORAL_PATCH}
    pixels = {"min_pixels": 32 * 32, "max_pixels": 64 * 64}
    size = {"shortest_edge": pixels["min_pixels"], "longest_edge": pixels["max_pixels"]}
    return Qwen3OmniMoeProcessor(
        image_processor=Qwen2VLImageProcessor(**geometry, size=size),
        video_processor=Qwen2VLVideoProcessor(**geometry, size=size),
        feature_extractor=WhisperFeatureExtractor(feature_size=NUM_MEL_BINS),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
    )


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map used by byte-level BPE."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


#: Video size limits (pixels per frame) that keep the tiny model's video token counts small.
TINY_VIDEO_SIZE = {"shortest_edge": 32 * 32, "longest_edge": 64 * 64}


def save_tiny_checkpoint(
    path: str | os.PathLike[str], kind: str = "full", seed: int = 0, max_shard_size: str = "200KB",
    **thinker_kwargs: Any,
) -> Path:
    """Save a tiny model (sharded safetensors) plus its processor, like a Hub checkpoint folder."""
    out = Path(path)
    model = build_tiny_model(kind, seed, **thinker_kwargs)
    model.save_pretrained(out, max_shard_size=max_shard_size)
    processor = build_tiny_processor()
    processor.save_pretrained(out)
    _merge_preprocessor_config(out, processor)
    with open(out / "reap_omni_tiny.json", "w") as f:
        json.dump({"kind": kind, "seed": seed, "video_size": TINY_VIDEO_SIZE}, f)
    return out


def _merge_preprocessor_config(out: Path, processor) -> None:
    """transformers 4.57 saves the feature extractor and the image processor to the same
    ``preprocessor_config.json`` (the second overwrites the first); the real checkpoint holds both in it."""
    path = out / "preprocessor_config.json"
    if not path.is_file():  # transformers 5.x: everything is in processor_config.json
        return
    cfg = json.loads(path.read_text())
    for part in (processor.feature_extractor, processor.image_processor):
        for key, value in part.to_dict().items():
            cfg.setdefault(key, value)
    path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
