"""One MP4 from a video-only stream and a separate audio stream, for S3 rows of sources that store them apart.

``ProgramComputer/avspeech-visual-audio`` keeps each clip as a ``video`` cell (video-only, stream-copied)
and an ``audio`` cell (audio-only): an S3 row needs both in one file, so the video packets are copied
unchanged and the audio is re-encoded to AAC beside them (a few seconds of audio; the row's normalisation
then cuts and re-encodes the whole as any other MP4). Sources whose video already has sound (mteb copies
ship both) are left as they are.
"""

from __future__ import annotations

import io

import av

from reap_omni.media.probe import MediaRejected

AAC_RATES = (48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)


def has_audio_stream(data: bytes, name: str) -> bool:
    """Whether the container ``data`` holds an audio stream (headers only, nothing decoded)."""
    try:
        with av.open(io.BytesIO(data)) as container:
            return bool(container.streams.audio)
    except av.FFmpegError as exc:
        raise MediaRejected(f"cannot open: {exc}", name, "undecodable") from None


def mux_audio(video: bytes, audio: bytes, name: str) -> bytes:
    """``video``'s video stream (copied) with ``audio``'s first audio stream (AAC), as MP4 bytes."""
    out = io.BytesIO()
    try:
        with av.open(io.BytesIO(video)) as vin, av.open(io.BytesIO(audio)) as ain, \
                av.open(out, "w", format="mp4") as mux:
            if not vin.streams.video or not ain.streams.audio:
                what = "video" if not vin.streams.video else "audio"
                raise MediaRejected(f"no {what} stream to combine", name, f"no_{what}")
            vsrc, asrc = vin.streams.video[0], ain.streams.audio[0]
            vdst = _copy_stream(mux, vsrc)
            rate = asrc.rate if asrc.rate in AAC_RATES else 48000
            adst = mux.add_stream("aac", rate=rate, layout="mono")
            resample = av.AudioResampler(format="fltp", layout="mono", rate=rate)
            for packet in vin.demux(vsrc):
                if packet.dts is None:
                    continue
                packet.stream = vdst
                mux.mux(packet)
            for frame in ain.decode(asrc):
                for converted in resample.resample(frame):
                    mux.mux(adst.encode(converted))
            for converted in resample.resample(None):
                mux.mux(adst.encode(converted))
            mux.mux(adst.encode(None))
    except av.FFmpegError as exc:
        raise MediaRejected(f"cannot combine video and audio: {exc}", name, "undecodable") from None
    return out.getvalue()


def _copy_stream(mux, template):
    """An output stream with ``template``'s codec parameters, for stream copy: PyAV >= 13 names it
    ``add_stream_from_template``; PyAV 12 (the oldest pyproject allows) takes ``add_stream(template=...)``."""
    add = getattr(mux, "add_stream_from_template", None)
    return add(template) if add is not None else mux.add_stream(template=template)
