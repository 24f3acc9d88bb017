"""From a judged request to what the emulator renders: its input images, fetched, and render specs.

Output size, in order of precedence:

* A family's output-resolution option (Grok's ``providerOptions.xai.resolution``, ``480p`` when
  absent) is read before a top-level ``resolution``; ``aspectRatio: 'adaptive'`` (Seedance), and
  no ``aspectRatio`` where the family follows the image (Grok), take the input image's aspect.
* ``resolution: 'WxH'`` (Wan, Seedance) is exact; when an ``aspectRatio`` that differs is also
  given, the shorter side of ``WxH`` is kept and the ratio followed (``1280x720`` with ``9:16`` is
  720x1280).
* ``resolution: '<N>p'`` (Veo, Grok) is the shorter side; the aspect ratio is the one asked for,
  else 16:9 (``1080p`` is 1920x1080).
* ``aspectRatio`` alone keeps the shorter side of the family's default size.
* Otherwise the family's default size (:attr:`~airflow_video_gen.families.base.Family.default_size`).

Sides are rounded to even numbers (H.264 4:2:0). Audio is rendered when top-level
``generateAudio`` or the family's audio switch (``vertex.generateAudio``, ``klingai.sound: 'on'``,
``alibaba.audio``, ``bytedance.generateAudio``) turns it on; with none set, the model's
:attr:`~airflow_video_gen.families.base.ModelSpec.audio_default`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from airflow_video_gen.devtools.emulator.render import CameraMove, RenderSpec
from airflow_video_gen.families.base import (
    AUDIO_SWITCH,
    CAMERA,
    END_FRAME,
    OUTPUT_RESOLUTION,
    REFERENCE_IMAGES,
    RESIZE_MODE,
)
from airflow_video_gen.models import VideoRequest
from airflow_video_gen.request.images import (
    MAX_IMAGE_BYTES,
    ImageInputError,
    ImageProbe,
    ImageSource,
    probe_image,
)
from airflow_video_gen.utils.redaction import redact_url

__all__ = [
    "DEFAULT_FPS",
    "InputImageError",
    "RenderPlanError",
    "build_specs",
    "fetch_images",
    "needed_images",
    "output_size",
    "public_url",
    "video_seconds",
    "wants_audio",
]

DEFAULT_FPS = 24
#: Seconds rendered when neither the request nor the model's data gives a duration.
DEFAULT_DURATION = 5
#: Longest side the emulator renders; larger sizes (from undocumented settings) fail the job.
MAX_SIDE = 3840
_EXACT = re.compile(r"^\s*(\d{1,5})\s*[xX]\s*(\d{1,5})\s*$")
_TIER = re.compile(r"^\s*(\d{2,4})[pP]\s*$")
_RATIO = re.compile(r"^\s*(\d{1,4})\s*:\s*(\d{1,4})\s*$")


class InputImageError(Exception):
    """An input image could not be fetched or is not an image; the message names the parameter."""


class RenderPlanError(Exception):
    """A request the emulator cannot turn into a render (e.g. a size beyond :data:`MAX_SIDE`)."""


@dataclass(frozen=True)
class FetchedImage:
    """An input image's bytes and what Pillow read from its header."""

    data: bytes
    probe: ImageProbe


