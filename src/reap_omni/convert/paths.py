"""Deprecated import path, kept for one release: media path resolution lives in ``reap_omni.manifest.paths``
(the manifest layer reads and validates paths, and arrows point down: convert uses manifest, not the reverse)."""

from reap_omni.manifest.paths import MediaResolver, absolute_media_path, absolutize_row, is_url, manifest_line

__all__ = ["MediaResolver", "absolute_media_path", "absolutize_row", "is_url", "manifest_line"]
