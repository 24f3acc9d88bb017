"""The emulator's renderer, checked by decoding the MP4s it writes."""

from __future__ import annotations

import io
import itertools
import math
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from airflow_video_gen.devtools.emulator import render as render_module
from airflow_video_gen.devtools.emulator.render import (
    CameraMove,
    RenderSpec,
    fit_image,
    render_last_frame_png,
    render_video,
)

W, H = 320, 180
Frame = NDArray[np.uint8]

# Saturated marker colours, far from the grey background and from each other.
MARKERS = {
    (230, 30, 30): (0.3, 0.3),
    (30, 200, 30): (0.5, 0.3),
    (40, 60, 235): (0.7, 0.3),
    (235, 220, 30): (0.3, 0.7),
    (220, 40, 220): (0.5, 0.7),
    (30, 210, 220): (0.7, 0.7),
}


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def marker_image(width: int = 2 * W, height: int = 2 * H) -> Image.Image:
    """Grey gradient with a grid (texture for image comparisons) and six coloured discs."""
    ramp = np.linspace(50, 110, width, dtype=np.float64)[np.newaxis, :] + np.zeros((height, 1))
    image = Image.fromarray(np.repeat(ramp[..., np.newaxis], 3, axis=2).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    step = width // 16
    for x in range(0, width, step):
        draw.line([(x, 0), (x, height)], fill=(140, 140, 140), width=2)
    for y in range(0, height, step):
        draw.line([(0, y), (width, y)], fill=(140, 140, 140), width=2)
    radius = height // 18
    for colour, (fx, fy) in MARKERS.items():
        cx, cy = fx * width, fy * height
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=colour)
    return image


def solid_image(colour: tuple[int, int, int], size: tuple[int, int] = (2 * W, 2 * H)) -> Image.Image:
    """A plain colour with a faint diagonal stripe, so that it is not a single flat value."""
    image = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(image)
    stripe = tuple(min(255, c + 25) for c in colour)
    for x in range(-size[1], size[0], 40):
        draw.line([(x, 0), (x + size[1], size[1])], fill=stripe, width=6)
    return image


@dataclass
class Decoded:
    frames: list[Frame]
    codec: str
    width: int
    height: int
    pix_fmt: str | None
    average_rate: Fraction | None
    duration: float
    audio_codec: str | None = None
    audio_duration: float = 0.0
    audio_rate: int = 0
    samples: NDArray[np.float32] | None = None


def seconds(stream: av.stream.Stream) -> float:
    assert stream.duration is not None
    assert stream.time_base is not None
    return float(stream.duration * stream.time_base)


def decode(path: Path) -> Decoded:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames: list[Frame] = [
            np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8) for frame in container.decode(stream)
        ]
        out = Decoded(
            frames=frames,
            codec=stream.codec_context.name,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            pix_fmt=stream.codec_context.pix_fmt,
            average_rate=stream.average_rate,
            duration=seconds(stream),
        )
    with av.open(str(path)) as container:
        if container.streams.audio:
            audio = container.streams.audio[0]
            out.audio_codec = audio.codec_context.name
            out.audio_duration = seconds(audio)
            out.audio_rate = audio.codec_context.sample_rate
            chunks = [frame.to_ndarray().reshape(-1) for frame in container.decode(audio)]
            out.samples = np.concatenate(chunks).astype(np.float32)
    return out


def render(tmp_path: Path, spec: RenderSpec, name: str = "out.mp4") -> Decoded:
    dest = tmp_path / name
    render_video(spec, dest)
    return decode(dest)


def mad(a: NDArray[Any] | Image.Image, b: NDArray[Any] | Image.Image) -> float:
    """Mean absolute difference of two RGB images, in 8-bit levels."""
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).mean())


def markers_in(frame: Frame) -> dict[tuple[int, int, int], complex]:
    """Centroids (x + iy, relative to the frame centre) of the markers wholly inside the frame."""
    height, width = frame.shape[:2]
    pixels = frame.astype(np.int32)
    found = {}
    for colour in MARKERS:
        mask = np.sum((pixels - np.array(colour)) ** 2, axis=2) < 70**2
        ys, xs = np.nonzero(mask)
        if len(xs) < 20 or xs.min() == 0 or ys.min() == 0 or xs.max() == width - 1 or ys.max() == height - 1:
            continue
        found[colour] = complex(xs.mean() + 0.5 - width / 2, ys.mean() + 0.5 - height / 2)
    return found


