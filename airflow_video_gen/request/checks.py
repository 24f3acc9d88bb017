"""Checks a request against its family's data, collecting every problem at once.

One code path serves all families: the checks here read :class:`~airflow_video_gen.families.base.Family`
and :class:`~airflow_video_gen.families.base.ModelSpec`; what is particular to a family is in its
``rules``, which read the typed options. Values go once into their typed models (the settings and
the family's options); a value that breaks its type is reported and then reads as unset, so the
other checks still run and every problem is reported together. Nothing here touches the network,
and nothing decodes an image unless ``decode`` is asked for.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any

from pydantic import BaseModel, ValidationError

from airflow_video_gen.families import GATEWAY, known_models, resolve_model
from airflow_video_gen.families.base import (
    Family,
    ImageFacts,
    ModelSpec,
    ProviderOptions,
    Requires,
    is_image,
)
from airflow_video_gen.request.coercion import coerce, field_adapter
from airflow_video_gen.request.errors import InvalidVideoRequest, Issue, allowed_text, short
from airflow_video_gen.request.image_rules import check_images, check_start_image
from airflow_video_gen.request.images import ImageInputError, ImageSource, PathMode, parse_image
from airflow_video_gen.request.json_values import check_json
from airflow_video_gen.request.settings import SETTING_KEYWORDS, SETTINGS, CallSettings, must

#: Top-level call arguments, in the order the official client puts them on the wire.
CALL_KEYS = ("prompt", *SETTINGS, "providerOptions")
#: ``creator/model``: it travels in the ``ai-model-id`` header, so printable ASCII only.
_MODEL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}/[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$")
_RATIO_RE = re.compile(r"^[1-9]\d{0,2}:[1-9]\d{0,2}$")


@dataclass
class Check:
    """A request being checked: its typed parts as they are read, and the problems found.

    Family rules read it (it is their :class:`~airflow_video_gen.families.base.RuleContext`) and
    report through :meth:`error` and :meth:`warn`.
    """

    family: Family
    spec: ModelSpec
    decode: bool = True
    text: str | None = None
    image: ImageSource | None = None
    plain_prompt: bool = False
    settings: CallSettings = field(default_factory=CallSettings)
    options: Any = None
    other_options: dict[str, Any] = field(default_factory=dict)
    images: dict[str, ImageSource] = field(default_factory=dict)
    #: The whole size in bytes of images of which only the first bytes are held (``s3://`` objects
    #: read with a ranged GET), by parameter; the size rule reads it instead of the bytes held.
    sizes: dict[str, int] = field(default_factory=dict)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def model(self) -> str:
        return self.spec.id

    @property
    def duration(self) -> int | None:
        return self.settings.duration if self.settings.duration is not None else self.spec.default_duration

    def error(self, param: str, message: str) -> None:
        self.errors.append(Issue(param, message))

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def param(self, option: str) -> str:
        """The full parameter path of a provider option."""
        return f"providerOptions.{self.family.provider_key}.{option}"

    def probes(self) -> dict[str, ImageFacts]:
        """What was read of each image's header, where the image's bytes are at hand and decoded."""
        if not self.decode:
            return {}
        found: dict[str, ImageFacts] = {}
        for param, source in self.images.items():
            try:
                probe = source.probe
            except ImageInputError:
                continue
            if probe is not None:
                found[param] = probe
        return found

    def gate(self, param: str, capability: str, what: str) -> None:
        """Refuse ``param`` unless the model has ``capability``."""
        if capability not in self.spec.capabilities:
            allowed = self.family.models_with(capability)
            where = (
                f"supported by: {', '.join(allowed)}"
                if allowed
                else f"no {self.family.label} model supports it"
            )
            self.error(param, f"{what} is not supported by {self.model}; {where}")

    def raise_if_invalid(self) -> None:
        if self.errors:
            raise InvalidVideoRequest(self.model, self.errors)


def is_active(value: Any) -> bool:
    """Set, and not ``False`` or ``'off'``."""
    return value is not None and value is not False and value != "off"


# ------------------------------------------------------------------------------------- the model id


def start_check(model: str, *, strict: bool = False, decode: bool = True) -> Check:
    """A check for ``model``: its family and spec, with the warning (or, with ``strict``, the error)
    an id missing from the tables gets.

    :raises InvalidVideoRequest: For a model id that is not a string.
    """
    if not isinstance(model, str) or not _MODEL_ID_RE.match(model):
        message = (
            f"must be a gateway model id, 'creator/model' (e.g. 'klingai/kling-v2.6-i2v'); got {short(model)}"
        )
        raise InvalidVideoRequest(str(model)[:80], [Issue("model", message)])
    family, spec = resolve_model(model)
    check = Check(family=family, spec=spec, decode=decode)
    if spec.listed:
        return check
    hint = get_close_matches(model, known_models(), n=1)
    did = f" (did you mean {hint[0]!r}?)" if hint else ""
    if family is GATEWAY:
        unchecked = (
            f"{model} is a model of a creator this package has no family for{did}; only the common "
            "checks ran (prompt, images, the settings' types), and providerOptions go as given"
        )
    else:
        unchecked = (
            f"{model} is not in this package's {family.label} tables{did}; it was checked with the "
            f"{family.label} rules that hold for every version. Not checked: duration and resolution "
            "values, and which options this version takes"
        )
    if strict:
        check.error("model", f"unknown model id {model!r}{did}. Known models: {', '.join(known_models())}")
    else:
        check.warn(unchecked)
    return check


# --------------------------------------------------------------------------------------- the call


def check_call(
    model: str,
    call: Any,
    *,
    paths: PathMode = "read",
    strict: bool = False,
    decode: bool = True,
    lax: Collection[str] = (),
) -> Check:
    """Check the AI SDK's ``experimental_generateVideo`` arguments (minus ``model``).

    :param model: Gateway model id.
    :param call: The arguments, as JSON-like data; images in any form :func:`parse_image` takes.
    :param paths: What a string naming a local file becomes (:data:`PathMode`).
    :param strict: Refuse a model id missing from the tables.
    :param decode: Read the images' headers (format, size) and apply the image rules.
    :param lax: Wire names of settings and ``providerOptions.<provider>.<option>`` paths whose
        values came from templates as strings: coerced into their declared types.
    :return: The check, with ``errors`` empty when the call is valid.
    """
    check = start_check(model, strict=strict, decode=decode)
    if not isinstance(call, Mapping):
        check.error("call", f"expected an object of arguments, got {type(call).__name__}")
        return check
    for key in call:
        if key not in CALL_KEYS:
            hint = get_close_matches(str(key), CALL_KEYS, n=1)
            did = f" (did you mean {hint[0]!r}?)" if hint else ""
            check.error(str(key), f"unknown argument for {check.model}{did}; allowed: {', '.join(CALL_KEYS)}")
    prompt = call.get("prompt")
    image: Any = None
    text: Any = None
    if isinstance(prompt, str):
        text, check.plain_prompt = prompt, True
    elif isinstance(prompt, Mapping):
        for key in prompt:
            if key not in ("image", "text"):
                check.error(f"prompt.{key}", "unknown prompt field; allowed: image, text")
        image, text = prompt.get("image"), prompt.get("text")
    elif prompt is not None:
        check.error("prompt", f"must be a string or {{image, text}} for {check.model}")
    own, others = split_provider_options(check, call.get("providerOptions"))
    settings = {k: call[k] for k in SETTINGS if call.get(k) is not None}
    check_parts(
        check,
        image=image,
        text=text,
        settings=settings,
        options=own,
        other_options=others,
        paths=paths,
        lax=lax,
    )
    return check


def split_provider_options(
    check: Check, provider_options: Any
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """``providerOptions`` as the family's own options and the others (passed on as given)."""
    if provider_options is None:
        return None, {}
    if not isinstance(provider_options, Mapping):
        check.error("providerOptions", f"must be an object keyed by provider for {check.model}")
        return None, {}
    key = check.family.provider_key
    others = {k: v for k, v in provider_options.items() if k != key or not key}
    for other in others:
        if key and other != "gateway":
            check.warn(f"providerOptions.{other} is not read by {check.family.label} models; it is ignored")
    own = provider_options.get(key) if key else None
    if own is not None and not isinstance(own, Mapping):
        check.error(f"providerOptions.{key}", f"must be an object of {check.family.label} options")
        own = None
    return (dict(own) if own is not None else None), others


