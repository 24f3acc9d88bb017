"""What every model family declares: its models, their capabilities and its provider options.

A family is data. The checks that read that data live once, in :mod:`airflow_video_gen.request.checks`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, PositiveInt
from pydantic.alias_generators import to_camel

if TYPE_CHECKING:
    from airflow_video_gen.request.checks import RequestView

#: Capabilities a model may have; an option marked with :class:`Requires` is refused elsewhere.
AUDIO = "audio"
LAST_FRAME = "last_frame"
REFERENCES = "references"
CFG_SCALE = "cfg_scale"
SOUND = "sound"
VOICES = "voices"
MULTI_SHOT = "multi_shot"
ELEMENTS = "elements"


@dataclass(frozen=True)
class Requires:
    """Marks a provider option that only some models of a family take.

    Used as ``Annotated[T, Requires(CFG_SCALE)]``. The option is checked only when it is *active*:
    set, and not ``False`` or ``'off'`` (turning a feature off is accepted everywhere).
    """

    capability: str


@dataclass(frozen=True)
class ImageRules:
    """Requirements an input image must meet, checked locally when its bytes are at hand.

    :param formats: Pillow format names allowed (``JPEG``, ``PNG``...).
    :param max_bytes: Largest file size in bytes.
    :param min_side: Smallest width and height in pixels.
    :param min_aspect: Smallest width/height ratio.
    :param max_aspect: Largest width/height ratio.
    :param label: How the rules are named in messages.
    """

    formats: frozenset[str]
    max_bytes: int
    min_side: int
    min_aspect: float
    max_aspect: float
    label: str


@dataclass(frozen=True)
class ModelSpec:
    """One gateway model id and what it can do.

    :param id: Gateway model id, ``creator/model``.
    :param description: One line, as the seed describes it.
    :param durations: Allowed ``duration`` values in seconds.
    :param default_duration: Duration used when none is asked for.
    :param resolutions: Allowed top-level ``resolution`` values; ``None`` when the family does not
        document the setting.
    :param default_resolution: Resolution used when none is asked for.
    :param capabilities: Capability names (see the module constants) this model has.
    """

    id: str
    description: str
    durations: tuple[int, ...]
    default_duration: int | None
    resolutions: tuple[str, ...] | None
    default_resolution: str | None
    capabilities: frozenset[str] = frozenset()


class WireModel(BaseModel):
    """A strict object of the wire: camelCase aliases of snake_case fields, unknown keys refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        extra="forbid",
        frozen=True,
        # Strict: the options go on the wire as given, so "yes" must not pass for a boolean.
        strict=True,
    )


class ProviderOptions(WireModel):
    """Base of every family's ``providerOptions.<provider>`` model.

    Field names are snake_case (the operators' keywords); the wire names are their camelCase aliases,
    exactly as the seed spells them. Unknown options are refused, so a typo never reaches a paid call.
    """

    #: Dotted paths (``[]`` for each list item) of options that hold images.
    image_paths: ClassVar[tuple[str, ...]] = ()

    poll_interval_ms: PositiveInt | None = Field(
        None, description="How often to check task status, in milliseconds."
    )
    poll_timeout_ms: PositiveInt | None = Field(None, description="Maximum wait time, in milliseconds.")


#: A family rule: reads a request and reports problems through ``view.error`` / ``view.warn``.
Rule = Callable[["RequestView"], None]


@dataclass(frozen=True)
class Family:
    """A model family: its models, its provider options and the rules that tie them together.

    :param name: Short name (``kling``), used by operators and the ``family=`` parameters.
    :param label: Display name (``KlingAI``).
    :param provider_key: Key under ``providerOptions`` (``klingai``).
    :param models: Model specs by gateway model id, in the seed's order.
    :param default_model: Model id used when an operator is given none.
    :param options_model: Pydantic model of ``providerOptions.<provider_key>``.
    :param poll_interval: Default seconds between status calls.
    :param timeout: Default seconds before a generation is given up.
    :param url_only_images: Images must be URLs (the family does not take image bytes).
    :param text_required: ``prompt.text`` must be given and not empty.
    :param max_text_length: Longest ``prompt.text`` in characters.
    :param image_rules: Requirements checked on image bytes, when the family documents them.
    :param fps: Frame rates the family produces; ``None`` when not documented.
    :param aspect_ratios: Allowed ``aspectRatio`` values; ``None`` when any ``W:H`` is passed on.
    :param documented_settings: Top-level settings the seed documents for the family; others are
        passed on with a warning.
    :param rules: Cross-field rules (mutual exclusions, version gates on values).
    :param default_size: Output (width, height) when neither resolution nor aspect ratio says.
    :param notes: Where the seed contradicts itself and which reading is taken.
    """

    name: str
    label: str
    provider_key: str
    models: Mapping[str, ModelSpec]
    default_model: str
    options_model: type[ProviderOptions]
    poll_interval: float = 5.0
    timeout: float = 600.0
    url_only_images: bool = False
    text_required: bool = False
    max_text_length: int | None = None
    image_rules: ImageRules | None = None
    fps: tuple[int, ...] | None = None
    aspect_ratios: tuple[str, ...] | None = None
    documented_settings: frozenset[str] = frozenset({"duration"})
    rules: tuple[Rule, ...] = ()
    default_size: tuple[int, int] = (1280, 720)
    notes: tuple[str, ...] = field(default=())

    def models_with(self, capability: str) -> list[str]:
        """Model ids of this family that have ``capability``."""
        return [m.id for m in self.models.values() if capability in m.capabilities]

    def option_fields(self) -> dict[str, Any]:
        """The options model's fields by wire (camelCase) name."""
        return {info.alias or name: info for name, info in self.options_model.model_fields.items()}
