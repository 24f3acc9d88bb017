"""Grok Imagine Video (xAI): image-to-video from an image URL, through ``xai`` options."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from airflow_video_gen.families.base import (
    OUTPUT_RESOLUTION,
    Family,
    Latency,
    ModelSpec,
    Plays,
    ProviderOptions,
)


class GrokOptions(ProviderOptions):
    """``providerOptions.xai``."""

    resolution: Annotated[Literal["480p", "720p"] | None, Plays(OUTPUT_RESOLUTION, default="480p")] = Field(
        None, description="Video resolution. Defaults to 480p."
    )


GROK = Family(
    name="grok",
    label="Grok Imagine Video",
    provider_key="xai",
    models={
        "xai/grok-imagine-video": ModelSpec(
            id="xai/grok-imagine-video",
            description="Image to video, 1-15 s, 480p or 720p",
            durations=tuple(range(1, 16)),
            default_duration=5,
            resolutions=None,
            default_resolution=None,
        )
    },
    default_model="xai/grok-imagine-video",
    options_model=GrokOptions,
    creator_prefixes=("xai/",),
    url_only_images=True,
    image_sets_aspect=True,
    documented_settings=frozenset({"duration", "aspectRatio"}),
    default_size=(854, 480),
    # A rough typical minimum (the polling schedule's prior, corrected by what the trigger sees).
    latency=Latency(base=10.0, per_second=3.0, resolutions=(("720p", 1.4),)),
    notes=(
        "The seed gives no duration default; 5 s is what the local emulator renders when none is "
        "set, and nothing is sent.",
        "Resolution is set with providerOptions.xai.resolution ('480p' or '720p'); the top-level "
        "resolution is not documented for Grok and is passed on with a warning.",
        "aspectRatio overrides the input image's aspect ratio and stretches the image.",
    ),
)
