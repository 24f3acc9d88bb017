"""The five model families of AI Gateway image-to-video, as data.

Adding a family is one module here, declaring a :class:`~airflow_video_gen.families.base.Family`,
plus its two thin operator and sensor classes.
"""

from __future__ import annotations

from airflow_video_gen.families.base import Family, ModelSpec, ProviderOptions
from airflow_video_gen.families.grok import GROK
from airflow_video_gen.families.kling import KLING
from airflow_video_gen.families.seedance import SEEDANCE
from airflow_video_gen.families.veo import VEO
from airflow_video_gen.families.wan import WAN

#: Every family by its short name, in the seed's order.
FAMILIES: dict[str, Family] = {f.name: f for f in (VEO, KLING, WAN, GROK, SEEDANCE)}

_BY_MODEL: dict[str, Family] = {model: f for f in FAMILIES.values() for model in f.models}


def family_for_model(model: str) -> Family | None:
    """The family that serves a gateway model id, or ``None`` for an unknown id."""
    return _BY_MODEL.get(model)


def get_family(name: str) -> Family:
    """A family by short name (``veo``, ``kling``, ``wan``, ``grok``, ``seedance``).

    :raises ValueError: For an unknown name, listing the known ones.
    """
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown family {name!r}; known: {', '.join(FAMILIES)}") from None


__all__ = [
    "FAMILIES",
    "GROK",
    "KLING",
    "SEEDANCE",
    "VEO",
    "WAN",
    "Family",
    "ModelSpec",
    "ProviderOptions",
    "family_for_model",
    "get_family",
]