@dataclass(frozen=True)
class Motion:
    """Content motion from one frame to another, as a similarity about the frame centre.

    ``angle`` is in screen terms with y down: negative is counter-clockwise.
    """

    scale: float
    angle: float
    dx: float
    dy: float


def motion(first: Frame, last: Frame) -> Motion:
    before, after = markers_in(first), markers_in(last)
    common = [c for c in before if c in after]
    assert len(common) >= 2, f"too few markers stay in view: {len(common)}"
    p = np.array([before[c] for c in common])
    q = np.array([after[c] for c in common])
    # q = a * p + b with complex a (scale and rotation) and b (translation), least squares.
    design = np.stack([p, np.ones_like(p)], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, q, rcond=None)
    return Motion(scale=abs(a), angle=math.atan2(a.imag, a.real), dx=b.real, dy=b.imag)


def camera_spec(camera: CameraMove | None = None, **changes: Any) -> RenderSpec:
    # A 16:9 image in pad mode fills the frame exactly, and everything the camera reveals beyond
    # it is black (no mirrored copies of the markers).
    spec = RenderSpec(
        images=(encode(marker_image()),), width=W, height=H, duration=1.0, camera=camera, resize_mode="pad"
    )
    return replace(spec, **changes)


# Container ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "duration", "fps", "frames"),
    [
        pytest.param(320, 180, 1.0, 24, 24, id="320x180-1s-24fps"),
        pytest.param(321, 181, 0.5, 30, 15, id="odd-size-rounded-up"),
        pytest.param(256, 144, 1.3, 25, 32, id="duration-rounded-to-frames"),
    ],
)
def test_container_matches_spec(
    tmp_path: Path, width: int, height: int, duration: float, fps: int, frames: int
) -> None:
    spec = RenderSpec(
        images=(encode(marker_image()),), width=width, height=height, duration=duration, fps=fps
    )
    out = render(tmp_path, spec)

    assert out.codec == "h264"
    assert out.pix_fmt == "yuv420p"
    assert (out.width, out.height) == (width + width % 2, height + height % 2)
    assert out.average_rate == fps
    assert len(out.frames) == frames
    assert all(frame.shape == (out.height, out.width, 3) for frame in out.frames)
    assert out.duration == pytest.approx(duration, abs=1 / fps)
    assert out.audio_codec is None


def test_file_starts_with_the_index(tmp_path: Path) -> None:
    dest = tmp_path / "out.mp4"
    render_video(camera_spec(None), dest)
    data = dest.read_bytes()
    assert 0 < data.index(b"moov") < data.index(b"mdat")  # faststart: playable while downloading


def test_audio_track_when_asked(tmp_path: Path) -> None:
    out = render(tmp_path, camera_spec(None, audio=True, duration=1.5))

    assert out.audio_codec == "aac"
    assert out.samples is not None
    assert out.audio_duration == pytest.approx(out.duration, abs=0.05)
    assert out.duration == pytest.approx(1.5, abs=1 / 24)
    rate = out.audio_rate
    assert len(out.samples) / rate == pytest.approx(1.5, abs=0.05)
    rms = float(np.sqrt(np.mean(out.samples**2)))
    assert 0.005 < rms < 0.1  # audible but quiet
    spectrum = np.abs(np.fft.rfft(out.samples)) ** 2
    peak = int(np.argmax(spectrum))
    assert spectrum[peak - 3 : peak + 4].sum() > 0.8 * spectrum.sum()  # a pure tone
    assert 100 < peak * rate / len(out.samples) < 1000


# First frame and fitting -------------------------------------------------------------------------


@pytest.mark.parametrize("resize_mode", ["pad", "crop"])
@pytest.mark.parametrize(
    "camera",
    [None, CameraMove("simple", {"pan": 5}), CameraMove("right_turn_forward", {})],
    ids=["push-in", "pan", "right_turn_forward"],
)
def test_first_frame_is_the_fitted_image(tmp_path: Path, resize_mode: str, camera: CameraMove | None) -> None:
    source = Image.new("RGB", (500, 500))
    source.paste(marker_image(500, 300), (0, 100))
    spec = camera_spec(camera, images=(encode(source),), resize_mode=resize_mode)
    out = render(tmp_path, spec)

    fitted = fit_image(source, W, H, resize_mode)
    assert mad(out.frames[0], fitted) < 3.0
    assert mad(out.frames[-1], fitted) > 8.0  # and the camera did move


