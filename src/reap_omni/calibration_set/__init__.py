"""Calibration-set building: plan -> sample candidates -> normalise media -> write records."""
