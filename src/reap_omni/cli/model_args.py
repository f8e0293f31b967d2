"""What the commands that run the model (``prune``, ``eval``, ``heal``) share: the extra they need, how media
are fed, and where the weights go (one ``Placement``)."""

from __future__ import annotations

import argparse

from reap_omni.errors import ReapOmniError


def require_prune_extra(what: str) -> None:
    """One line naming the install command when torch/transformers are missing (the data toolkit has neither)."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        from reap_omni.install_hint import install_command

        raise ReapOmniError(f"{what} needs the [prune] extra ({exc.name} is missing): {install_command('prune')}") \
            from None


def add_input_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-seq-len", type=int, default=4096,
                   help="longer samples have their media shortened (text rows: their answer cut at the end)")
    p.add_argument("--video-fps", type=float, default=2.0, help="frames per second sampled from videos")
    p.add_argument("--video-max-pixels", type=int, help="cap on pixels per video frame (processor default if unset)")
    p.add_argument("--max-media-seconds", type=float, default=300.0,
                   help="read at most this many seconds of each row's audio/video (0: only --max-seq-len limits it)")


def input_options(args: argparse.Namespace):
    """``model.inputs.InputOptions`` from the arguments of ``add_input_arguments``, checked."""
    from reap_omni.model.inputs import InputOptions

    if not 0 < args.video_fps < float("inf"):  # NaN fails too
        raise ReapOmniError("--video-fps must be a positive number")
    if args.max_seq_len < 16:
        raise ReapOmniError("--max-seq-len must be at least 16")
    size = None
    if args.video_max_pixels is not None:
        if args.video_max_pixels < 16 * 16:
            raise ReapOmniError("--video-max-pixels must be at least 256")
        size = {"shortest_edge": min(args.video_max_pixels, 128 * 32 * 32), "longest_edge": args.video_max_pixels}
    if not (args.max_media_seconds == 0 or 1 <= args.max_media_seconds < float("inf")):  # NaN fails too
        raise ReapOmniError(f"--max-media-seconds must be at least 1 (or 0: no cap), got {args.max_media_seconds}")
    return InputOptions(video_fps=args.video_fps, video_size=size, max_seq_len=args.max_seq_len,
                        max_media_seconds=args.max_media_seconds or None)


def placement_options(args: argparse.Namespace):
    """``model.placement.Placement`` from ``--device``, ``--device-map``, ``--max-memory``, ``--offload-folder``
    and ``--dtype`` (parsed, one-line errors)."""
    from reap_omni.model.placement import Placement, parse_device_map, parse_max_memory

    return Placement(device=args.device, device_map=parse_device_map(args.device_map),
                     max_memory=parse_max_memory(args.max_memory), offload_folder=args.offload_folder,
                     dtype=args.dtype)