def test_pad_letterboxes_a_square_image(tmp_path: Path) -> None:
    square = solid_image((200, 180, 160), (600, 600))
    fitted = np.asarray(fit_image(square, W, H, "pad"))
    assert fitted.shape == (H, W, 3)
    bar = (W - H) // 2
    assert fitted[:, : bar - 1].max() == 0
    assert fitted[:, W - bar + 1 :].max() == 0
    assert fitted[:, bar + 1 : W - bar - 1].min() > 100

    out = render(tmp_path, camera_spec(None, images=(encode(square),), resize_mode="pad"))
    first = out.frames[0].astype(np.float64)
    assert first[:, : bar - 4].mean() < 4
    assert first[:, W - bar + 4 :].mean() < 4
    assert first[:, bar + 4 : W - bar - 4].mean() > 150


def test_crop_fills_the_frame_with_a_square_image(tmp_path: Path) -> None:
    square = solid_image((200, 180, 160), (600, 600))
    fitted = np.asarray(fit_image(square, W, H, "crop"))
    assert fitted.shape == (H, W, 3)
    assert fitted.min() > 100

    out = render(tmp_path, camera_spec(None, images=(encode(square),), resize_mode="crop"))
    first = out.frames[0].astype(np.float64)
    assert first[:, :20].mean() > 150
    assert first[:, -20:].mean() > 150


def test_crop_keeps_the_centre() -> None:
    wide = Image.new("RGB", (900, 300), (0, 0, 255))
    wide.paste((255, 0, 0), (300, 0, 600, 300))  # the middle third is red
    fitted = np.asarray(fit_image(wide, 180, 180, "crop"))
    assert fitted.shape == (180, 180, 3)
    inner = fitted[:, 3:-3]  # resampling rings a little at the colour edges
    assert (inner[..., 0] > 250).all()
    assert (inner[..., 2] < 5).all()


def test_transparency_is_flattened_onto_black() -> None:
    rgba = Image.new("RGBA", (64, 36), (255, 255, 255, 0))
    rgba.paste((255, 255, 255, 255), (32, 0, 64, 36))
    fitted = np.asarray(fit_image(rgba, 64, 36, "pad"))
    assert fitted.shape == (36, 64, 3)
    assert fitted[:, :31].max() == 0
    assert fitted[:, 33:].min() == 255


def test_any_image_format_is_accepted(tmp_path: Path) -> None:
    image = marker_image()
    for fmt in ("JPEG", "WEBP"):
        spec = camera_spec(None, images=(encode(image, fmt),), duration=0.25)
        out = render(tmp_path, spec, name=f"{fmt}.mp4")
        assert mad(out.frames[0], fit_image(image, W, H, "pad")) < 6.0


