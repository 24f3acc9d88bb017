"""What every model family declares: its models, their capabilities and its provider options.

A family is data. The checks, the emulator, archive and the documentation read it: which option
carries the end frame, the references, the camera move, the audio switch or the last-frame return
is said here by a :class:`Plays` marker on the option, never by naming a family elsewhere. The
checks that read this data live once, in :mod:`airflow_video_gen.request.checks`; a family's own
cross-field rules are functions of a :class:`RuleContext` and see only typed values.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated, Any, ClassVar, Protocol, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PositiveInt
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

#: Capabilities a model may have; an option marked with :class:`Requires` is refused elsewhere.
AUDIO = "audio"
LAST_FRAME = "last_frame"
REFERENCES = "references"
CFG_SCALE = "cfg_scale"
SOUND = "sound"
VOICES = "voices"
MULTI_SHOT = "multi_shot"
ELEMENTS = "elements"

#: The parts a provider option can play (see :class:`Plays`).
END_FRAME = "end_frame"
REFERENCE_IMAGES = "reference_images"
MASK = "mask"
CAMERA = "camera"
AUDIO_SWITCH = "audio_switch"
RESIZE_MODE = "resize_mode"
OUTPUT_RESOLUTION = "output_resolution"
RETURN_LAST_FRAME = "return_last_frame"

#: Where a completed status carries a returned last frame: ``providerMetadata.<provider>.lastFrame``
#: (one file object), with ``lastFrames`` holding one per video.
LAST_FRAME_METADATA = "lastFrame"


@dataclass(frozen=True)
class Requires:
    """Marks a provider option that only some models of a family take.

    Used as ``Annotated[T, Requires(CFG_SCALE)]``. The option is checked only when it is *active*:
    set, and not ``False`` or ``'off'`` (turning a feature off is accepted everywhere).
    """

    capability: str


@dataclass(frozen=True)
class Plays:
    """Marks the part a provider option plays, for everything that reads families as data.

    :param part: One of :data:`END_FRAME`, :data:`REFERENCE_IMAGES`, :data:`MASK`, :data:`CAMERA`,
        :data:`AUDIO_SWITCH`, :data:`RESIZE_MODE`, :data:`OUTPUT_RESOLUTION`,
        :data:`RETURN_LAST_FRAME`.
    :param on: For a switch, the value that turns it on (``True``, or ``'on'`` for KlingAI sound).
    :param default: The value the provider takes when the option is not set, when the seed says.
    """

    part: str
    on: Any = True
    default: Any = None


@dataclass(frozen=True)
class IsImage:
    """Marks an option that holds an image (in any form an image input takes)."""


def _as_is(value: Any) -> Any:
    return value


#: The type of an option that holds one image: any accepted form goes in; the request layer
#: replaces it by a parsed image before the options model is validated, and a dump keeps that
#: object as it is (the request layer encodes it for the wire or describes it for XCom).
Image = Annotated[Any, IsImage(), PlainSerializer(_as_is)]


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
class Latency:
    """How long a model's generations take at least, as a rule: the prior of the polling schedule
    (:mod:`airflow_video_gen.polling`), whose first status call of a wait comes after it.

    The typical minimum of a generation is ``base + per_second * duration``, times the factor of
    its resolution. The figures are rough; the trigger corrects them from the completions it sees.

    :param base: Seconds that do not depend on the video's length (queue, set-up, encoding).
    :param per_second: Seconds added per second of video.
    :param resolutions: Factors by resolution value (the top-level ``resolution``, or the option
        that plays :data:`OUTPUT_RESOLUTION`), as ``(value, factor)`` pairs; any other value is 1.
    """

    base: float
    per_second: float = 0.0
    resolutions: tuple[tuple[str, float], ...] = ()

    def minimum(self, duration: float, resolution: str | None = None) -> float:
        """Seconds a generation of ``duration`` seconds at ``resolution`` takes at least, as a rule."""
        factor = dict(self.resolutions).get(resolution or "", 1.0)
        return (self.base + self.per_second * duration) * factor


#: The prior of a model no family declares one for.
DEFAULT_LATENCY = Latency(base=10.0, per_second=2.0)


@dataclass(frozen=True)
class ModelSpec:
    """One gateway model id and what it can do.

    :param id: Gateway model id, ``creator/model``.
    :param description: One line, as the seed describes it.
    :param durations: Allowed ``duration`` values in seconds; empty when not checked.
    :param default_duration: Duration used when none is asked for.
    :param resolutions: Allowed top-level ``resolution`` values; ``None`` when the family does not
        document the setting.
    :param default_resolution: Resolution used when none is asked for.
    :param capabilities: Capability names (see the module constants) this model has.
    :param audio_default: Whether the model makes audio when nothing turns it on or off.
    :param listed: In the seed's tables; ``False`` for a newer id of a known family, checked with
        the family's version-independent rules only.
    :param latency: How long its generations take at least, when it differs from the family's.
    """

    id: str
    description: str
    durations: tuple[int, ...]
    default_duration: int | None
    resolutions: tuple[str, ...] | None
    default_resolution: str | None
    capabilities: frozenset[str] = frozenset()
    audio_default: bool = False
    listed: bool = True
    latency: Latency | None = None


class WireModel(BaseModel):
    """A strict object of the wire: camelCase aliases of snake_case fields, unknown keys refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        extra="forbid",
        frozen=True,
        # Strict: the options go on the wire as given, so "yes" must not pass for a boolean. Values
        # rendered from templates are coerced field by field before this model sees them.
        strict=True,
        arbitrary_types_allowed=True,
    )


