"""Reading archived videos with PyAV: what they are (:func:`probe_video`) and what they show
(:func:`contact_sheet`); joining clips into one MP4 without re-encoding (:func:`concat_mp4`).

Both read from any seekable binary file, such as :class:`~airflow_video_gen.utils.s3.S3ObjectReader`
over the archived object, so a video is never held whole in memory: the demuxer reads the index
and the packets it needs, and only small thumbnails are kept.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import IO, Any

import av
from PIL import Image, ImageDraw

#: A seekable binary file: an open file, ``io.BytesIO`` or
#: :class:`~airflow_video_gen.utils.s3.S3ObjectReader`.
BinaryFile = IO[bytes] | io.RawIOBase

#: Above this many frames only keyframes are decoded for a contact sheet (long videos).
KEYFRAMES_ONLY_ABOVE = 1500
_BACKGROUND = (24, 24, 24)
_LABEL = (230, 230, 230)
_LABEL_HEIGHT = 18


class VideoReadError(ValueError):
    """A file PyAV cannot read as a video."""


@dataclass(frozen=True)
class VideoProbe:
    """What the container says about a video.

    :param width: Pixels.
    :param height: Pixels.
    :param fps: Average frame rate.
    :param duration_s: Seconds (from the container, else the stream).
    :param frames: Frame count when the container records it, else an estimate from duration and fps.
    :param codec: The video codec's name (``h264``...).
    :param has_audio: Whether there is an audio stream.
    """

    width: int
    height: int
    fps: float
    duration_s: float
    frames: int
    codec: str
    has_audio: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _probe(container: Any) -> VideoProbe:
    if not container.streams.video:
        raise VideoReadError("the file has no video stream")
    stream = container.streams.video[0]
    fps = float(stream.average_rate or stream.guessed_rate or 0)
    if container.duration:
        duration = container.duration / av.time_base
    elif stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    else:
        duration = 0.0
    frames = int(stream.frames or round(duration * fps))
    return VideoProbe(
        width=int(stream.codec_context.width),
        height=int(stream.codec_context.height),
        fps=round(fps, 3),
        duration_s=round(duration, 3),
        frames=frames,
        codec=str(stream.codec_context.name),
        has_audio=bool(container.streams.audio),
    )


def _open(file: BinaryFile) -> Any:
    try:
        return av.open(file, mode="r")
    except (av.error.FFmpegError, ValueError) as exc:
        raise VideoReadError(f"not a readable video ({type(exc).__name__}: {exc})") from None


def probe_video(file: BinaryFile) -> VideoProbe:
    """Size, frame rate, duration and codec of a video, from its container header.

    :param file: A seekable binary file positioned anywhere.
    :raises VideoReadError: When it is not a video PyAV can read.
    """
    file.seek(0)
    with _open(file) as container:
        return _probe(container)


def contact_sheet(
    file: BinaryFile, *, tiles: int = 12, columns: int = 4, tile_width: int = 320
) -> tuple[bytes, VideoProbe]:
    """A PNG grid of frames taken evenly across a video, each labelled with its time.

    Frames are decoded in one pass, keeping only the thumbnails; videos of more than
    :data:`KEYFRAMES_ONLY_ABOVE` frames are sampled from their keyframes.

    :param file: A seekable binary file holding the video.
    :param tiles: Frames to show (default 12).
    :param columns: Tiles per row (default 4).
    :param tile_width: Width of each tile in pixels (default 320).
    :return: The PNG bytes, and the video's probe.
    :raises VideoReadError: When the video cannot be read or has no frame.
    """
    if tiles < 1 or columns < 1 or tile_width < 16:
        raise ValueError("tiles and columns must be at least 1 and tile_width at least 16")
    file.seek(0)
    with _open(file) as container:
        probe = _probe(container)
        stream = container.streams.video[0]
        if probe.frames > KEYFRAMES_ONLY_ABOVE:
            stream.codec_context.skip_frame = "NONKEY"
        span = probe.duration_s or (probe.frames / probe.fps if probe.fps else 0.0)
        targets = [span * (i + 0.5) / tiles for i in range(tiles)]
        thumbs: list[tuple[float, Image.Image]] = []
        last: tuple[float, Any] | None = None
        upcoming = 0
        try:
            for frame in container.decode(stream):
                when = float(frame.time or 0.0)
                last = (when, frame)
                if when + 1e-6 >= targets[upcoming]:
                    thumbs.append((when, _thumbnail(frame, tile_width)))
                    while upcoming < tiles and when + 1e-6 >= targets[upcoming]:
                        upcoming += 1
                    if upcoming == tiles:
                        break
        except av.error.FFmpegError as exc:
            if last is None:
                raise VideoReadError(f"no frame could be decoded ({type(exc).__name__}: {exc})") from None
        if not thumbs and last is not None:
            thumbs.append((last[0], _thumbnail(last[1], tile_width)))
    if not thumbs:
        raise VideoReadError("the video has no decodable frame")
    return _grid(thumbs, columns, tile_width, probe), probe


def _thumbnail(frame: Any, width: int) -> Image.Image:
    image: Image.Image = frame.to_image()
    height = max(1, round(image.height * width / image.width))
    return image.resize((width, height), Image.Resampling.BILINEAR)


def _grid(thumbs: list[tuple[float, Image.Image]], columns: int, width: int, probe: VideoProbe) -> bytes:
    columns = min(columns, len(thumbs))
    rows = -(-len(thumbs) // columns)
    tile_height = max(image.height for _, image in thumbs)
    cell = tile_height + _LABEL_HEIGHT
    sheet = Image.new("RGB", (columns * width, rows * cell), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for i, (when, image) in enumerate(thumbs):
        x, y = (i % columns) * width, (i // columns) * cell
        sheet.paste(image, (x, y))
        draw.text((x + 4, y + tile_height + 3), f"{when:.2f} s / {probe.duration_s:.2f} s", fill=_LABEL)
    out = io.BytesIO()
    # zlib's default level, not ``optimize``: a few percent fewer bytes are not worth the CPU of
    # trying every filter, for a sheet made once per archived video.
    sheet.save(out, format="PNG")
    return out.getvalue()


# ------------------------------------------------------------------------------------ joining

#: A file path, as ``str`` or :class:`os.PathLike`.
PathLike = str | os.PathLike[str]
#: Stream types :func:`concat_mp4` joins; other streams (data, subtitles) are left out.
JOINED_STREAM_TYPES = ("video", "audio")


class ConcatError(ValueError):
    """Videos that cannot be joined by remuxing: different streams or different codec parameters."""


def _stream_signature(stream: Any) -> dict[str, Any]:
    """What must be equal in two streams for their packets to follow one another in one stream."""
    context = stream.codec_context
    signature: dict[str, Any] = {
        "stream type": stream.type,
        "codec": context.name,
        "profile": context.profile,
    }
    if stream.type == "video":
        signature["size"] = f"{context.width}x{context.height}"
        signature["pixel format"] = context.format.name if context.format is not None else None
        signature["frame rate"] = str(stream.average_rate)
    else:
        signature["sample rate"] = context.sample_rate
        signature["channel layout"] = context.layout.name
        signature["sample format"] = context.format.name if context.format is not None else None
    # The decoder configuration (H.264 SPS/PPS, AAC AudioSpecificConfig): one per output stream.
    signature["codec configuration"] = bytes(context.extradata or b"")
    return signature


def _joined_streams(container: Any) -> list[Any]:
    return [s for s in container.streams if s.type in JOINED_STREAM_TYPES]


def _layout(path: str) -> list[dict[str, Any]]:
    with _open(path) as container:  # type: ignore[arg-type]
        streams = _joined_streams(container)
        if not streams:
            raise ConcatError(f"{path} has no video or audio stream")
        return [_stream_signature(s) for s in streams]


def _check_compatible(first: list[dict[str, Any]], other: list[dict[str, Any]], number: int) -> None:
    """Raise :class:`ConcatError` naming the first difference between input 0 and input ``number``."""
    if [s["stream type"] for s in first] != [s["stream type"] for s in other]:
        raise ConcatError(
            f"input {number} has streams {[s['stream type'] for s in other]}, input 0 has "
            f"{[s['stream type'] for s in first]}; only videos with the same streams can be joined"
        )
    for index, (a, b) in enumerate(zip(first, other, strict=True)):
        for name, value in a.items():
            if b[name] != value:
                shown = (
                    "differs" if name == "codec configuration" else f"is {b[name]!r}, input 0 has {value!r}"
                )
                raise ConcatError(
                    f"input {number}, {a['stream type']} stream {index}: {name} {shown}; joining without "
                    "re-encoding needs the same codec parameters (re-encode the videos to one format first)"
                )


def _packet_ticks(packet: Any, stream: Any) -> int:
    """A packet's duration in its time base; one frame when the container does not say."""
    if packet.duration:
        return int(packet.duration)
    rate = stream.average_rate if stream.type == "video" else None
    return max(1, round(1 / (rate * packet.time_base))) if rate else 0