def check_parts(
    check: Check,
    *,
    image: Any,
    text: Any,
    settings: Mapping[str, Any],
    options: Mapping[str, Any] | None,
    other_options: Mapping[str, Any],
    paths: PathMode,
    lax: Collection[str] = (),
) -> None:
    """Check a request given as its parts, every value once into its typed model.

    :param check: From :func:`start_check`; filled in place.
    :param image: The start frame, in any image form, or ``None``.
    :param text: The prompt text, or ``None``.
    :param settings: Top-level settings by wire name.
    :param options: The family's provider options by wire name, or ``None``.
    :param other_options: Other keys of ``providerOptions``, passed on as given.
    :param paths: What a string naming a local file becomes.
    :param lax: Wire names (settings) and ``providerOptions.<provider>.<option>`` paths whose
        values came from templates as strings.
    """
    fam = check.family
    if text is not None and not isinstance(text, str):
        check.error("prompt.text", f"must be a string for {check.model}, got {type(text).__name__}")
    else:
        check.text = text
    if image is not None:
        check.image = _image(check, "prompt.image", image, paths)
    if fam.text_required and not (check.text or "").strip():
        check.error("prompt.text", f"is required by {check.model} (a description of the motion)")
    if fam.max_text_length and check.text and len(check.text) > fam.max_text_length:
        check.error(
            "prompt.text",
            f"is {len(check.text)} characters; {check.model} allows at most {fam.max_text_length}",
        )
    _check_settings(check, settings, lax)
    check.other_options = dict(other_options)
    check.options = _typed_options(check, options or {}, paths, lax)
    _check_gates(check)
    check_start_image(check)
    check_images(check)
    for rule in fam.rules:
        rule(check)
    check_json(check)


