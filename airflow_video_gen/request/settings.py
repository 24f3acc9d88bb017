"""The top-level settings of a call, the same for every family: declared once, typed.

The checks validate them with this model, the wire body is dumped from it, the operators take its
fields as keywords and the documentation tables read their descriptions from it. What a family
allows (durations, resolutions, frame rates, aspect ratios) is the family's data, checked in
:mod:`airflow_video_gen.request.checks`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from airflow_video_gen.families.base import AUDIO, Requires, WireModel


def _whole(value: Any) -> Any:
    """``5.0`` is the whole number 5; a JSON client may send either."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def _must(text: str) -> dict[str, Any]:
    return {"must": text}


class CallSettings(WireModel):
    """``n``, ``aspectRatio``, ``resolution``, ``duration``, ``fps``, ``seed``, ``generateAudio``.

    Fields are declared in the order the official client puts them on the wire. Each field's
    ``must`` (in ``json_schema_extra``) is the message given when a value has the wrong type.
    """

    n: int = Field(
        1,
        ge=1,
        description="Number of videos to generate.",
        json_schema_extra=_must("must be a whole number of videos, at least 1"),
    )
    aspect_ratio: str | None = Field(
        None,
        description="Aspect ratio, 'W:H'.",
        json_schema_extra=_must("must be 'W:H' (e.g. '16:9')"),
    )
    resolution: str | None = Field(
        None,
        description="Output resolution, as the family names it.",
        json_schema_extra=_must("must be a string"),
    )
    duration: Annotated[int | None, BeforeValidator(_whole)] = Field(
        None,
        description="Length of the video in seconds.",
        json_schema_extra=_must("must be a whole number of seconds"),
    )
    fps: Annotated[int | None, BeforeValidator(_whole)] = Field(
        None,
        ge=1,
        description="Frames per second.",
        json_schema_extra=_must("must be a whole number of frames per second"),
    )
    seed: int | None = Field(
        None,
        ge=0,
        lt=2**32,
        description="Seed for reproducible generation.",
        json_schema_extra=_must("must be a whole number from 0 to 4294967295"),
    )
    generate_audio: Annotated[bool | None, Requires(AUDIO)] = Field(
        None, description="Generate an audio track.", json_schema_extra=_must("must be true or false")
    )

    def given(self) -> dict[str, Any]:
        """The settings that were set, by wire name, in wire order (``n`` always)."""
        return self.model_dump(by_alias=True, exclude_none=True)


#: Wire names of the settings, in wire order.
SETTINGS: tuple[str, ...] = tuple(info.alias or name for name, info in CallSettings.model_fields.items())
#: Their operator keywords (snake_case), by wire name.
SETTING_KEYWORDS: dict[str, str] = {
    info.alias or name: name for name, info in CallSettings.model_fields.items()
}


def must(wire: str) -> str:
    """What a setting must be, for messages."""
    info = CallSettings.model_fields[SETTING_KEYWORDS[wire]]
    extra = info.json_schema_extra
    return str(extra.get("must")) if isinstance(extra, dict) else "is not valid"
