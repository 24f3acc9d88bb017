"""Wan (Alibaba): image-to-video from an image URL, with audio, through ``alibaba`` options."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from airflow_video_gen.families.base import AUDIO, Family, ModelSpec, ProviderOptions

if TYPE_CHECKING:
    from airflow_video_gen.request.checks import RequestView


class WanOptions(ProviderOptions):
    """``providerOptions.alibaba``."""

    audio: bool | None = Field(
        None, description="Generate audio. Standard models default to true, flash models to false."
    )
    negative_prompt: str | None = Field(
        None, max_length=500, description="What to avoid in the video. Max 500 characters."
    )
    audio_url: str | None = Field(
        None, description="URL to audio file for audio-video sync (WAV/MP3, 3-30s, max 15MB)."
    )
    watermark: bool | None = Field(None, description="Add watermark to the video. Defaults to false.")


def _audio_url(view: RequestView) -> None:
    url = view.options.get("audioUrl")
    if not isinstance(url, str):
        return
    if not url.lower().startswith(("https://", "http://")):
        view.error(view.param("audioUrl"), f"must be an http(s) URL of a WAV or MP3 file for {view.model}")
    elif not url.lower().split("?", 1)[0].endswith((".wav", ".mp3")):
        view.warn(f"audioUrl {url[:80]!r} does not end in .wav or .mp3; Wan takes WAV or MP3 audio (3-30 s)")


def _wan(model_id: str, description: str) -> ModelSpec:
    return ModelSpec(
        id=model_id,
        description=description,
        durations=tuple(range(2, 16)),
        default_duration=5,
        resolutions=("1280x720", "1920x1080"),
        default_resolution=None,
        capabilities=frozenset({AUDIO}),
    )


#: Whether each Wan model generates audio when ``audio`` is not set.
AUDIO_DEFAULTS = {"alibaba/wan-v2.6-i2v": True, "alibaba/wan-v2.6-i2v-flash": False}

WAN = Family(
    name="wan",
    label="Wan",
    provider_key="alibaba",
    models={
        m.id: m
        for m in (
            _wan("alibaba/wan-v2.6-i2v", "Standard model with audio"),
            _wan("alibaba/wan-v2.6-i2v-flash", "Fast generation"),
        )
    },
    default_model="alibaba/wan-v2.6-i2v-flash",
    options_model=WanOptions,
    url_only_images=True,
    text_required=True,
    documented_settings=frozenset({"duration", "resolution"}),
    rules=(_audio_url,),
    notes=(
        "The seed gives no duration default; 5 s is what the local emulator renders when none is "
        "set, and nothing is sent.",
    ),
    default_size=(1280, 720),
)
