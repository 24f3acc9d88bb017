"""Reading archived videos with PyAV: what they are (:func:`probe_video`) and what they show
(:func:`contact_sheet`).

Both read from any seekable binary file, such as :class:`~airflow_video_gen.s3.S3ObjectReader`
over the archived object, so a video is never held whole in memory: the demuxer reads the index
and the packets it needs, and only small thumbnails are kept.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import IO, Any

import av
from PIL import Image, ImageDraw

#: A seekable binary file: an open file, ``io.BytesIO`` or :class:`~airflow_video_gen.s3.S3ObjectReader`.
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
    sheet.save(out, format="PNG", optimize=True)
    return out.getvalue()
