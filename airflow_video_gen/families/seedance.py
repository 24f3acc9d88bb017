"""ByteDance Seedance: first frame, first+last frame and multi-reference video at 24 fps."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from airflow_video_gen.families.base import (
    AUDIO,
    AUDIO_SWITCH,
    END_FRAME,
    LAST_FRAME,
    REFERENCE_IMAGES,
    REFERENCES,
    RETURN_LAST_FRAME,
    Family,
    Image,
    Latency,
    ModelSpec,
    Plays,
    ProviderOptions,
    Requires,
)


class SeedanceOptions(ProviderOptions):
    """``providerOptions.bytedance``."""

    last_frame_image: Annotated[Image | None, Requires(LAST_FRAME), Plays(END_FRAME)] = Field(
        None, description="URL of the last frame image. Enables first+last frame mode."
    )
    reference_images: Annotated[list[Image] | None, Requires(REFERENCES), Plays(REFERENCE_IMAGES)] = Field(
        None, min_length=1, max_length=4, description="1-4 reference image URLs. Lite I2V only."
    )
    generate_audio: Annotated[bool | None, Requires(AUDIO), Plays(AUDIO_SWITCH)] = Field(
        None, description="Generate synchronized audio. Seedance v1.5 Pro only."
    )
    watermark: bool | None = Field(None, description="Add a watermark to the video.")
    camera_fixed: bool | None = Field(None, description="Fix the camera position during generation.")
    return_last_frame: Annotated[bool | None, Plays(RETURN_LAST_FRAME)] = Field(
        None, description="Return the last frame of the generated video, for chaining clips."
    )
    service_tier: Literal["default", "flex"] | None = Field(
        None, description="'default' for online inference, 'flex' for offline at 50% cost, higher latency."
    )


_FULL = ("854x480", "1280x720", "1920x1080")
_ALL = frozenset({LAST_FRAME})
_HD = (("1920x1080", 1.5),)

SEEDANCE = Family(
    name="seedance",
    label="ByteDance Seedance",
    provider_key="bytedance",
    models={
        m.id: m
        for m in (
            ModelSpec(
                "bytedance/seedance-v1.5-pro",
                "Latest model with audio sync. First frame and first+last frame. 4-12s, up to 1080p",
                durations=tuple(range(4, 13)),
                default_duration=5,
                resolutions=_FULL,
                default_resolution=None,
                capabilities=_ALL | {AUDIO},
            ),
            ModelSpec(
                "bytedance/seedance-v1.0-pro",
                "First frame and first+last frame. 2-12s, up to 1080p",
                durations=tuple(range(2, 13)),
                default_duration=5,
                resolutions=_FULL,
                default_resolution=None,
                capabilities=_ALL,
            ),
            ModelSpec(
                "bytedance/seedance-v1.0-pro-fast",
                "First frame only. Optimized for speed. 2-12s",
                durations=tuple(range(2, 13)),
                default_duration=5,
                resolutions=_FULL,
                default_resolution=None,
                latency=Latency(base=8.0, per_second=2.5, resolutions=_HD),
            ),
            ModelSpec(
                "bytedance/seedance-v1.0-lite-i2v",
                "First frame, first+last frame, multi-reference (1-4 images). 2-12s, up to 720p",
                durations=tuple(range(2, 13)),
                default_duration=5,
                resolutions=_FULL[:2],
                default_resolution=None,
                capabilities=_ALL | {REFERENCES},
                latency=Latency(base=12.0, per_second=3.0, resolutions=_HD),
            ),
        )
    },
    default_model="bytedance/seedance-v1.0-pro-fast",
    options_model=SeedanceOptions,
    creator_prefixes=("bytedance/seedance-",),
    poll_interval=3.0,
    timeout=300.0,
    url_only_images=True,
    fps=(24,),
    aspect_ratios=("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive"),
    documented_settings=frozenset({"duration", "resolution", "aspectRatio"}),
    default_size=(1280, 720),
    # Rough typical minimums (the polling schedule's prior, corrected by what the trigger sees).
    latency=Latency(base=15.0, per_second=4.0, resolutions=_HD),
    notes=(
        "All Seedance models output MP4 at 24 fps; any other fps is refused.",
        "The seed gives no duration or resolution default; 5 s (the examples' value) and 1280x720 are "
        "what the local emulator renders, and nothing is sent when they are not set.",
    ),
)
