"""KlingAI: image-to-video with first/last frame, camera control, motion brush, voices, multi-shot."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, NonNegativeInt, PositiveInt

from airflow_video_gen.families.base import (
    AUDIO,
    CFG_SCALE,
    ELEMENTS,
    MULTI_SHOT,
    SOUND,
    VOICES,
    Family,
    ImageRules,
    ModelSpec,
    ProviderOptions,
    Requires,
    WireModel,
)

if TYPE_CHECKING:
    from airflow_video_gen.request.checks import RequestView

CAMERA_TYPES = ("simple", "down_back", "forward_up", "right_turn_forward", "left_turn_forward")
CAMERA_AXES = ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")
#: Trajectory points allowed per dynamic mask for a 5 s video.
MAX_TRAJECTORY_POINTS_5S = 77

_Axis = Annotated[float | None, Field(None, ge=-10, le=10)]


class CameraConfig(WireModel):
    """``cameraControl.config``: one axis of movement for the ``simple`` type, each in [-10, 10]."""

    horizontal: _Axis = Field(None, description="Camera translation along x-axis. Negative = left.")
    vertical: _Axis = Field(None, description="Camera translation along y-axis. Negative = down.")
    pan: _Axis = Field(None, description="Camera rotation around y-axis. Negative = left.")
    tilt: _Axis = Field(None, description="Camera rotation around x-axis. Negative = down.")
    roll: _Axis = Field(None, description="Camera rotation around z-axis. Negative = counter-clockwise.")
    zoom: _Axis = Field(None, description="Focal length change. Negative = narrower FOV.")


class CameraControl(WireModel):
    """``cameraControl``."""

    type: Literal["simple", "down_back", "forward_up", "right_turn_forward", "left_turn_forward"] = Field(
        description="Camera movement type."
    )
    config: CameraConfig | None = Field(None, description="Movement configuration. Required for 'simple'.")


class TrajectoryPoint(WireModel):
    """A point of a motion path; the origin is the image's bottom-left corner."""

    x: NonNegativeInt = Field(description="Pixels from the left edge.")
    y: NonNegativeInt = Field(description="Pixels from the bottom edge.")


class DynamicMask(WireModel):
    """``dynamicMasks[]``: an area that moves and its path."""

    mask: str = Field(description="Mask image for areas that should move.")
    trajectories: list[TrajectoryPoint] = Field(
        min_length=2, description="Motion path coordinates. 2-77 points for 5s video."
    )


class Voice(WireModel):
    """``voiceList[]``."""

    voice_id: str = Field(min_length=1, description="A KlingAI voice id.")


class Shot(WireModel):
    """``multiPrompt[]``: one storyboard shot."""

    index: PositiveInt = Field(description="Shot order (starting from 1).")
    prompt: str = Field(max_length=2500, description="Text description for this shot.")
    duration: str = Field(pattern=r"^\d+(\.\d+)?$", description="Duration in seconds for this shot.")


class WatermarkInfo(WireModel):
    """``watermarkInfo``."""

    enabled: bool = Field(description="Generate a watermarked result.")