def test_undecodable_image_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "out.mp4"
    spec = camera_spec(None, images=(b"definitely not an image",))
    with pytest.raises(ValueError, match="could not be decoded"):
        render_video(spec, dest)
    assert not dest.exists()
    with pytest.raises(ValueError, match="could not be decoded"):
        render_last_frame_png(camera_spec(None, tail_image=b"\x89PNG\r\n\x1a\n truncated"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"camera": CameraMove("dolly_zoom", {})}, "camera move type", id="camera-type"),
        pytest.param({"camera": CameraMove("simple", {"zoom": 11})}, r"\[-10, 10\]", id="out-of-range"),
        pytest.param({"camera": CameraMove("simple", {"spin": 1})}, "config keys", id="config-key"),
        pytest.param({"resize_mode": "stretch"}, "resize_mode", id="resize-mode"),
        pytest.param({"duration": 0.0}, "duration", id="duration"),
        pytest.param({"fps": 0}, "fps", id="fps"),
        pytest.param({"images": ()}, "image", id="no-image"),
    ],
)
def test_invalid_spec_is_refused(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_video(camera_spec(**changes), tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()
    with pytest.raises(ValueError, match=message):
        render_last_frame_png(camera_spec(**changes))


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (320, 180), (220, 30, 30))
    image.paste((30, 30, 220), (160, 0, 320, 180))  # stored: red left, blue right
    exif = Image.Exif()
    exif[0x0112] = 3  # shown rotated by 180 degrees: blue left, red right
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    png = render_last_frame_png(camera_spec(None, images=(out.getvalue(),), duration=1 / 24))
    with Image.open(io.BytesIO(png)) as shown:
        pixels = np.asarray(shown.convert("RGB"), dtype=np.float64)
    assert pixels[:, :100, 2].mean() > 180
    assert pixels[:, -100:, 0].mean() > 180


# Camera -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_push_in(tmp_path: Path, seed: int) -> None:
    out = render(tmp_path, camera_spec(None, seed=seed))
    first, last = out.frames[0], out.frames[-1]

    moved = motion(first, last)
    assert 1.07 < moved.scale < 1.13
    assert abs(moved.dx) < 0.02 * W + 1  # a slight drift at most
    assert abs(moved.dy) < 0.02 * H + 1
    assert abs(moved.angle) < 0.01

    # The last frame is a region of the first, enlarged: content at p moved to scale * p + (dx, dy).
    left, top = (-W / 2 - moved.dx) / moved.scale + W / 2, (-H / 2 - moved.dy) / moved.scale + H / 2
    box = (left, top, left + W / moved.scale, top + H / moved.scale)
    assert box[0] >= 0
    assert box[1] >= 0
    assert box[2] <= W
    assert box[3] <= H  # never beyond the picture
    enlarged = Image.fromarray(first).resize((W, H), Image.Resampling.BILINEAR, box=box)
    assert mad(enlarged, last) < 0.4 * mad(first, last)

    scales = [motion(first, frame).scale for frame in out.frames[::4]]
    assert all(later > earlier - 0.002 for earlier, later in itertools.pairwise(scales))  # never back


SIMPLE_MOVES = [
    # Camera right: content slides left by 10 % of the width; left is the mirror image.
    ({"horizontal": 5}, {"dx": (-35, -29), "dy": (-1.5, 1.5), "scale": (0.99, 1.01)}),
    ({"horizontal": -5}, {"dx": (29, 35), "dy": (-1.5, 1.5), "scale": (0.99, 1.01)}),
    # Camera up: content slides down by 10 % of the height.
    ({"vertical": 5}, {"dx": (-1.5, 1.5), "dy": (15, 21), "scale": (0.99, 1.01)}),
    ({"vertical": -5}, {"dx": (-1.5, 1.5), "dy": (-21, -15), "scale": (0.99, 1.01)}),
    # Turning right: content slides left; tilting up: content slides down.
    ({"pan": 5}, {"dx": (-50, -20), "dy": (-3, 3)}),
    ({"pan": -5}, {"dx": (20, 50), "dy": (-3, 3)}),
    ({"tilt": 5}, {"dx": (-3, 3), "dy": (20, 50)}),
    ({"tilt": -5}, {"dx": (-3, 3), "dy": (-50, -20)}),
    # Clockwise camera roll: content turns counter-clockwise on screen (15 degrees at 5).
    ({"roll": 5}, {"angle": (-0.29, -0.23), "scale": (0.98, 1.02)}),
    ({"roll": -5}, {"angle": (0.23, 0.29), "scale": (0.98, 1.02)}),
    # Negative zoom narrows the field of view: content grows (1.5 ** 0.5 at 5).
    ({"zoom": -5}, {"scale": (1.19, 1.25), "dx": (-1.5, 1.5), "dy": (-1.5, 1.5)}),
    ({"zoom": 5}, {"scale": (0.79, 0.85), "dx": (-1.5, 1.5), "dy": (-1.5, 1.5)}),
]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        pytest.param(config, expected, id=f"{k}{v:+g}")
        for config, expected in SIMPLE_MOVES
        for k, v in config.items()
    ],
)
def test_simple_camera_moves(
    tmp_path: Path, config: dict[str, float], expected: dict[str, tuple[float, float]]
) -> None:
    out = render(tmp_path, camera_spec(CameraMove("simple", config)))
    moved = motion(out.frames[0], out.frames[-1])
    for name, (low, high) in expected.items():
        value = getattr(moved, name)
        assert low < value < high, f"{name}={value:.3f} not in ({low}, {high}) for {config}"
    if "angle" not in expected:
        assert abs(moved.angle) < 0.02


def test_pan_is_a_rotation_not_a_slide(tmp_path: Path) -> None:
    """Turning right foreshortens the side turned towards; a sideways slide keeps proportions."""

    def column_heights(config: dict[str, float]) -> tuple[float, float]:
        out = render(tmp_path, camera_spec(CameraMove("simple", config)), name=f"{config}.mp4")
        found = markers_in(out.frames[-1])
        left = found[(235, 220, 30)] - found[(230, 30, 30)]
        right = found[(30, 210, 220)] - found[(40, 60, 235)]
        return left.imag, right.imag

    left, right = column_heights({"pan": 5})
    assert right / left < 0.98
    left, right = column_heights({"horizontal": 5})
    assert right / left == pytest.approx(1.0, abs=0.01)


