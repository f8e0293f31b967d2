"""What every model command needs (optional extra ``[prune]`` where torch is used).

``info`` (``ModelInfo``: the checkpoint described once), ``preflight`` (its checks before any weight is read),
``placement`` / ``memory_plan`` (where the weights go), ``load`` (loading on this rank), ``moe`` (the loaded
MoE blocks), ``distributed`` (torchrun data parallelism), ``st_stream`` (safetensors bytes), ``inputs`` with
``media_load`` / ``media_window`` / ``audio_per_clip`` (calibration inputs from manifests), ``tiny`` (the tiny
test model). ``info``, ``placement``, ``preflight`` and ``st_stream`` import no torch.
"""
