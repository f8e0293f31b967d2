"""Calibration-set building: plan -> sample candidates -> normalise media -> write records.

The report modules moved to ``reap_omni.report``; their old import paths work for one release
(``reap_omni.moved``).
"""

from reap_omni import moved as _moved

_moved.install()