def test_moves_compose(tmp_path: Path) -> None:
    out = render(tmp_path, camera_spec(CameraMove("simple", {"horizontal": 5, "zoom": -5})))
    moved = motion(out.frames[0], out.frames[-1])
    assert moved.dx < -25
    assert moved.scale > 1.15


@pytest.mark.parametrize(
    ("resize_mode", "revealed"),
    [
        pytest.param("crop", (40, 200, 40), id="crop-shows-the-cut-part"),
        pytest.param("pad", (0, 0, 0), id="pad"),
    ],
)
def test_camera_reveals_what_lies_beyond_the_frame(
    tmp_path: Path, resize_mode: str, revealed: tuple[int, int, int]
) -> None:
    """Crop mode shows the part of the image it cut away; pad mode extends the black bars."""
    wide = Image.new("RGB", (3 * W, H), (40, 200, 40))
    wide.paste(marker_image(W, H), (W, 0))  # crop keeps the middle third, flanked by green
    source = wide if resize_mode == "crop" else marker_image(W, H)
    spec = camera_spec(
        CameraMove("simple", {"horizontal": 10}), images=(encode(source),), resize_mode=resize_mode
    )
    out = render(tmp_path, spec)

    edge = out.frames[-1][:, -50:].astype(np.float64)  # the camera moved right by 64 pixels
    assert np.abs(edge.mean(axis=(0, 1)) - np.array(revealed)).max() < 8
    assert mad(out.frames[0], fit_image(source, W, H, resize_mode)) < 3.0