class KlingOptions(ProviderOptions):
    """``providerOptions.klingai``."""

    image_paths = ("imageTail", "staticMask", "dynamicMasks[].mask")

    mode: Literal["std", "pro"] | None = Field(
        None, description="'std' for standard quality, 'pro' for professional quality. Defaults to 'std'."
    )
    negative_prompt: str | None = Field(
        None, max_length=2500, description="What to avoid in the video. Max 2500 characters."
    )
    cfg_scale: Annotated[float | None, Requires(CFG_SCALE)] = Field(
        None, ge=0, le=1, description="Prompt adherence (0-1). Defaults to 0.5. Not supported on v2.x."
    )
    sound: Annotated[Literal["on", "off"] | None, Requires(SOUND)] = Field(
        None, description="Generate audio. Defaults to 'off'. Requires v2.6+."
    )
    voice_list: Annotated[list[Voice] | None, Requires(VOICES)] = Field(
        None, min_length=1, max_length=2, description="Voice IDs for speech. Max 2 voices, with sound 'on'."
    )
    multi_shot: Annotated[bool | None, Requires(MULTI_SHOT)] = Field(
        None, description="Enable multi-shot generation. Requires v3.0+."
    )
    shot_type: Annotated[str | None, Requires(MULTI_SHOT)] = Field(
        None, description="Set to 'customize' for custom shot durations (with multiShot)."
    )
    multi_prompt: Annotated[list[Shot] | None, Requires(MULTI_SHOT)] = Field(
        None, min_length=1, description="Array of shot configurations (with multiShot)."
    )
    element_list: Annotated[list[dict[str, Any]] | None, Requires(ELEMENTS)] = Field(
        None, min_length=1, max_length=3, description="Reference elements. Up to 3. Requires v3.0+."
    )
    watermark_info: WatermarkInfo | None = Field(
        None, description="Set {enabled: true} to generate a watermarked result."
    )
    image_tail: str | None = Field(None, description="The last frame (ending image), as prompt.image.")
    camera_control: CameraControl | None = Field(None, description="Camera movement during generation.")
    static_mask: str | None = Field(None, description="Mask image for areas that should remain static.")
    dynamic_masks: list[DynamicMask] | None = Field(
        None, min_length=1, max_length=6, description="Dynamic mask configurations (up to 6)."
    )


def _one_motion_feature(view: RequestView) -> None:
    """First/last frame, motion brush and camera control cannot be combined."""
    groups = {
        "first/last frame (imageTail)": ("imageTail",),
        "motion brush (staticMask/dynamicMasks)": ("staticMask", "dynamicMasks"),
        "camera control (cameraControl)": ("cameraControl",),
    }
    used = [name for name, keys in groups.items() if any(view.options.get(k) for k in keys)]
    if len(used) > 1:
        first_key = groups[used[1]][0]
        present = first_key if view.options.get(first_key) else groups[used[1]][-1]
        view.error(
            view.param(present),
            f"{' and '.join(used)} cannot be combined on {view.model}; use one of first/last frame, "
            "motion brush or camera control",
        )


def _voices(view: RequestView) -> None:
    if not view.options.get("voiceList"):
        return
    if view.options.get("elementList"):
        view.error(view.param("voiceList"), f"cannot be combined with elementList on {view.model}")
    if view.options.get("sound") != "on":
        view.error(view.param("voiceList"), f"requires sound: 'on' on {view.model}")
    voices = view.options["voiceList"]
    for ref in re.findall(r"<<<voice_(\d+)>>>", view.text or ""):
        if isinstance(voices, list) and not 1 <= int(ref) <= len(voices):
            view.warn(f"prompt.text names <<<voice_{ref}>>> but voiceList has {len(voices)} voice(s)")


def _multi_shot(view: RequestView) -> None:
    shots = view.options.get("multiPrompt")
    if view.options.get("multiShot") is True and not shots:
        view.error(view.param("multiPrompt"), f"is required when multiShot is true on {view.model}")
    if shots and view.options.get("multiShot") is not True:
        view.error(view.param("multiShot"), f"must be true when multiPrompt is given on {view.model}")
    if not isinstance(shots, list) or not all(isinstance(s, dict) for s in shots):
        return
    indexes = [s.get("index") for s in shots]
    if indexes != list(range(1, len(shots) + 1)):
        view.error(
            view.param("multiPrompt"),
            f"shot indexes must run 1, 2, 3... in order on {view.model}; got {indexes}",
        )
    try:
        total = sum(float(s.get("duration", "nan")) for s in shots)
    except (TypeError, ValueError):
        return
    if view.duration is not None and total != view.duration:
        view.warn(f"multiPrompt shot durations add up to {total:g} s, but duration is {view.duration} s")


def _camera(view: RequestView) -> None:
    control = view.options.get("cameraControl")
    if not isinstance(control, dict):
        return
    config = control.get("config")
    if control.get("type") == "simple":
        if not isinstance(config, dict):
            view.error(
                view.param("cameraControl.config"),
                f"is required when cameraControl.type is 'simple' on {view.model}",
            )
            return
        moving = [a for a in CAMERA_AXES if isinstance(config.get(a), (int, float)) and config.get(a) != 0]
        if len(moving) != 1:
            view.error(
                view.param("cameraControl.config"),
                f"'simple' moves exactly one axis on {view.model}: set one of {', '.join(CAMERA_AXES)} "
                f"to a non-zero value in [-10, 10] and the others to 0; non-zero now: {moving or 'none'}",
            )
    elif config:
        view.warn(f"cameraControl.config is only read for type 'simple'; {control.get('type')!r} ignores it")


