"""REAP-OMNI expert pruning (optional extra ``[prune]``: torch, transformers, safetensors).

The observer and calibration statistics (``observer``, ``calibration``, ``checkpoint``), scores and selection
(``scores``, ``checks``), checkpoint surgery (``surgery``, ``previous``), the heat map and progress bars, and the
prune pipeline (``pipeline``). What every model command shares is ``reap_omni.model``; ``eval`` is
``reap_omni.evaluate``. The modules that moved out keep their old import paths for one release
(``reap_omni.moved``).
"""

from reap_omni import moved as _moved

_moved.install()
