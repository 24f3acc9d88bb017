"""Wan (Alibaba): image-to-video from an image URL, with audio, through ``alibaba`` options."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from airflow_video_gen.families.base import (
    AUDIO,
    AUDIO_SWITCH,
    Family,
    Latency,
    ModelSpec,
    Plays,
    ProviderOptions,
    RuleContext,
)


class WanOptions(ProviderOptions):
    """``providerOptions.alibaba``."""

    audio: Annotated[bool | None, Plays(AUDIO_SWITCH)] = Field(
        None, description="Generate audio. Standard models default to true, flash models to false."
    )
    negative_prompt: str | None = Field(
        None, max_length=500, description="What to avoid in the video. Max 500 characters."
    )
    audio_url: str | None = Field(
        None, description="URL to audio file for audio-video sync (WAV/MP3, 3-30s, max 15MB)."
    )
    watermark: bool | None = Field(None, description="Add watermark to the video. Defaults to false.")


def _audio_url(ctx: RuleContext) -> None:
    url = ctx.options.audio_url
    if url is None:
        return
    if not url.lower().startswith(("https://", "http://")):
        ctx.error(ctx.param("audioUrl"), f"must be an http(s) URL of a WAV or MP3 file for {ctx.model}")
    elif not url.lower().split("?", 1)[0].endswith((".wav", ".mp3")):
        ctx.warn(f"audioUrl {url[:80]!r} does not end in .wav or .mp3; Wan takes WAV or MP3 audio (3-30 s)")


_HD = (("1920x1080", 1.5),)


def _wan(
    model_id: str, description: str, *, audio_default: bool, latency: Latency | None = None
) -> ModelSpec:
    return ModelSpec(
        id=model_id,
        description=description,
        durations=tuple(range(2, 16)),
        default_duration=5,
        resolutions=("1280x720", "1920x1080"),
        default_resolution=None,
        capabilities=frozenset({AUDIO}),
        audio_default=audio_default,
        latency=latency,
    )


WAN = Family(
    name="wan",
    label="Wan",
    provider_key="alibaba",
    models={
        m.id: m
        for m in (
            _wan("alibaba/wan-v2.6-i2v", "Standard model with audio", audio_default=True),
            _wan(
                "alibaba/wan-v2.6-i2v-flash",
                "Fast generation",
                audio_default=False,
                latency=Latency(base=12.0, per_second=3.0, resolutions=_HD),
            ),
        )
    },
    default_model="alibaba/wan-v2.6-i2v-flash",
    options_model=WanOptions,
    creator_prefixes=("alibaba/wan-",),
    url_only_images=True,
    text_required=True,
    documented_settings=frozenset({"duration", "resolution"}),
    rules=(_audio_url,),
    # Rough typical minimums (the polling schedule's prior, corrected by what the trigger sees).
    latency=Latency(base=25.0, per_second=5.0, resolutions=_HD),
    notes=(
        "The seed gives no duration default; 5 s is what the local emulator renders when none is "
        "set, and nothing is sent.",
    ),
    default_size=(1280, 720),
)