def _masks(view: RequestView) -> None:
    masks = view.options.get("dynamicMasks")
    if isinstance(masks, list) and view.duration == 5:
        for i, mask in enumerate(masks):
            points = mask.get("trajectories") if isinstance(mask, dict) else None
            if isinstance(points, list) and len(points) > MAX_TRAJECTORY_POINTS_5S:
                view.error(
                    view.param(f"dynamicMasks[{i}].trajectories"),
                    f"has {len(points)} points; a 5 s video on {view.model} takes 2 to "
                    f"{MAX_TRAJECTORY_POINTS_5S}",
                )
    probes = {p: s.probe for p, s in view.images.items() if "Mask" in p and s.probe is not None}
    start = view.images.get("prompt.image")
    sizes = set()
    for param, probe in probes.items():
        sizes.add((probe.width, probe.height))
        if probe.format not in ("JPEG", "PNG"):
            view.error(param, f"mask is {probe.format}; {view.model} takes jpg/jpeg or png masks")
        if start is not None and start.probe is not None:
            image_aspect = start.probe.width / start.probe.height
            if abs(probe.width / probe.height - image_aspect) > 0.01 * image_aspect:
                view.error(
                    param,
                    f"mask is {probe.width}x{probe.height}; its aspect ratio must match prompt.image "
                    f"({start.probe.width}x{start.probe.height}) on {view.model}",
                )
    if len(sizes) > 1:
        view.error(
            view.param("dynamicMasks"),
            f"all masks (staticMask and dynamicMasks[].mask) must have the same resolution on "
            f"{view.model}; got {', '.join(f'{w}x{h}' for w, h in sorted(sizes))}",
        )


_V2 = (5, 10)

KLING = Family(
    name="kling",
    label="KlingAI",
    provider_key="klingai",
    models={
        m.id: m
        for m in (
            ModelSpec(
                "klingai/kling-v3.0-i2v",
                "Multi-shot generation, 15s clips, enhanced consistency",
                durations=tuple(range(3, 16)),
                default_duration=5,
                resolutions=None,
                default_resolution=None,
                capabilities=frozenset({AUDIO, CFG_SCALE, SOUND, VOICES, MULTI_SHOT, ELEMENTS}),
            ),
            ModelSpec(
                "klingai/kling-v2.6-i2v",
                "Audio-visual co-generation, cinematic motion",
                durations=_V2,
                default_duration=5,
                resolutions=None,
                default_resolution=None,
                capabilities=frozenset({AUDIO, SOUND, VOICES}),
            ),
            ModelSpec(
                "klingai/kling-v2.5-turbo-i2v",
                "Faster generation, lower cost",
                durations=_V2,
                default_duration=5,
                resolutions=None,
                default_resolution=None,
            ),
        )
    },
    default_model="klingai/kling-v2.6-i2v",
    options_model=KlingOptions,
    max_text_length=2500,
    image_rules=ImageRules(
        formats=frozenset({"JPEG", "PNG"}),
        max_bytes=10 * 1024 * 1024,
        min_side=300,
        min_aspect=1 / 2.5,
        max_aspect=2.5,
        label="KlingAI image requirements: jpg/jpeg/png, at most 10 MB, at least 300 px, "
        "aspect 1:2.5 to 2.5:1",
    ),
    documented_settings=frozenset({"duration", "aspectRatio"}),
    rules=(_one_motion_feature, _voices, _multi_shot, _camera, _masks),
    default_size=(1280, 720),
    notes=(
        "voiceList: the parameter table says v3.0+, the voice-generation section and its example use "
        "v2.6; the permissive reading wins, so voices are accepted on v2.6 and v3.0.",
        "Trajectories: 2-77 points are documented for a 5 s video; for other durations only the minimum "
        "of 2 is enforced.",
    ),
)
