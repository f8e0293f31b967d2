"""REAP-OMNI expert pruning (optional extra ``[prune]``: torch, transformers, safetensors)."""
