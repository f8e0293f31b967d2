"""reap-omni: calibration sets, training-format conversion and REAP-OMNI pruning for omni-modal MoE models.

The data toolkit (catalog, sources, media, manifest, convert) never imports torch or transformers;
those belong to the optional ``[prune]`` extra and are imported only inside ``reap_omni.prune``.
"""

__version__ = "0.1.0"