def _image(check: Check, param: str, value: Any, paths: PathMode) -> ImageSource | None:
    if isinstance(value, ImageSource):
        source = value
    else:
        try:
            source = parse_image(value, paths=paths)
        except ImageInputError as exc:
            check.error(param, f"{exc} (model {check.model})")
            return None
    check.images[param] = source
    return source


# ------------------------------------------------------------------------------ typed, with coercion


def _validate(model_cls: type[BaseModel], values: dict[str, Any], report: Any) -> BaseModel:
    """``model_cls`` from ``values``; each error is reported, and the fields in error are left
    out so the rest still make a typed object."""
    try:
        return model_cls.model_validate(values)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    for err in errors:
        report(err)
    bad = {str(err["loc"][0]) for err in errors if err["loc"]}
    kept = {k: v for k, v in values.items() if k not in bad}
    try:
        return model_cls.model_validate(kept)
    except ValidationError:
        return model_cls.model_construct()


def _check_settings(check: Check, given: Mapping[str, Any], lax: Collection[str]) -> None:
    values = dict(given)
    for wire in values:
        if wire in lax:
            info = CallSettings.model_fields[SETTING_KEYWORDS[wire]]
            values[wire] = coerce(info.annotation, values[wire])

    def report(err: Any) -> None:
        wire = str(err["loc"][0]) if err["loc"] else "settings"
        got = values.get(wire)
        check.error(wire, f"{must(wire)} for {check.model}; got {short(got)}")

    check.settings = _validate(CallSettings, values, report)  # type: ignore[assignment]
    _check_setting_values(check)


def _check_setting_values(check: Check) -> None:
    fam, spec, settings = check.family, check.spec, check.settings
    if settings.duration is not None and spec.durations and settings.duration not in spec.durations:
        check.error(
            "duration",
            f"{settings.duration} s is not allowed for {check.model}; "
            f"allowed: {allowed_text(spec.durations)} s",
        )
    resolution = settings.resolution
    if resolution is not None and spec.listed:
        if spec.resolutions is None:
            check.warn(f"resolution is not a documented setting of {fam.label}; it is passed on as given")
        elif resolution not in spec.resolutions:
            check.error(
                "resolution",
                f"{resolution!r} is not allowed for {check.model}; allowed: {allowed_text(spec.resolutions)}",
            )
    ratio = settings.aspect_ratio
    if ratio is not None:
        if fam.aspect_ratios is not None:
            if ratio not in fam.aspect_ratios:
                check.error(
                    "aspectRatio",
                    f"{ratio!r} is not allowed for {check.model}; allowed: {allowed_text(fam.aspect_ratios)}",
                )
        elif not _RATIO_RE.match(ratio):
            check.error("aspectRatio", f"{must('aspectRatio')} for {check.model}; got {ratio!r}")
        elif "aspectRatio" not in fam.documented_settings and fam is not GATEWAY:
            check.warn(f"aspectRatio is not a documented setting of {fam.label}; it is passed on as given")
    if settings.fps is not None and fam.fps is not None and settings.fps not in fam.fps:
        check.error(
            "fps", f"{settings.fps} is not allowed for {check.model}; allowed: {allowed_text(fam.fps)}"
        )
    for name, info in CallSettings.model_fields.items():
        for marker in info.metadata:
            if isinstance(marker, Requires) and is_active(getattr(settings, name)):
                check.gate(info.alias or name, marker.capability, info.alias or name)


