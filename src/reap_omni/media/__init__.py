"""Media handling with PyAV only: probe, decode, resample, clip, encode. No network, no manifest."""