def public_url(url: str) -> str:
    """A URL safe to show in messages and logs: no query (presigned signatures), no fragment."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _start_param(request: VideoRequest) -> str | None:
    return "prompt.image" if request.image is not None else None


def _tail_param(request: VideoRequest) -> str | None:
    return request.option_param(END_FRAME) if isinstance(request.option(END_FRAME), ImageSource) else None


def _reference_params(request: VideoRequest) -> list[str]:
    refs = request.option(REFERENCE_IMAGES)
    param = request.option_param(REFERENCE_IMAGES)
    return [f"{param}[{i}]" for i in range(len(refs))] if refs and param else []


def needed_images(request: VideoRequest) -> dict[str, ImageSource]:
    """The images a render uses, by parameter path: start frame, tail frame, references.

    Masks and other option images shape nothing the emulator draws, so they are not fetched.
    """
    sources = request.image_sources()
    wanted = [_start_param(request), _tail_param(request), *_reference_params(request)]
    return {param: sources[param] for param in wanted if param is not None and param in sources}


async def _fetch_one(client: httpx.AsyncClient, param: str, source: ImageSource) -> FetchedImage:
    if source.data is not None:
        data = source.data
    else:
        assert source.url is not None
        shown = redact_url(source.url)
        try:
            async with client.stream("GET", source.url) as answer:
                if answer.status_code != 200:
                    raise InputImageError(f"{param}: fetching {shown} answered HTTP {answer.status_code}")
                chunks: list[bytes] = []
                size = 0
                async for chunk in answer.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_IMAGE_BYTES:
                        raise InputImageError(f"{param}: {shown} is larger than {MAX_IMAGE_BYTES:,} bytes")
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise InputImageError(f"{param}: could not fetch {shown} ({type(exc).__name__})") from None
        data = b"".join(chunks)
    try:
        probe = probe_image(data)
    except ImageInputError as exc:
        raise InputImageError(f"{param}: {exc}") from None
    return FetchedImage(data, probe)


async def fetch_images(
    client: httpx.AsyncClient, sources: Mapping[str, ImageSource]
) -> dict[str, FetchedImage]:
    """Fetch every URL image at once (inline images are used as they are) and check each decodes.

    :param client: The HTTP client (its timeout applies to each fetch).
    :param sources: Images by parameter path, as :func:`needed_images` gives them.
    :raises InputImageError: For the first image that cannot be fetched or read.
    """
    params = list(sources)
    fetched = await asyncio.gather(*(_fetch_one(client, p, sources[p]) for p in params))
    return dict(zip(params, fetched, strict=True))


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def _sized(short: int, aspect: float) -> tuple[int, int]:
    if aspect >= 1:
        return _even(short * aspect), _even(short)
    return _even(short), _even(short / aspect)


def _ratio(value: Any) -> float | None:
    match = _RATIO.match(value) if isinstance(value, str) else None
    if not match or not int(match.group(1)) or not int(match.group(2)):
        return None
    return int(match.group(1)) / int(match.group(2))


def output_size(request: VideoRequest, image_size: tuple[int, int] | None) -> tuple[int, int]:
    """Width and height of the video, by the rules of the module docstring.

    :param request: The judged request.
    :param image_size: Size of the first input image, for the rules that follow its aspect ratio.
    :raises RenderPlanError: When the size is beyond :data:`MAX_SIDE`.
    """
    family = request.family
    resolution = request.settings.resolution
    ratio_setting = request.settings.aspect_ratio
    image_aspect = image_size[0] / image_size[1] if image_size else None
    own = family.part(OUTPUT_RESOLUTION)
    if own is not None:
        resolution = request.option(OUTPUT_RESOLUTION) or resolution or own.plays.default
    if ratio_setting == "adaptive" or (family.image_sets_aspect and ratio_setting is None):
        aspect = image_aspect
    else:
        aspect = _ratio(ratio_setting)
    size: tuple[int, int]
    exact = _EXACT.match(resolution) if isinstance(resolution, str) else None
    tier = _TIER.match(resolution) if isinstance(resolution, str) else None
    if exact:
        width, height = int(exact.group(1)), int(exact.group(2))
        if not width or not height:
            raise RenderPlanError(f"resolution {resolution!r} has a zero side")
        if aspect is None or abs(width / height - aspect) < 0.01 * aspect:
            size = (_even(width), _even(height))
        else:
            size = _sized(min(width, height), aspect)
    elif tier:
        size = _sized(int(tier.group(1)), aspect or 16 / 9)
    elif aspect is not None:
        size = _sized(min(family.default_size), aspect)
    else:
        size = family.default_size
    if max(size) > MAX_SIDE:
        raise RenderPlanError(
            f"the requested output of {size[0]}x{size[1]} is larger than the emulator renders "
            f"({MAX_SIDE} px on the longer side)"
        )
    return size


def wants_audio(request: VideoRequest) -> bool:
    """Whether the video gets an audio track (see the module docstring)."""
    explicit: list[bool] = []
    if request.settings.generate_audio is not None:
        explicit.append(request.settings.generate_audio)
    switch = request.family.part(AUDIO_SWITCH)
    value = request.option(AUDIO_SWITCH)
    if switch is not None and value is not None:
        explicit.append(value == switch.plays.on)
    if explicit:
        return any(explicit)
    return request.spec.audio_default


def _camera(request: VideoRequest) -> CameraMove | None:
    control = request.option(CAMERA)
    if control is None:
        return None
    config = control.config.model_dump(exclude_none=True) if control.config is not None else {}
    return CameraMove(type=control.type, config={k: float(v) for k, v in config.items()})


def video_seconds(request: VideoRequest) -> int:
    """Seconds of one video of ``request``: its duration, the model's default, else 5."""
    return request.duration or DEFAULT_DURATION


def build_specs(request: VideoRequest, images: Mapping[str, FetchedImage]) -> list[RenderSpec]:
    """One :class:`RenderSpec` per video (``n``) of a judged request.

    Video ``i`` is seeded with the request's ``seed`` (0 when unset) plus ``i``, so the videos of
    one job differ and a repeated request gives the same videos.

    :param request: The judged request.
    :param images: Its images, as :func:`fetch_images` returned them.
    :raises RenderPlanError: When there is nothing to render or the size is out of range.
    """
    start = _start_param(request)
    frames = [images[p] for p in (start, *_reference_params(request)) if p is not None and p in images]
    if not frames:
        raise RenderPlanError("the request has no start image and no reference images to render")
    tail_param = _tail_param(request)
    tail = images[tail_param].data if tail_param is not None and tail_param in images else None
    first = frames[0].probe
    width, height = output_size(request, (first.width, first.height))
    resize = request.family.part(RESIZE_MODE)
    resize_mode = (request.option(RESIZE_MODE) or resize.plays.default) if resize is not None else "pad"
    fps = request.settings.fps or DEFAULT_FPS
    duration = video_seconds(request)
    seed = request.settings.seed or 0
    count = request.settings.n
    base = RenderSpec(
        images=tuple(f.data for f in frames),
        width=width,
        height=height,
        duration=float(duration),
        fps=int(fps),
        resize_mode=resize_mode,
        camera=_camera(request),
        tail_image=tail,
        audio=wants_audio(request),
        seed=seed,
    )
    return [replace(base, seed=(seed + i) % 2**32) for i in range(count)]