def _typed_options(
    check: Check, given: Mapping[str, Any], paths: PathMode, lax: Collection[str]
) -> ProviderOptions:
    """The family's options model from its wire-named values: images parsed first, templated
    values coerced, every error reported with its full parameter path."""
    fam = check.family
    values = dict(given)
    for path in fam.image_paths:
        top = path.split(".", 1)[0].removesuffix("[]")
        if isinstance(values.get(top), list):
            values[top] = [dict(i) if isinstance(i, Mapping) else i for i in values[top]]
        elif isinstance(values.get(top), Mapping):
            values[top] = dict(values[top])
        for concrete, container, slot in list(walk_paths(values, path)):
            source = _image(check, check.param(concrete), container[slot], paths)
            container[slot] = source
    fields = fam.option_fields()
    for wire, value in values.items():
        if check.param(wire) in lax and wire in fields and not is_image(fields[wire]):
            values[wire] = coerce(fields[wire].annotation, value)
    known = list(fields)

    def report(err: Any) -> None:
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        param = check.param(loc) if loc else f"providerOptions.{fam.provider_key}"
        if any(i.param == param for i in check.errors):
            return  # an image already refused
        if err["type"] == "extra_forbidden":
            name = str(err["loc"][-1])
            if len(err["loc"]) == 1:
                hint = get_close_matches(name, known, n=1)
                did = f" (did you mean {hint[0]!r}?)" if hint else ""
                check.error(
                    param,
                    f"unknown {fam.label} option for {check.model}{did}; known options: {', '.join(known)}",
                )
            else:
                check.error(param, f"unknown field for {check.model}")
            return
        got = "" if err["type"] == "missing" else f" (got {short(err.get('input'))})"
        check.error(param, f"{err['msg']}{got}, for {check.model}")

    return _validate(fam.options_model, values, report)  # type: ignore[return-value]


def walk_paths(value: Any, path: str, prefix: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Yield ``(concrete path, container, key)`` for each place ``path`` names inside ``value``.

    ``path`` is dotted with ``[]`` for "each item" (``dynamicMasks[].mask``).
    """
    head, _, rest = path.partition(".")
    each = head.endswith("[]")
    name = head.removesuffix("[]")
    if not isinstance(value, dict) or value.get(name) is None:
        return
    here = f"{prefix}{name}"
    if each:
        items = value[name]
        if not isinstance(items, list):
            return
        for i, item in enumerate(items):
            if rest:
                yield from walk_paths(item, rest, f"{here}[{i}].")
            else:
                yield f"{here}[{i}]", items, i
    elif rest:
        yield from walk_paths(value[name], rest, f"{here}.")
    else:
        yield here, value, name


# -------------------------------------------------------------------------------- options and images


def _check_gates(check: Check) -> None:
    options = check.options
    for name, info in type(options).model_fields.items():
        for marker in info.metadata:
            if isinstance(marker, Requires) and is_active(getattr(options, name)):
                wire = info.alias or name
                check.gate(check.param(wire), marker.capability, wire)


# --------------------------------------------------------------------------------- literal values


def check_given_values(
    model: str, *, settings: Mapping[str, Any], options: Mapping[str, Any], strict: bool = False
) -> list[Issue]:
    """The problems of some values taken one by one, where the others are not known yet (they
    come from templates): each setting against its type and the model's limits, each option
    against its declared type and constraints. Images are not looked at.

    :param model: Gateway model id.
    :param settings: Settings by wire name.
    :param options: The family's options by wire name.
    :param strict: Refuse a model id missing from the tables.
    """
    check = start_check(model, strict=strict, decode=False)
    _check_settings(check, settings, ())
    fields = check.family.option_fields()
    for wire, value in options.items():
        info = fields.get(wire)
        if info is None:
            hint = get_close_matches(wire, list(fields), n=1)
            did = f" (did you mean {hint[0]!r}?)" if hint else ""
            check.error(check.param(wire), f"unknown {check.family.label} option for {check.model}{did}")
            continue
        if is_image(info):
            continue
        try:
            field_adapter(check.family.options_model, wire).validate_python(value, strict=True)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
                check.error(
                    check.param(f"{wire}{loc}"),
                    f"{err['msg']} (got {short(err.get('input'))}), for {check.model}",
                )
    return check.errors
