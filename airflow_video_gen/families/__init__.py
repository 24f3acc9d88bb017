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

#: The families this package ships, in the seed's order.
BUILT_IN_FAMILIES: tuple[Family, ...] = (VEO, KLING, WAN, GROK, SEEDANCE)
#: Every family by its short name: the built-in ones and any registered with :func:`register_family`.
FAMILIES: dict[str, Family] = {f.name: f for f in BUILT_IN_FAMILIES}

#: Any model of a creator this package has no family for: the common checks only, and
#: ``providerOptions`` passed on as given.
GATEWAY = Family(
    name="gateway",
    label="AI Gateway",
    provider_key="",
    models={},
    default_model="",
    options_model=ProviderOptions,
    notes=("Models of creators this package has no family for get the common checks only.",),
)

_BY_MODEL: dict[str, Family] = {model: f for f in FAMILIES.values() for model in f.models}


def register_family(family: Family) -> Family:
    """Add a family defined outside this package (a plug-in, a test) to the tables every part reads.

    :raises ValueError: When its name, a model id or its provider key is taken already.
    """
    taken = [m for m in family.models if m in _BY_MODEL]
    if family.name in FAMILIES or family.name == GATEWAY.name or taken:
        raise ValueError(f"family {family.name!r} or its models {taken} are registered already")
    if any(f.provider_key == family.provider_key for f in FAMILIES.values()):
        raise ValueError(f"provider key {family.provider_key!r} belongs to another family")
    FAMILIES[family.name] = family
    _BY_MODEL.update(dict.fromkeys(family.models, family))
    return family


def family_for_model(model: str) -> Family | None:
    """The family of a gateway model id: a listed id, else a family whose creator prefix it has.

    ``None`` for an id of a creator no family covers.
    """
    found = _BY_MODEL.get(model)
    if found is not None:
        return found
    return next((f for f in FAMILIES.values() if f.serves(model)), None)


def resolve_model(model: str) -> tuple[Family, ModelSpec]:
    """The family and spec a request for ``model`` is checked with.

    A listed id has its own spec; a newer id of a known family a spec with no version-bound limit
    (:meth:`Family.unlisted_spec`); an id of another creator the :data:`GATEWAY` family.
    """
    family = family_for_model(model)
    if family is None:
        return GATEWAY, GATEWAY.unlisted_spec(model)
    return family, family.models.get(model) or family.unlisted_spec(model)


def known_models() -> list[str]:
    """Every listed model id, in the seed's order."""
    return [m for f in FAMILIES.values() for m in f.models]


def get_family(name: str) -> Family:
    """A family by short name (``veo``, ``kling``, ``wan``, ``grok``, ``seedance``, ``gateway``).

    :raises ValueError: For an unknown name, listing the known ones.
    """
    if name == GATEWAY.name:
        return GATEWAY
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown family {name!r}; known: {', '.join(FAMILIES)}") from None


__all__ = [
    "BUILT_IN_FAMILIES",
    "FAMILIES",
    "GATEWAY",
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
    "known_models",
    "register_family",
    "resolve_model",
]
