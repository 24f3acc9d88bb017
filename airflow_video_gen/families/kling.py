"""KlingAI: image-to-video with first/last frame, camera control, motion brush, voices, multi-shot."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, NonNegativeInt, PositiveInt

from airflow_video_gen.families.base import (
    AUDIO,
    AUDIO_SWITCH,
    CAMERA,
    CFG_SCALE,
    ELEMENTS,
    END_FRAME,
    MASK,
    MULTI_SHOT,
    SOUND,
    VOICES,
    Family,
    Image,
    ImageRules,
    Latency,
    ModelSpec,
    Plays,
    ProviderOptions,
    Requires,
    RuleContext,
    WireModel,
)

CameraType = Literal["simple", "down_back", "forward_up", "right_turn_forward", "left_turn_forward"]
CAMERA_TYPES: tuple[str, ...] = get_args(CameraType)
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


#: The axes of a ``simple`` camera move, in the seed's order.
CAMERA_AXES: tuple[str, ...] = tuple(CameraConfig.model_fields)


class CameraControl(WireModel):
    """``cameraControl``."""

    type: CameraType = Field(description="Camera movement type.")
    config: CameraConfig | None = Field(None, description="Movement configuration. Required for 'simple'.")


class TrajectoryPoint(WireModel):
    """A point of a motion path; the origin is the image's bottom-left corner."""

    x: NonNegativeInt = Field(description="Pixels from the left edge.")
    y: NonNegativeInt = Field(description="Pixels from the bottom edge.")


