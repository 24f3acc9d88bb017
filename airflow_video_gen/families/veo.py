"""Google Veo: image-to-video with optional audio, through the ``vertex`` provider options."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from airflow_video_gen.families.base import (
    AUDIO,
    AUDIO_SWITCH,
    RESIZE_MODE,
    Family,
    Latency,
    ModelSpec,
    Plays,
    ProviderOptions,
)


class VeoOptions(ProviderOptions):
    """``providerOptions.vertex``."""

    generate_audio: Annotated[bool | None, Plays(AUDIO_SWITCH)] = Field(
        None, description="Generate audio alongside the video."
    )
    resize_mode: Annotated[Literal["pad", "crop"] | None, Plays(RESIZE_MODE, default="pad")] = Field(
        None, description="How to resize the image to fit video dimensions. Defaults to 'pad'."
    )
    enhance_prompt: bool | None = Field(None, description="Use Gemini to enhance prompts. Defaults to true.")
    negative_prompt: str | None = Field(None, description="What to discourage in the generated video.")
    person_generation: Literal["dont_allow", "allow_adult", "allow_all"] | None = Field(
        None, description="Whether to allow person generation. Defaults to 'allow_adult'."
    )


_HD = (("1080p", 1.4),)
#: Rough typical minimums (the polling schedule's prior, corrected by what the trigger sees).
_LATENCY = Latency(base=20.0, per_second=5.0, resolutions=_HD)
_FAST = Latency(base=10.0, per_second=3.0, resolutions=_HD)


def _veo(model_id: str, description: str, latency: Latency | None = None) -> ModelSpec:
    return ModelSpec(
        id=model_id,
        description=description,
        durations=(4, 6, 8),
        default_duration=8,
        resolutions=("720p", "1080p"),
        default_resolution="720p",
        capabilities=frozenset({AUDIO}),
        latency=latency,
    )


VEO = Family(
    name="veo",
    label="Google Veo",
    provider_key="vertex",
    models={
        m.id: m
        for m in (
            _veo("google/veo-3.1-generate-001", "Latest model with audio"),
            _veo("google/veo-3.1-fast-generate-001", "Fast generation", _FAST),
            _veo("google/veo-3.0-generate-001", "Previous generation, 1080p max"),
            _veo("google/veo-3.0-fast-generate-001", "Faster generation, lower quality", _FAST),
        )
    },
    default_model="google/veo-3.1-fast-generate-001",
    options_model=VeoOptions,
    creator_prefixes=("google/veo-",),
    documented_settings=frozenset({"duration", "resolution"}),
    default_size=(1280, 720),
    latency=_LATENCY,
    notes=(
        "The seed calls veo-3.1 'the model with audio' but gates audio on no model; audio is accepted "
        "on every Veo model.",
    ),
)
