"""reap-omni: calibration sets, training-format conversion and REAP-OMNI pruning for omni-modal MoE models.

The data toolkit (catalog, sources, media, manifest, convert) never imports torch or transformers;
those belong to the optional ``[prune]`` extra and are imported only on the model side (``reap_omni.model``,
``reap_omni.prune``, ``reap_omni.evaluate``, ``reap_omni.heal``), and only where a module needs them.
"""

__version__ = "0.1.0"