class DynamicMask(WireModel):
    """``dynamicMasks[]``: an area that moves and its path."""

    mask: Annotated[Image, Plays(MASK)] = Field(description="Mask image for areas that should move.")
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

    mode: Literal["std", "pro"] | None = Field(
        None, description="'std' for standard quality, 'pro' for professional quality. Defaults to 'std'."
    )
    negative_prompt: str | None = Field(
        None, max_length=2500, description="What to avoid in the video. Max 2500 characters."
    )
    cfg_scale: Annotated[float | None, Requires(CFG_SCALE)] = Field(
        None, ge=0, le=1, description="Prompt adherence (0-1). Defaults to 0.5. Not supported on v2.x."
    )
    sound: Annotated[Literal["on", "off"] | None, Requires(SOUND), Plays(AUDIO_SWITCH, on="on")] = Field(
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
    image_tail: Annotated[Image | None, Plays(END_FRAME)] = Field(
        None, description="The last frame (ending image), as prompt.image."
    )
    camera_control: Annotated[CameraControl | None, Plays(CAMERA)] = Field(
        None, description="Camera movement during generation."
    )
    static_mask: Annotated[Image | None, Plays(MASK)] = Field(
        None, description="Mask image for areas that should remain static."
    )
    dynamic_masks: list[DynamicMask] | None = Field(
        None, min_length=1, max_length=6, description="Dynamic mask configurations (up to 6)."
    )


def _one_motion_feature(ctx: RuleContext) -> None:
    """First/last frame, motion brush and camera control cannot be combined."""
    opts = ctx.options
    groups = {
        "first/last frame (imageTail)": [("imageTail", opts.image_tail)],
        "motion brush (staticMask/dynamicMasks)": [
            ("staticMask", opts.static_mask),
            ("dynamicMasks", opts.dynamic_masks),
        ],
        "camera control (cameraControl)": [("cameraControl", opts.camera_control)],
    }
    used = [(name, next(k for k, v in keys if v)) for name, keys in groups.items() if any(v for _, v in keys)]
    if len(used) > 1:
        ctx.error(
            ctx.param(used[1][1]),
            f"{' and '.join(name for name, _ in used)} cannot be combined on {ctx.model}; use one of "
            "first/last frame, motion brush or camera control",
        )


def _voices(ctx: RuleContext) -> None:
    opts: KlingOptions = ctx.options
    if not opts.voice_list:
        return
    if opts.element_list:
        ctx.error(ctx.param("voiceList"), f"cannot be combined with elementList on {ctx.model}")
    if opts.sound != "on":
        ctx.error(ctx.param("voiceList"), f"requires sound: 'on' on {ctx.model}")
    for ref in re.findall(r"<<<voice_(\d+)>>>", ctx.text or ""):
        if not 1 <= int(ref) <= len(opts.voice_list):
            ctx.warn(f"prompt.text names <<<voice_{ref}>>> but voiceList has {len(opts.voice_list)} voice(s)")


def _multi_shot(ctx: RuleContext) -> None:
    opts: KlingOptions = ctx.options
    shots = opts.multi_prompt
    if opts.multi_shot is True and not shots:
        ctx.error(ctx.param("multiPrompt"), f"is required when multiShot is true on {ctx.model}")
    if shots and opts.multi_shot is not True:
        ctx.error(ctx.param("multiShot"), f"must be true when multiPrompt is given on {ctx.model}")
    if not shots:
        return
    indexes = [s.index for s in shots]
    if indexes != list(range(1, len(shots) + 1)):
        ctx.error(
            ctx.param("multiPrompt"),
            f"shot indexes must run 1, 2, 3... in order on {ctx.model}; got {indexes}",
        )
    total = sum(float(s.duration) for s in shots)
    if ctx.duration is not None and total != ctx.duration:
        ctx.warn(f"multiPrompt shot durations add up to {total:g} s, but duration is {ctx.duration} s")


def _camera(ctx: RuleContext) -> None:
    control: CameraControl | None = ctx.options.camera_control
    if control is None:
        return
    config = control.config
    if control.type == "simple":
        if config is None:
            ctx.error(
                ctx.param("cameraControl.config"),
                f"is required when cameraControl.type is 'simple' on {ctx.model}",
            )
            return
        moving = [a for a in CAMERA_AXES if getattr(config, a)]
        if len(moving) != 1:
            ctx.error(
                ctx.param("cameraControl.config"),
                f"'simple' moves exactly one axis on {ctx.model}: set one of {', '.join(CAMERA_AXES)} "
                f"to a non-zero value in [-10, 10] and the others to 0; non-zero now: {moving or 'none'}",
            )
    elif config is not None and config.model_dump(exclude_none=True):
        ctx.warn(f"cameraControl.config is only read for type 'simple'; {control.type!r} ignores it")


def _masks(ctx: RuleContext) -> None:
    masks: list[DynamicMask] | None = ctx.options.dynamic_masks
    if masks and ctx.duration == 5:
        for i, mask in enumerate(masks):
            if len(mask.trajectories) > MAX_TRAJECTORY_POINTS_5S:
                ctx.error(
                    ctx.param(f"dynamicMasks[{i}].trajectories"),
                    f"has {len(mask.trajectories)} points; a 5 s video on {ctx.model} takes 2 to "
                    f"{MAX_TRAJECTORY_POINTS_5S}",
                )
    probes = ctx.probes()
    start = probes.get("prompt.image")
    sizes = set()
    for param, probe in probes.items():
        if "Mask" not in param:
            continue
        sizes.add((probe.width, probe.height))
        if probe.format not in ("JPEG", "PNG"):
            ctx.error(param, f"mask is {probe.format}; {ctx.model} takes jpg/jpeg or png masks")
        if start is not None:
            image_aspect = start.width / start.height
            if abs(probe.width / probe.height - image_aspect) > 0.01 * image_aspect:
                ctx.error(
                    param,
                    f"mask is {probe.width}x{probe.height}; its aspect ratio must match prompt.image "
                    f"({start.width}x{start.height}) on {ctx.model}",
                )
    if len(sizes) > 1:
        ctx.error(
            ctx.param("dynamicMasks"),
            f"all masks (staticMask and dynamicMasks[].mask) must have the same resolution on "
            f"{ctx.model}; got {', '.join(f'{w}x{h}' for w, h in sorted(sizes))}",
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
                latency=Latency(base=40.0, per_second=8.0),
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
                latency=Latency(base=20.0, per_second=4.0),
            ),
        )
    },
    default_model="klingai/kling-v2.6-i2v",
    options_model=KlingOptions,
    creator_prefixes=("klingai/",),
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
    # Rough typical minimums (the polling schedule's prior, corrected by what the trigger sees).
    latency=Latency(base=30.0, per_second=6.0),
    notes=(
        "voiceList: the parameter table says v3.0+, the voice-generation section and its example use "
        "v2.6; the permissive reading wins, so voices are accepted on v2.6 and v3.0.",
        "Trajectories: 2-77 points are documented for a 5 s video; for other durations only the minimum "
        "of 2 is enforced.",
    ),
)