def test_large_warps_fall_back_to_bilinear_sampling(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = camera_spec(CameraMove("simple", {"roll": 6}))
    with Image.open(io.BytesIO(render_last_frame_png(spec))) as image:
        usual = np.asarray(image.convert("RGB"))
    monkeypatch.setattr(render_module, "_WARP_DOUBLE_MAX_PIXELS", 0)
    with Image.open(io.BytesIO(render_last_frame_png(spec))) as image:
        fallback = np.asarray(image.convert("RGB"))
    assert not np.array_equal(usual, fallback)
    assert mad(usual, fallback) < 2.0


NAMED_MOVES = {
    # type: (scale bounds, dx bounds, dy bounds)
    "down_back": ((0.7, 0.9), (-2, 2), (-30, -5)),
    "forward_up": ((1.15, 1.35), (-2, 2), (40, 80)),
    "right_turn_forward": ((1.1, 1.35), (-130, -60), (-5, 5)),
    "left_turn_forward": ((1.1, 1.35), (60, 130), (-5, 5)),
}


@pytest.mark.parametrize("move", sorted(NAMED_MOVES))
def test_named_camera_moves(tmp_path: Path, move: str) -> None:
    out = render(tmp_path, camera_spec(CameraMove(move, {})))
    moved = motion(out.frames[0], out.frames[-1])
    (s0, s1), (x0, x1), (y0, y1) = NAMED_MOVES[move]
    assert s0 < moved.scale < s1
    assert x0 < moved.dx < x1
    assert y0 < moved.dy < y1


def test_turns_come_before_moving_forward(tmp_path: Path) -> None:
    out = render(tmp_path, camera_spec(CameraMove("right_turn_forward", {}), duration=2.0))
    first, middle, last = out.frames[0], out.frames[len(out.frames) // 2], out.frames[-1]
    early, late = motion(first, middle), motion(middle, last)
    assert early.dx < -40  # mostly turning
    assert early.scale < 1.08
    assert late.scale > 1.1  # mostly advancing


def test_named_moves_differ_from_each_other(tmp_path: Path) -> None:
    last_frames = {
        move: render(tmp_path, camera_spec(CameraMove(move, {})), name=f"{move}.mp4").frames[-1]
        for move in NAMED_MOVES
    }
    for a, b in itertools.combinations(NAMED_MOVES, 2):
        assert mad(last_frames[a], last_frames[b]) > 10, (a, b)


# Tail image and references -------------------------------------------------------------------------


def test_tail_image_cross_fade(tmp_path: Path) -> None:
    start = solid_image((200, 40, 40))
    tail = solid_image((40, 60, 210), (500, 500))
    # 49 frames: the middle one is exactly half-way.
    spec = camera_spec(
        None, images=(encode(start),), tail_image=encode(tail), resize_mode="crop", duration=49 / 24
    )
    out = render(tmp_path, spec)
    fitted_start, fitted_tail = fit_image(start, W, H, "crop"), fit_image(tail, W, H, "crop")

    assert mad(out.frames[0], fitted_start) < 3.0
    assert mad(out.frames[-1], fitted_tail) < 3.0
    middle = out.frames[len(out.frames) // 2].astype(np.float64)
    halfway = (np.asarray(fitted_start, np.float64) + np.asarray(fitted_tail, np.float64)) / 2
    # The camera is pushed in a little mid-way, so compare colours rather than pixels.
    assert np.abs(middle.mean(axis=(0, 1)) - halfway.mean(axis=(0, 1))).max() < 3.0
    assert mad(middle, halfway) < 10.0
    assert mad(middle, fitted_start) > 40
    assert mad(middle, fitted_tail) > 40
    reds = [float(frame[..., 0].mean()) for frame in out.frames]
    assert all(later < earlier + 1.5 for earlier, later in itertools.pairwise(reds))  # one way only


def test_tail_image_ignores_other_images(tmp_path: Path) -> None:
    start, other, tail = solid_image((200, 40, 40)), solid_image((40, 200, 40)), solid_image((40, 60, 210))
    spec = camera_spec(None, images=(encode(start), encode(other)), tail_image=encode(tail))
    out = render(tmp_path, spec)
    greens = [float(frame[..., 1].mean()) for frame in out.frames]
    assert max(greens) < 70


def test_references_are_shown_in_turn(tmp_path: Path) -> None:
    colours = [(210, 40, 40), (40, 190, 40), (40, 60, 210)]
    images = [solid_image(colour) for colour in colours]
    spec = camera_spec(None, images=tuple(encode(image) for image in images), duration=1.5)
    out = render(tmp_path, spec)

    fitted = [fit_image(image, W, H, "pad") for image in images]
    shown = [int(np.argmin([mad(frame, ref) for ref in fitted])) for frame in out.frames]
    assert shown == [0] * 12 + [1] * 12 + [2] * 12
    for index in (0, 12, 24):  # each shot starts on its image, then pushes in
        assert mad(out.frames[index], fitted[shown[index]]) < 3.0


# Last frame and determinism ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"camera": CameraMove("simple", {"roll": -7})},
        {"tail_image": encode(solid_image((40, 60, 210)))},
    ],
    ids=["push-in", "roll", "tail"],
)
def test_last_frame_png_is_the_videos_last_frame(tmp_path: Path, changes: dict[str, Any]) -> None:
    spec = camera_spec(**changes)
    png = render_last_frame_png(spec)
    assert png.startswith(b"\x89PNG")
    with Image.open(io.BytesIO(png)) as image:
        last = np.asarray(image.convert("RGB"))
    assert last.shape == (H, W, 3)

    out = render(tmp_path, spec)
    assert mad(last, out.frames[-1]) < 3.0
    assert mad(last, out.frames[0]) > 5.0


@pytest.mark.parametrize(
    "changes",
    [
        {"camera": CameraMove("simple", {"pan": 3}), "audio": True, "seed": 7},
        {"tail_image": encode(solid_image((40, 60, 210))), "height": 176},
    ],
    ids=["pan-with-audio", "tail"],
)
def test_rendering_is_deterministic(tmp_path: Path, changes: dict[str, Any]) -> None:
    spec = camera_spec(**changes)
    outputs = set()
    for attempt in range(3):
        render_video(spec, tmp_path / f"{attempt}.mp4")
        outputs.add((tmp_path / f"{attempt}.mp4").read_bytes())
    assert len(outputs) == 1
    assert render_last_frame_png(spec) == render_last_frame_png(spec)


def test_seed_varies_the_default_push_in_and_the_tone(tmp_path: Path) -> None:
    tones, last_frames = set(), []
    for seed in range(4):
        out = render(tmp_path, camera_spec(None, audio=True, seed=seed), name=f"{seed}.mp4")
        assert out.samples is not None
        tones.add(int(np.argmax(np.abs(np.fft.rfft(out.samples)))))
        last_frames.append(out.frames[-1])
    assert len(tones) > 1
    for a, b in itertools.combinations(last_frames, 2):
        assert mad(a, b) > 1.0


def test_seed_leaves_explicit_camera_moves_alone() -> None:
    frames = {
        render_last_frame_png(camera_spec(CameraMove("simple", {"tilt": 4}), seed=seed)) for seed in range(3)
    }
    assert len(frames) == 1
