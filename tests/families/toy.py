"""A sixth family, defined here and nowhere in the package: one module of data plus two thin
classes, the way a new family is added. The test that uses it proves that the checks, the
operators, the sensor, the emulator and archive read families as data."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from airflow_video_gen.families import FAMILIES, register_family
from airflow_video_gen.families.base import (
    AUDIO,
    AUDIO_SWITCH,
    END_FRAME,
    RETURN_LAST_FRAME,
    Family,
    Image,
    ModelSpec,
    Plays,
    ProviderOptions,
    Requires,
    RuleContext,
)
from airflow_video_gen.operators.submit import BaseVideoSubmitOperator
from airflow_video_gen.sensors.generation import BaseVideoGenerationSensor

TOY_MODEL = "toyco/toy-v1"
TOY_MODEL_QUIET = "toyco/toy-v1-quiet"


class ToyOptions(ProviderOptions):
    """``providerOptions.toyco``."""

    ending: Annotated[Image | None, Plays(END_FRAME)] = Field(None, description="The last frame.")
    tune: Annotated[Literal["loud", "hush"] | None, Requires(AUDIO), Plays(AUDIO_SWITCH, on="loud")] = Field(
        None, description="'loud' for a soundtrack."
    )
    keep_last: Annotated[bool | None, Plays(RETURN_LAST_FRAME)] = Field(
        None, description="Return the video's last frame."
    )
    sparkle: int | None = Field(None, ge=0, le=3, description="How much it sparkles, 0-3.")


def _no_sparkle_with_ending(ctx: RuleContext) -> None:
    if ctx.options.sparkle and ctx.options.ending is not None:
        ctx.error(ctx.param("sparkle"), f"cannot be combined with an ending on {ctx.model}")


def _toy(model: str, capabilities: frozenset[str]) -> ModelSpec:
    return ModelSpec(
        model,
        "A toy",
        durations=(2, 3),
        default_duration=2,
        resolutions=None,
        default_resolution=None,
        capabilities=capabilities,
    )


TOY = FAMILIES.get("toy") or register_family(
    Family(
        name="toy",
        label="Toy Video",
        provider_key="toyco",
        models={m.id: m for m in (_toy(TOY_MODEL, frozenset({AUDIO})), _toy(TOY_MODEL_QUIET, frozenset()))},
        default_model=TOY_MODEL,
        options_model=ToyOptions,
        creator_prefixes=("toyco/",),
        poll_interval=0.3,
        timeout=60.0,
        rules=(_no_sparkle_with_ending,),
        default_size=(320, 240),
    )
)


class ToySubmitOperator(BaseVideoSubmitOperator):
    """Starts a Toy Video generation."""

    family = TOY


class ToyGenerationSensor(BaseVideoGenerationSensor):
    """Waits for a Toy Video generation."""

    family = TOY
