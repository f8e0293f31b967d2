"""Affinity heatmap: layers x experts, with the kept experts outlined.

A quick visual check that the selection follows the scores and differs between layers; a static
selection (always experts 0..K-1) is obvious at a glance.
"""

from __future__ import annotations

import io
import os

from reap_omni.fileio import atomic_write_bytes


def affinity_heatmap_png(affinity, kept, title: str = "REAP-OMNI audio affinity") -> bytes:
    """PNG bytes of the [layers, experts] affinity with kept experts marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    a = np.asarray(affinity, dtype=np.float64)
    n_layers, n_exp = a.shape
    fig, ax = plt.subplots(figsize=(min(24, max(5.5, 2 + 0.12 * n_exp)), min(18, 1.8 + 0.25 * n_layers)), dpi=100,
                           layout="constrained")
    im = ax.imshow(a, aspect="auto", cmap="viridis", interpolation="nearest")
    rows, cols = [], []
    for layer, ids in enumerate(np.asarray(kept)):
        rows.extend([layer] * len(ids))
        cols.extend(ids.tolist())
    ax.scatter(cols, rows, marker="s", s=max(4, 600 / max(n_exp, 1)), facecolors="none", edgecolors="red",
               linewidths=0.8, label="kept")
    ax.set_xlabel("expert")
    ax.set_ylabel("MoE layer")
    ax.set_title(f"{title} (kept {len(cols) // max(n_layers, 1)}/{n_exp} per layer)")
    # outside the axes: inside, the legend box hides the kept markers of the top layers
    fig.legend(loc="outside lower center", fontsize="small", frameon=False)
    fig.colorbar(im, ax=ax, label="A = S1 + λ·ReLU(S3 − β·S2)")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def save_heatmap(path: str | os.PathLike[str], affinity, kept) -> None:
    atomic_write_bytes(path, affinity_heatmap_png(affinity, kept))
