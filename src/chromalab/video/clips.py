"""Video files in and out with PyAV: frames one at a time as 8-bit RGB, and an H.264 file written beside them
with the input's frame size, frame count and average rate (frame i at i / rate: containers such as AVI carry
timestamps too unreliable to copy), its audio copied (or re-encoded when MP4 cannot hold it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

COPYABLE_AUDIO = {"aac", "mp3", "ac3", "eac3", "alac", "opus"}  # what an MP4 holds as it is
# x264's constant rate factor: 18 is visually lossless for most eyes; 23 is x264's own default
DEFAULT_CRF = 18
PRESET = "veryfast"


class VideoError(ValueError):
    """A video that cannot be read or written; ``str()`` is the one-line reason."""


@dataclass(frozen=True)
class ClipInfo:
    width: int
    height: int
    rate: Fraction  # average frames per second
    frames: int  # as the container says (0 when it does not know; may be wrong: count_frames)
    audio: bool


def open_clip(path: Path) -> av.container.InputContainer:
    """The container at ``path`` with a video stream; ``VideoError`` otherwise."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as error:
        raise VideoError(f"not a readable video ({_reason(error)})") from None
    if not container.streams.video:
        container.close()
        raise VideoError("no video stream")
    return container


def info(container: av.container.InputContainer) -> ClipInfo:
    stream = container.streams.video[0]
    return ClipInfo(
        stream.codec_context.width,
        stream.codec_context.height,
        _rate(stream),
        stream.frames or 0,
        bool(container.streams.audio),
    )


def count_frames(container: av.container.InputContainer) -> int:
    """The clip's frames, counted from its video packets without decoding them (what the container's header
    says can be wrong: tree.avi's says 444 for 68, and a Matroska file's says 0). Reads the file through
    once (milliseconds for a clip, seconds for a film); the container is left at its end."""
    stream = container.streams.video[0]
    try:
        return sum(1 for packet in container.demux(stream) if packet.size)
    except av.error.FFmpegError as error:
        raise VideoError(f"broken video ({_reason(error)})") from None


def _rate(stream: av.stream.Stream) -> Fraction:
    """Average frames per second as the container says, else as FFmpeg guesses, else 25."""
    return Fraction(stream.average_rate or stream.guessed_rate or 25)


def frames(path: Path) -> Iterator[np.ndarray]:
    """Every frame of the clip at ``path`` as uint8 RGB (H, W, 3), one at a time."""
    with open_clip(path) as container:
        try:
            for frame in container.decode(video=0):
                yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as error:
            raise VideoError(f"broken video ({_reason(error)})") from None


def transcode(
    source: Path, target: Path, paint: Callable[[np.ndarray], np.ndarray], *, crf: int = DEFAULT_CRF
) -> int:
    """Write ``target`` (MP4, H.264) with every frame of ``source`` passed through ``paint(rgb) -> rgb`` in
    order, the same frame count, size and average rate, and ``source``'s first audio stream; returns the
    frames written."""
    with open_clip(source) as container, av.open(str(target), mode="w", format="mp4") as output:
        video_in = container.streams.video[0]
        audio_in = container.streams.audio[0] if container.streams.audio else None
        video_out = _video_stream(output, video_in, crf)
        audio = _AudioPass(output, audio_in) if audio_in is not None else None
        written = 0
        try:
            for packet in container.demux(*(s for s in (video_in, audio_in) if s is not None)):
                if packet.stream is video_in:
                    for frame in packet.decode():
                        _encode(output, video_out, written, paint(frame.to_ndarray(format="rgb24")))
                        written += 1
                elif audio is not None:
                    audio.send(packet)
        except av.error.FFmpegError as error:
            raise VideoError(f"broken video ({_reason(error)})") from None
        for packet in video_out.encode():
            output.mux(packet)
        if audio is not None:
            audio.finish()
    return written


def _video_stream(
    output: av.container.OutputContainer, source: av.stream.Stream, crf: int
) -> av.stream.Stream:
    rate = _rate(source)
    stream = output.add_stream("libx264", rate=rate)
    stream.width, stream.height = source.codec_context.width, source.codec_context.height
    even = stream.width % 2 == 0 and stream.height % 2 == 0
    stream.pix_fmt = "yuv420p" if even else "yuv444p"  # 4:2:0 needs even sides
    stream.codec_context.time_base = 1 / rate
    stream.options = {"crf": str(crf), "preset": PRESET}
    return stream


def _encode(
    output: av.container.OutputContainer, stream: av.stream.Stream, index: int, rgb: np.ndarray
) -> None:
    painted = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    painted.pts, painted.time_base = index, stream.codec_context.time_base
    for packet in stream.encode(painted):
        output.mux(packet)


class _AudioPass:
    """The input's audio into the output: packets copied as they are when MP4 holds the codec, else decoded,
    resampled to the AAC encoder's frames and encoded."""

    def __init__(self, output: av.container.OutputContainer, source: av.stream.Stream) -> None:
        self.output = output
        self.copy = source.codec_context.name in COPYABLE_AUDIO
        if self.copy:
            self.stream = output.add_stream_from_template(source)
            return
        self.stream = output.add_stream("aac", rate=source.codec_context.sample_rate or 48000)
        channels = source.codec_context.channels
        # more: mixed down
        self.stream.layout, self.stream.format = (
            "mono" if channels == 1 else "stereo",
            "fltp",
        )
        # AAC's frame
        self.resampler = av.AudioResampler(
            format="fltp", layout=self.stream.layout, rate=self.stream.rate, frame_size=1024
        )

    def send(self, packet: av.Packet) -> None:
        if packet.dts is None:
            return  # the demuxer's empty flush packet
        if self.copy:
            packet.stream = self.stream
            self.output.mux(packet)
            return
        for frame in packet.decode():
            frame.pts = None
            self._encode(self.resampler.resample(frame))

    def finish(self) -> None:
        if not self.copy:
            self._encode(self.resampler.resample(None))
            self._encode([None])

    def _encode(self, frames: list) -> None:
        for frame in frames:
            for packet in self.stream.encode(frame):
                self.output.mux(packet)


def _reason(error: Exception) -> str:
    return str(getattr(error, "strerror", None) or error).splitlines()[0]
