"""``reap-omni eval``: expert selections and written checkpoints judged on held-out rows (``pipeline``).

``options``, ``rows`` (with ``heldout``), ``selections``, ``runner`` (with ``router_mask``, ``encoder_replay``,
``metrics``, ``accumulate``), ``report`` and ``recovery`` (several checkpoints' recovered share of the gap).
"""