def concat_mp4(inputs: Sequence[PathLike], output: PathLike) -> VideoProbe:
    """Join MP4 clips end to end into one MP4, without re-encoding.

    Packets are copied (remuxed) with their timestamps moved so that each clip starts where the
    previous one ended, for every stream alike, so audio stays in sync at each joint. Only one
    packet at a time is held (plus the muxer's small interleaving queue), whatever the length of
    the clips. The streams must match in every input: the same video and audio streams, in the
    same order, with the same codec parameters (codec, profile, size, pixel format, frame rate,
    sample rate, channel layout and codec configuration); clips of one model and one request
    shape do. Data and subtitle streams are left out. The output is written with ``faststart``.

    :param inputs: Paths of the MP4 files, in playing order (at least one).
    :param output: Path of the MP4 to write. A partly written file is removed on failure.
    :return: The probe of the joined video.
    :raises ConcatError: When the inputs' streams or codec parameters differ, or their
        timestamps cannot be placed one after the other.
    :raises VideoReadError: When an input is not a video PyAV can read.
    """
    paths = [os.fspath(p) for p in inputs]
    if not paths:
        raise ValueError("concat_mp4 needs at least one input video")
    layouts = [_layout(path) for path in paths]
    for number, layout in enumerate(layouts[1:], start=1):
        _check_compatible(layouts[0], layout, number)
    destination = os.fspath(output)
    try:
        with av.open(destination, mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
            _remux_all(paths, out)
        with open(destination, "rb") as joined:
            return probe_video(joined)
    except BaseException:
        if os.path.exists(destination):
            os.remove(destination)
        raise


def _remux_all(paths: Sequence[str], out: Any) -> None:
    targets: list[Any] = []
    offset = Fraction(0)  # where the next clip starts on the output timeline, in seconds
    last_dts: dict[int, Fraction] = {}
    for number, path in enumerate(paths):
        with _open(path) as container:  # type: ignore[arg-type]
            streams = _joined_streams(container)
            if not targets:
                targets = [out.add_stream_from_template(s) for s in streams]
            position = {s.index: i for i, s in enumerate(streams)}
            starts = [s.start_time * s.time_base for s in streams if s.start_time is not None]
            start = Fraction(min(starts)) if starts else Fraction(0)
            end = start
            for packet in container.demux(streams):
                if packet.dts is None:  # the demuxer's empty flush packet
                    continue
                # Encoder priming (AAC) that the clip's own edit list hid: it would overlap the
                # previous clip, so it is kept only at the very start.
                if number and packet.is_discard:
                    continue
                stream, base = packet.stream, packet.time_base
                pts = packet.pts if packet.pts is not None else packet.dts
                end = max(end, (pts + _packet_ticks(packet, stream)) * base)
                shift = round((offset - start) / base)
                packet.dts += shift
                packet.pts = pts + shift
                index = position[stream.index]
                when = Fraction(packet.dts * base)
                if index in last_dts and when <= last_dts[index]:
                    raise ConcatError(
                        f"input {number}: a {stream.type} packet at {float(when):.3f} s does not follow "
                        f"the previous one at {float(last_dts[index]):.3f} s; its timestamps cannot be joined"
                    )
                last_dts[index] = when
                packet.stream = targets[index]
                out.mux(packet)
            offset += end - start
