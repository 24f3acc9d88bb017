"""Real H.264 MP4s for the emulator, rendered from the request's image(s).

Nothing here knows about HTTP or the gateway: a :class:`RenderSpec` says what to draw, and
:func:`render_video` encodes it frame by frame (bounded memory: one frame at a time, plus the
decoded input images).

**Camera model.** The fitted start image is a flat picture facing a pinhole camera, at the distance
where it exactly fills the frame. Every move is a change of that camera (position, rotation, focal
length), so each frame is the homography of the picture seen by the moved camera. Picture content
beyond the frame is used when the camera reveals it: the part cut away by ``crop``, then a mirror
of the picture; in ``pad`` mode the letterbox black extends instead. Frame 0 is always the fitted
image itself. Sign conventions for ``simple`` moves, as the KlingAI camera-control documentation
states them (each value in ``[-10, 10]``; the full value is reached at the end of the clip, with an
ease-in/ease-out):

* ``horizontal``: camera translation along x. Positive moves the camera right, so content slides
  left in the frame (up to 20 % of the frame width at 10).
* ``vertical``: camera translation along y. Positive moves the camera up, so content slides down
  (up to 20 % of the frame height).
* ``pan``: rotation about the vertical axis. Positive turns the camera right, so content slides
  left, with perspective (up to 12 degrees).
* ``tilt``: rotation about the horizontal axis. Positive tilts the camera up, so content slides
  down (up to 12 degrees).
* ``roll``: rotation about the optical axis. Positive rolls the camera clockwise, so content turns
  counter-clockwise on screen (up to 30 degrees).
* ``zoom``: focal length change. Negative gives a narrower field of view (longer focal length:
  content grows), positive a wider one (content shrinks); the factor is up to 1.5 either way.

Several non-zero values are composed. The named moves:

* ``down_back``: the camera descends and moves back: content slides up and shrinks.
* ``forward_up``: the camera moves forward and tilts up: content grows and slides down.
* ``right_turn_forward``: the camera turns right, then moves forward: content slides left, then
  grows.
* ``left_turn_forward``: the camera turns left, then moves forward: content slides right, then
  grows.

Without a camera move the clip is a slow push-in: the focal length grows by 8 to 12 % over the
clip while the view drifts by up to 2 % of the frame, both drawn from the seed. With a tail
image the start image cross-fades into it; the camera then goes half of its move and comes back,
so the first and last frames are exactly the two fitted images. Several images without a tail are
references shown in turn, each for an equal share of the clip with its own move.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc, Interpolation
from numpy.typing import NDArray
from PIL import Image, ImageOps

__all__ = ["CameraMove", "RenderSpec", "fit_image", "render_last_frame_png", "render_video"]

CAMERA_TYPES = frozenset({"simple", "down_back", "forward_up", "right_turn_forward", "left_turn_forward"})
SIMPLE_AXES = ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")
RESIZE_MODES = frozenset({"pad", "crop"})

# libx264: the 'ultrafast' preset with CABAC, deblocking and B-frames turned back on, which about
# halves the file size of plain 'ultrafast' for a little more CPU, and costs far less than
# 'veryfast'. Macroblock-tree rate control stays off: with it, repeated encodes of the same frames
# were measured to give different bitstreams on an AVX-512 machine. The thread count is fixed
# because x264's output depends on it; two threads let encoding overlap with drawing frames.
X264_OPTIONS = {
    "preset": "ultrafast",
    "crf": "23",
    "x264-params": "cabac=1:deblock=1,0,0:bframes=3:b-adapt=1:mbtree=0",
}
X264_THREADS = 2

AUDIO_RATE = 48_000
AUDIO_BIT_RATE = 64_000
AUDIO_AMPLITUDE = 0.05
AUDIO_FADE_S = 0.03
_TONES_HZ = (220.0, 261.63, 293.66, 329.63, 392.0, 440.0)

# The default push-in: its zoom and a slight drift are drawn from the seed, so that the videos of
# one request differ the way a model's would. The drift stays within what the zoom crops away.
_PUSH_IN = (1.08, 1.12)
_PUSH_DRIFT = 0.02
_MAX_TRUCK = 0.20
_MAX_TURN = math.radians(12.0)
_MAX_ROLL = math.radians(30.0)
_MAX_ZOOM = 1.5
_NAMED_TURN = math.radians(15.0)
_NAMED_TILT = math.radians(8.0)

# Largest upscaled warp source (about 72 MB of RGB); beyond it warps use bilinear sampling instead.
_WARP_DOUBLE_MAX_PIXELS = 24_000_000

_UInt8Array = NDArray[np.uint8]
_Matrix = NDArray[np.float64]
_Margins = tuple[int, int, int, int]


@dataclass(frozen=True)
class CameraMove:
    """A KlingAI camera control.

    :param type: ``simple``, ``down_back``, ``forward_up``, ``right_turn_forward`` or
        ``left_turn_forward``.
    :param config: For ``simple``: any of ``horizontal``, ``vertical``, ``pan``, ``tilt``, ``roll``
        and ``zoom``, each in ``[-10, 10]``. Ignored by the named moves.
    """

    type: str
    config: Mapping[str, float]


@dataclass(frozen=True)
class RenderSpec:
    """What to render.

    :param images: Encoded image files (PNG, JPEG, WebP...). ``images[0]`` is the start frame; with
        more than one and no ``tail_image`` they are references shown in turn, each for an equal
        share of the clip. With a ``tail_image`` only ``images[0]`` is used.
    :param width: Output width in pixels; an odd value is rounded up to even.
    :param height: Output height in pixels; an odd value is rounded up to even.
    :param duration: Length in seconds; the clip has ``round(duration * fps)`` frames.
    :param fps: Frame rate.
    :param resize_mode: ``pad`` (whole image, black bars) or ``crop`` (fill the frame, centre crop).
    :param camera: Camera move; ``None`` for a slow push-in (zoom about x1.1, slight drift).
    :param tail_image: Encoded last frame: the start image cross-fades into it.
    :param audio: Add an AAC track (a quiet sine tone) as long as the video.
    :param seed: Seed of every pseudo-random choice: the default push-in's zoom and drift, the
        tone's pitch. Explicit camera moves do not depend on it.
    """

    images: tuple[bytes, ...]
    width: int
    height: int
    duration: float
    fps: int = 24
    resize_mode: str = "pad"
    camera: CameraMove | None = None
    tail_image: bytes | None = None
    audio: bool = False
    seed: int = 0


def render_video(spec: RenderSpec, dest: str | os.PathLike[str]) -> None:
    """Encode the clip as an MP4 file (H.264 yuv420p, BT.709, faststart; AAC when asked).

    Rendering is deterministic: the same spec gives the same bytes with the same libraries.

    :param spec: What to render.
    :param dest: Path of the MP4 file to write. A partly written file is removed on failure.
    :raises ValueError: If the spec is invalid or an image cannot be decoded.
    """
    plan = _Plan.build(spec)
    path = os.fspath(dest)
    try:
        _encode(plan, path)
    except BaseException:
        if os.path.exists(path):
            os.remove(path)
        raise


def render_last_frame_png(spec: RenderSpec) -> bytes:
    """Render only the final frame of the clip :func:`render_video` makes, as PNG bytes.

    :param spec: What to render.
    :raises ValueError: If the spec is invalid or an image cannot be decoded.
    """
    plan = _Plan.build(spec)
    shot = plan.shots[-1]
    frame = shot.frame(shot.frames - 1, "rgb24")
    out = io.BytesIO()
    frame.to_image().save(out, format="PNG")
    return out.getvalue()


def fit_image(image: Image.Image, width: int, height: int, resize_mode: str) -> Image.Image:
    """Fit an image to ``width`` x ``height`` (the content of a clip's first frame).

    :param image: Any Pillow image; transparency is flattened onto black.
    :param width: Output width in pixels.
    :param height: Output height in pixels.
    :param resize_mode: ``pad`` keeps the whole image, centred, with black bars; ``crop`` scales it
        to cover the frame and keeps the centre.
    :raises ValueError: If ``resize_mode`` is unknown or a size is not positive.
    """
    if width < 1 or height < 1:
        raise ValueError(f"width and height must be positive, got {width}x{height}")
    _check_resize_mode(resize_mode)
    canvas = _canvas(_to_rgb(image), width, height, resize_mode)
    return Image.fromarray(canvas)


def _check_resize_mode(resize_mode: str) -> None:
    if resize_mode not in RESIZE_MODES:
        raise ValueError(f"resize_mode must be 'pad' or 'crop', got {resize_mode!r}")


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert("RGB")
    return image.convert("RGB")


def _decode(data: bytes) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened)
            return _to_rgb(image)
    except Exception as exc:  # Pillow raises many types (OSError, SyntaxError, DecompressionBombError...)
        raise ValueError(f"image could not be decoded: {exc}") from exc


def _canvas(
    image: Image.Image, width: int, height: int, resize_mode: str, margins: _Margins = (0, 0, 0, 0)
) -> _UInt8Array:
    """The fitted image with extra pixels on each side (left, top, right, bottom), as an RGB array.

    The ``width`` x ``height`` region at (left, top) is the first frame. Around it: the rest of the
    scaled image then its mirror (``crop``), or black (``pad``).
    """
    src_w, src_h = image.size
    if resize_mode == "pad":
        scale = min(width / src_w, height / src_h)
        new_w = min(width, max(1, round(src_w * scale)))
        new_h = min(height, max(1, round(src_h * scale)))
    else:
        scale = max(width / src_w, height / src_h)
        new_w = max(width, round(src_w * scale))
        new_h = max(height, round(src_h * scale))
    if (new_w, new_h) != image.size:
        image = image.resize((new_w, new_h), Image.Resampling.LANCZOS, reducing_gap=3.0)
    pixels = np.asarray(image, dtype=np.uint8)
    left, top, right, bottom = margins
    out_w, out_h = left + width + right, top + height + bottom
    if resize_mode == "pad":
        canvas = np.zeros((out_h, out_w, 3), dtype=np.uint8)
        x = left + (width - new_w) // 2
        y = top + (height - new_h) // 2
        canvas[y : y + new_h, x : x + new_w] = pixels
        return canvas
    # Region of the scaled image the canvas covers; what falls outside it is mirrored in.
    x0 = (new_w - width) // 2 - left
    y0 = (new_h - height) // 2 - top
    x1, y1 = x0 + out_w, y0 + out_h
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, new_w), min(y1, new_h)
    region = pixels[cy0:cy1, cx0:cx1]
    pad = ((cy0 - y0, y1 - cy1), (cx0 - x0, x1 - cx1), (0, 0))
    if any(before or after for before, after in pad):
        return np.pad(region, pad, mode="symmetric")
    return np.ascontiguousarray(region)


def _ease(t: float) -> float:
    t = min(max(t, 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


def _phase(t: float, start: float, end: float) -> float:
    return _ease((t - start) / (end - start))


@dataclass(frozen=True)
class _Pose:
    """Camera state relative to the start.

    ``right`` and ``down`` are in frame widths and heights; ``forward`` (along the viewing
    direction) in picture distances; angles in radians; ``focal`` is a factor (>1 narrows the
    field of view).
    """

    right: float = 0.0
    down: float = 0.0
    forward: float = 0.0
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    focal: float = 1.0


@dataclass(frozen=True)
class _PushIn:
    zoom: float
    right: float
    down: float

    @classmethod
    def draw(cls, seed: int, shot: int) -> _PushIn:
        rng = np.random.default_rng([seed % 2**64, shot])
        low, high = _PUSH_IN
        right, down = rng.uniform(-_PUSH_DRIFT, _PUSH_DRIFT, size=2)
        return cls(zoom=float(rng.uniform(low, high)), right=float(right), down=float(down))


def _pose(camera: CameraMove | None, t: float, push_in: _PushIn) -> _Pose:
    """Where the camera is at clip time ``t`` in ``[0, 1]``."""
    e = _ease(t)
    if camera is None:
        return _Pose(right=push_in.right * e, down=push_in.down * e, focal=push_in.zoom**e)
    if camera.type == "simple":
        value = {axis: float(camera.config.get(axis, 0.0)) / 10.0 for axis in SIMPLE_AXES}
        return _Pose(
            right=value["horizontal"] * _MAX_TRUCK * e,
            down=-value["vertical"] * _MAX_TRUCK * e,
            yaw=value["pan"] * _MAX_TURN * e,
            pitch=value["tilt"] * _MAX_TURN * e,
            roll=value["roll"] * _MAX_ROLL * e,
            focal=_MAX_ZOOM ** (-value["zoom"] * e),
        )
    if camera.type == "down_back":
        return _Pose(down=0.10 * e, forward=-0.25 * e)
    if camera.type == "forward_up":
        return _Pose(forward=0.20 * e, pitch=_NAMED_TILT * e)
    direction = 1.0 if camera.type == "right_turn_forward" else -1.0
    return _Pose(yaw=direction * _NAMED_TURN * _phase(t, 0.0, 0.6), forward=0.20 * _phase(t, 0.4, 1.0))


def _rotation(pose: _Pose) -> _Matrix:
    """Camera-to-world rotation; x right, y down, z forward."""
    cy, sy = math.cos(pose.yaw), math.sin(pose.yaw)
    cp, sp = math.cos(pose.pitch), math.sin(pose.pitch)
    cr, sr = math.cos(pose.roll), math.sin(pose.roll)
    yaw = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    pitch = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
    roll = np.array([[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]])
    return yaw @ pitch @ roll


def _homography(pose: _Pose, width: int, height: int) -> _Matrix:
    """Map output pixel coordinates to coordinates in the fitted start image (same pixel grid)."""
    focal = math.hypot(width, height)
    distance = focal  # the picture exactly fills the frame at the start
    rotation = _rotation(pose)
    heading = rotation @ np.array([0.0, 0.0, 1.0])
    centre = np.array([pose.right * width, pose.down * height, 0.0]) + pose.forward * distance * heading
    depth = distance - centre[2]
    to_plane = np.array([[depth, 0.0, centre[0]], [0.0, depth, centre[1]], [0.0, 0.0, 1.0]])
    rays = np.diag([1.0, 1.0, focal * pose.focal])
    shift_in = np.array([[1.0, 0.0, -width / 2], [0.0, 1.0, -height / 2], [0.0, 0.0, 1.0]])
    shift_out = np.array([[1.0, 0.0, width / 2], [0.0, 1.0, height / 2], [0.0, 0.0, 1.0]])
    matrix: _Matrix = shift_out @ to_plane @ rotation @ rays @ shift_in
    return matrix / matrix[2, 2]


def _margins(matrices: Sequence[_Matrix], width: int, height: int) -> _Margins:
    """Pixels the camera sees beyond each edge of the frame (left, top, right, bottom), over a shot."""
    corners = np.array([[0.0, width, 0.0, width], [0.0, 0.0, height, height], [1.0, 1.0, 1.0, 1.0]])
    limit = float(max(width, height))
    reach = np.zeros(4)
    for matrix in matrices:
        mapped = matrix @ corners
        if np.any(mapped[2] <= 1e-9):
            return (int(limit),) * 4
        xs, ys = mapped[0] / mapped[2], mapped[1] / mapped[2]
        reach = np.maximum(reach, [-xs.min(), -ys.min(), xs.max() - width, ys.max() - height])
    left, top, right, bottom = (min(limit, math.ceil(r) + 2) if r > 0 else 0 for r in reach)
    return int(left), int(top), int(right), int(bottom)


class _Layer:
    """One fitted image, seen through a camera matrix."""

    def __init__(
        self, image: Image.Image, width: int, height: int, resize_mode: str, margins: _Margins
    ) -> None:
        self.width = width
        self.height = height
        self.origin = margins[:2]
        self.pixels = _canvas(image, width, height, resize_mode, margins)
        self._warp_source: tuple[Image.Image, int] | None = None

    def frame(self, matrix: _Matrix, pix_fmt: str) -> av.VideoFrame:
        """Render the view through ``matrix`` (see :func:`_homography`) in ``pix_fmt``."""
        shifted = matrix.copy()
        shifted[0] += self.origin[0] * matrix[2]
        shifted[1] += self.origin[1] * matrix[2]
        box = self._box(shifted)
        if box is not None:
            # Scale and translation only: swscale crops, resizes and converts in one fast pass.
            left, top, right, bottom = box
            crop = av.VideoFrame.from_ndarray(self.pixels[top:bottom, left:right], format="rgb24")
            return _reformat(crop, self.width, self.height, pix_fmt)
        source, factor = self._warp()
        shifted[:2] *= factor
        # Pillow's affine warp (a roll) is several times faster than its perspective one.
        affine = not (shifted[2, 0] or shifted[2, 1])
        coefficients = tuple(float(c) for c in shifted.reshape(-1)[: 6 if affine else 8])
        view = source.transform(
            (self.width, self.height),
            Image.Transform.AFFINE if affine else Image.Transform.PERSPECTIVE,
            coefficients,
            resample=Image.Resampling.NEAREST if factor > 1 else Image.Resampling.BILINEAR,
            fillcolor=(0, 0, 0),
        )
        rgb = av.VideoFrame.from_ndarray(np.asarray(view), format="rgb24")
        return _reformat(rgb, self.width, self.height, pix_fmt)

    def _warp(self) -> tuple[Image.Image, int]:
        """The source for general warps, and its scale relative to :attr:`pixels`.

        Pillow's bilinear perspective warp costs about three times its nearest-neighbour one.
        Sampling the nearest pixel of a source upscaled twice (once per shot) looks the same as
        bilinear to within a quarter pixel, so that is used while the doubled source stays small.
        """
        if self._warp_source is None:
            rows, cols = self.pixels.shape[:2]
            if rows * cols * 4 <= _WARP_DOUBLE_MAX_PIXELS:
                doubled = av.VideoFrame.from_ndarray(self.pixels, format="rgb24").reformat(
                    width=cols * 2, height=rows * 2, interpolation=Interpolation.BILINEAR
                )
                self._warp_source = (doubled.to_image(), 2)
            else:
                self._warp_source = (Image.fromarray(self.pixels), 1)
        return self._warp_source

    def _box(self, matrix: _Matrix) -> tuple[int, int, int, int] | None:
        if matrix[0, 1] or matrix[1, 0] or matrix[2, 0] or matrix[2, 1]:
            return None
        left = round(matrix[0, 2])
        top = round(matrix[1, 2])
        right = round(matrix[0, 0] * self.width + matrix[0, 2])
        bottom = round(matrix[1, 1] * self.height + matrix[1, 2])
        rows, cols = self.pixels.shape[:2]
        if not (0 <= left < right <= cols and 0 <= top < bottom <= rows):
            return None
        return left, top, right, bottom


def _reformat(frame: av.VideoFrame, width: int, height: int, pix_fmt: str) -> av.VideoFrame:
    if pix_fmt == "rgb24":
        if frame.width == width and frame.height == height:
            return frame
        return frame.reformat(width=width, height=height, interpolation=Interpolation.BILINEAR)
    return frame.reformat(
        width=width,
        height=height,
        format=pix_fmt,
        dst_colorspace=Colorspace.ITU709,
        dst_color_range=ColorRange.MPEG,
        interpolation=Interpolation.BILINEAR,
    )


def _blend(first: av.VideoFrame, second: av.VideoFrame, weight: float, pix_fmt: str) -> av.VideoFrame:
    """``first * (1 - weight) + second * weight``, in integer arithmetic."""
    step = round(weight * 256)
    a = first.to_ndarray().astype(np.uint16)
    b = second.to_ndarray().astype(np.uint16)
    mixed = ((a * (256 - step) + b * step + 128) >> 8).astype(np.uint8)
    return av.VideoFrame.from_ndarray(mixed, format=pix_fmt)


class _Shot:
    """A run of frames showing one image (and the tail image it fades into, if any)."""

    def __init__(
        self,
        image: Image.Image,
        tail: Image.Image | None,
        camera: CameraMove | None,
        push_in: _PushIn,
        frames: int,
        width: int,
        height: int,
        resize_mode: str,
    ) -> None:
        self.frames = frames
        self._source = image
        self._tail_source = tail
        self._resize_mode = resize_mode
        self._width = width
        self._height = height
        times = [i / (frames - 1) if frames > 1 else 1.0 for i in range(frames)]
        self._weights = [_ease(t) for t in times] if tail is not None else [0.0] * frames
        if tail is not None:
            # Half of the move and back, so that both ends show their image exactly.
            times = [0.0 if t in (0.0, 1.0) else 0.5 * math.sin(math.pi * t) for t in times]
        self._matrices = [_homography(_pose(camera, t, push_in), width, height) for t in times]
        self._layers: tuple[_Layer, _Layer | None] | None = None

    def _build_layers(self) -> tuple[_Layer, _Layer | None]:
        if self._layers is None:
            margins = _margins(self._matrices, self._width, self._height)
            size = (self._width, self._height, self._resize_mode, margins)
            tail = None if self._tail_source is None else _Layer(self._tail_source, *size)
            self._layers = (_Layer(self._source, *size), tail)
        return self._layers

    def frame(self, index: int, pix_fmt: str) -> av.VideoFrame:
        layer, tail = self._build_layers()
        matrix = self._matrices[index]
        weight = self._weights[index]
        if tail is None or weight <= 0.0:
            return layer.frame(matrix, pix_fmt)
        if weight >= 1.0:
            return tail.frame(matrix, pix_fmt)
        return _blend(layer.frame(matrix, pix_fmt), tail.frame(matrix, pix_fmt), weight, pix_fmt)

    def release(self) -> None:
        self._layers = None


@dataclass(frozen=True)
class _Plan:
    width: int
    height: int
    fps: int
    frames: int
    audio: bool
    seed: int
    shots: tuple[_Shot, ...]

    @classmethod
    def build(cls, spec: RenderSpec) -> _Plan:
        _validate(spec)
        width, height = spec.width + spec.width % 2, spec.height + spec.height % 2
        total = max(1, round(spec.duration * spec.fps))
        images = [_decode(data) for data in spec.images]
        tail = None if spec.tail_image is None else _decode(spec.tail_image)
        if tail is not None:
            images = images[:1]
        count = len(images)
        bounds = [round(i * total / count) for i in range(count + 1)]
        shots = tuple(
            _Shot(
                image,
                tail,
                spec.camera,
                _PushIn.draw(spec.seed, index),
                end - start,
                width,
                height,
                spec.resize_mode,
            )
            for index, (image, start, end) in enumerate(zip(images, bounds, bounds[1:], strict=False))
            if end > start
        )
        return cls(width, height, spec.fps, total, spec.audio, spec.seed, shots)

    def video_frames(self, pix_fmt: str) -> Iterator[av.VideoFrame]:
        for shot in self.shots:
            for index in range(shot.frames):
                yield shot.frame(index, pix_fmt)
            shot.release()


def _validate(spec: RenderSpec) -> None:
    if not spec.images:
        raise ValueError("at least one image is required")
    if spec.width < 1 or spec.height < 1:
        raise ValueError(f"width and height must be positive, got {spec.width}x{spec.height}")
    if not isinstance(spec.fps, int) or spec.fps < 1:
        raise ValueError(f"fps must be a positive integer, got {spec.fps!r}")
    if not math.isfinite(spec.duration) or spec.duration <= 0:
        raise ValueError(f"duration must be a positive number of seconds, got {spec.duration!r}")
    _check_resize_mode(spec.resize_mode)
    camera = spec.camera
    if camera is None:
        return
    if camera.type not in CAMERA_TYPES:
        raise ValueError(f"unknown camera move type {camera.type!r}; expected one of {sorted(CAMERA_TYPES)}")
    if camera.type != "simple":
        return
    unknown = set(camera.config) - set(SIMPLE_AXES)
    if unknown:
        raise ValueError(f"unknown camera config keys {sorted(unknown)}; expected {list(SIMPLE_AXES)}")
    for axis, value in camera.config.items():
        if not math.isfinite(float(value)) or not -10.0 <= float(value) <= 10.0:
            raise ValueError(f"camera config {axis!r} must be in [-10, 10], got {value!r}")


class _Tone:
    """A quiet sine tone, cut into one chunk per video frame so the muxer interleaves evenly."""

    def __init__(self, seed: int, frames: int, fps: int) -> None:
        self._hz = float(np.random.default_rng(seed % 2**64).choice(_TONES_HZ))
        self._fps = fps
        self._total = round(frames * AUDIO_RATE / fps)
        self._fade = max(1, round(AUDIO_FADE_S * AUDIO_RATE))

    def chunk(self, index: int) -> av.AudioFrame | None:
        start = round(index * AUDIO_RATE / self._fps)
        end = min(self._total, round((index + 1) * AUDIO_RATE / self._fps))
        if end <= start:
            return None
        n = np.arange(start, end, dtype=np.float64)
        envelope = np.minimum(1.0, np.minimum(n, self._total - 1 - n) / self._fade)
        samples = AUDIO_AMPLITUDE * envelope * np.sin(2.0 * np.pi * self._hz * n / AUDIO_RATE)
        frame = av.AudioFrame.from_ndarray(
            samples.astype(np.float32)[np.newaxis, :], format="fltp", layout="mono"
        )
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        frame.time_base = Fraction(1, AUDIO_RATE)
        return frame


def _encode(plan: _Plan, path: str) -> None:
    with av.open(path, mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
        video = container.add_stream("libx264", rate=plan.fps)
        video.width = plan.width
        video.height = plan.height
        video.pix_fmt = "yuv420p"
        video.options = dict(X264_OPTIONS)
        context = video.codec_context
        context.thread_count = X264_THREADS
        context.colorspace = int(Colorspace.ITU709)
        context.color_range = int(ColorRange.MPEG)
        context.color_primaries = int(ColorPrimaries.BT709)
        context.color_trc = int(ColorTrc.BT709)
        audio = container.add_stream("aac", rate=AUDIO_RATE, layout="mono") if plan.audio else None
        if audio is not None:
            audio.codec_context.bit_rate = AUDIO_BIT_RATE
        tone = _Tone(plan.seed, plan.frames, plan.fps) if audio is not None else None
        time_base = Fraction(1, plan.fps)
        for index, frame in enumerate(plan.video_frames("yuv420p")):
            frame.pts = index
            frame.time_base = time_base
            container.mux(video.encode(frame))
            chunk = tone.chunk(index) if tone is not None else None
            if audio is not None and chunk is not None:
                container.mux(audio.encode(chunk))
        container.mux(video.encode(None))
        if audio is not None:
            container.mux(audio.encode(None))