class ProviderOptions(WireModel):
    """Base of every family's ``providerOptions.<provider>`` model.

    Field names are snake_case (the operators' keywords); the wire names are their camelCase aliases,
    exactly as the seed spells them. Unknown options are refused, so a typo never reaches a paid call.
    """

    #: Options the operators take as their own keywords in seconds (``poll_interval``, ``timeout``).
    WAIT_OPTIONS: ClassVar[tuple[str, ...]] = ("poll_interval_ms", "poll_timeout_ms")

    poll_interval_ms: PositiveInt | None = Field(
        None, description="How often to check task status, in milliseconds."
    )
    poll_timeout_ms: PositiveInt | None = Field(None, description="Maximum wait time, in milliseconds.")


class ImageFacts(Protocol):
    """What a rule may read of an image whose header has been read."""

    @property
    def format(self) -> str: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...


class RuleContext(Protocol):
    """What a family rule reads and how it reports; the request checks provide it.

    ``options`` is the family's options model, holding only the options that are valid (an
    invalid one was already reported and reads as unset), so a rule needs no type guards.
    """

    family: Family
    spec: ModelSpec
    options: Any
    text: str | None

    @property
    def model(self) -> str: ...
    @property
    def duration(self) -> int | None: ...
    def probes(self) -> Mapping[str, ImageFacts]: ...
    def error(self, param: str, message: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def param(self, option: str) -> str: ...


#: A family rule: reads a request and reports problems through ``ctx.error`` / ``ctx.warn``.
Rule = Callable[[RuleContext], None]


@dataclass(frozen=True)
class OptionPart:
    """A provider option found by the part it plays."""

    name: str
    wire: str
    plays: Plays


def unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """The annotation without ``Annotated``/``Optional`` wrappers, and the metadata found."""
    metadata: list[Any] = []
    while True:
        if get_origin(annotation) is Annotated:
            annotation, *extra = get_args(annotation)
            metadata.extend(extra)
        elif get_origin(annotation) in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation, metadata
            annotation = args[0]
        else:
            return annotation, metadata


def is_image(info_or_annotation: Any) -> bool:
    """Whether a field (or an annotation) holds images, directly or as list items."""
    metadata = list(getattr(info_or_annotation, "metadata", []))
    annotation = getattr(info_or_annotation, "annotation", info_or_annotation)
    inner, found = unwrap(annotation)
    if any(isinstance(m, IsImage) for m in [*metadata, *found]):
        return True
    if get_origin(inner) is list:
        return is_image(get_args(inner)[0])
    return False


def image_paths(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Dotted wire paths (``[]`` for each list item) of the options that hold images."""
    for name, info in model.model_fields.items():
        wire = f"{prefix}{info.alias or name}"
        inner, _ = unwrap(info.annotation)
        if is_image(info):
            yield f"{wire}[]" if get_origin(inner) is list else wire
            continue
        item = get_args(inner)[0] if get_origin(inner) is list else inner
        item, _ = unwrap(item)
        if isinstance(item, type) and issubclass(item, BaseModel):
            inside = f"{wire}[]." if get_origin(inner) is list else f"{wire}."
            yield from image_paths(item, inside)


@dataclass(frozen=True)
class Family:
    """A model family: its models, its provider options and the rules that tie them together.

    :param name: Short name (``kling``), used by operators and the ``family=`` parameters.
    :param label: Display name (``KlingAI``).
    :param provider_key: Key under ``providerOptions`` (``klingai``); empty for the generic family,
        whose options all pass through unread.
    :param models: Model specs by gateway model id, in the seed's order.
    :param default_model: Model id used when an operator is given none.
    :param options_model: Pydantic model of ``providerOptions.<provider_key>``.
    :param creator_prefixes: Model id prefixes of this family (``klingai/``): a newer id with one of
        them is checked with the family's version-independent rules.
    :param poll_interval: Default seconds between status calls.
    :param timeout: Default seconds before a generation is given up.
    :param url_only_images: Images must be URLs (the family does not take image bytes).
    :param text_required: ``prompt.text`` must be given and not empty.
    :param max_text_length: Longest ``prompt.text`` in characters.
    :param image_rules: Requirements checked on image bytes, when the family documents them.
    :param fps: Frame rates the family produces; ``None`` when not documented.
    :param aspect_ratios: Allowed ``aspectRatio`` values; ``None`` when any ``W:H`` is passed on.
    :param image_sets_aspect: Without ``aspectRatio`` the video takes the input image's aspect.
    :param documented_settings: Top-level settings the seed documents for the family; others are
        passed on with a warning.
    :param rules: Cross-field rules (mutual exclusions, version gates on values).
    :param default_size: Output (width, height) when neither resolution nor aspect ratio says.
    :param notes: Where the seed contradicts itself and which reading is taken.
    :param latency: How long its models' generations take at least (:class:`Latency`); a
        model's own ``latency`` wins.
    """

    name: str
    label: str
    provider_key: str
    models: Mapping[str, ModelSpec]
    default_model: str
    options_model: type[ProviderOptions]
    creator_prefixes: tuple[str, ...] = ()
    poll_interval: float = 5.0
    timeout: float = 600.0
    url_only_images: bool = False
    text_required: bool = False
    max_text_length: int | None = None
    image_rules: ImageRules | None = None
    fps: tuple[int, ...] | None = None
    aspect_ratios: tuple[str, ...] | None = None
    image_sets_aspect: bool = False
    documented_settings: frozenset[str] = frozenset({"duration"})
    rules: tuple[Rule, ...] = ()
    default_size: tuple[int, int] = (1280, 720)
    notes: tuple[str, ...] = field(default=())
    latency: Latency = DEFAULT_LATENCY

    def latency_of(self, spec: ModelSpec) -> Latency:
        """The prior of a model of this family: its own, else the family's."""
        return spec.latency or self.latency

    def models_with(self, capability: str) -> list[str]:
        """Model ids of this family that have ``capability``."""
        return [m.id for m in self.models.values() if capability in m.capabilities]

    def option_fields(self) -> dict[str, FieldInfo]:
        """The options model's fields by wire (camelCase) name."""
        return {info.alias or name: info for name, info in self.options_model.model_fields.items()}

    def keywords(self) -> tuple[str, ...]:
        """The snake_case option names an operator of this family takes as keywords."""
        return tuple(n for n in self.options_model.model_fields if n not in ProviderOptions.WAIT_OPTIONS)

    @cached_property
    def image_paths(self) -> tuple[str, ...]:
        """Wire paths of the options that hold images (``dynamicMasks[].mask``)."""
        return tuple(image_paths(self.options_model))

    @cached_property
    def parts(self) -> dict[str, OptionPart]:
        """The options by the part they play (see :class:`Plays`)."""
        found: dict[str, OptionPart] = {}
        for name, info in self.options_model.model_fields.items():
            for marker in [*info.metadata, *unwrap(info.annotation)[1]]:
                if isinstance(marker, Plays):
                    found[marker.part] = OptionPart(name, info.alias or name, marker)
        return found

    def part(self, part: str) -> OptionPart | None:
        """The option that plays ``part``, if the family has one."""
        return self.parts.get(part)

    def serves(self, model: str) -> bool:
        """Whether ``model`` is one of this family's ids or carries one of its creator prefixes."""
        return model in self.models or model.startswith(self.creator_prefixes or ("\0",))

    def unlisted_spec(self, model: str) -> ModelSpec:
        """A spec for a newer id of this family: every capability, no version-bound limit."""
        capabilities = frozenset().union(*(m.capabilities for m in self.models.values()))
        return ModelSpec(
            id=model,
            description="not in this package's tables",
            durations=(),
            default_duration=None,
            resolutions=None,
            default_resolution=None,
            capabilities=capabilities,
            listed=False,
        )
