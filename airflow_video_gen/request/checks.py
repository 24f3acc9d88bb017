"""Checks a call against its family's data, collecting every problem at once.

One code path serves all families: the checks here read :class:`~airflow_video_gen.families.base.Family`
and :class:`~airflow_video_gen.families.base.ModelSpec`; what is particular to a family is in its
``rules``. Nothing here touches the network.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any

from pydantic import ValidationError

from airflow_video_gen.families import FAMILIES, family_for_model
from airflow_video_gen.families.base import REFERENCES, Family, ModelSpec, ProviderOptions, Requires
from airflow_video_gen.request.images import ImageInputError, ImageSource, parse_image

#: Top-level call arguments, in the order the official client puts them on the wire.
SETTINGS = ("n", "aspectRatio", "resolution", "duration", "fps", "seed", "generateAudio")
CALL_KEYS = ("prompt", *SETTINGS, "providerOptions")
_RATIO_RE = re.compile(r"^[1-9]\d{0,2}:[1-9]\d{0,2}$")


class InvalidVideoRequest(ValueError):
    """A request that breaks a documented rule; raised before any network call.

    :param model: The gateway model id the request was checked for.
    :param issues: Every problem found, each naming its parameter.

    ``errors`` is the list of ``{"param", "message"}`` dicts; ``str()`` lists them all.
    """

    def __init__(self, model: str, issues: Sequence[Issue]) -> None:
        self.model = model
        self.issues = list(issues)
        self.errors = [i.as_dict() for i in self.issues]
        lines = "\n".join(f"  - {i.param}: {i.message}" for i in self.issues)
        count = f"{len(self.issues)} problem{'s' if len(self.issues) != 1 else ''}"
        super().__init__(f"Invalid video request for {model} ({count}):\n{lines}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.model, self.issues))


@dataclass(frozen=True)
class Issue:
    """One problem: the parameter (camelCase path, as in the seed) and what is wrong."""

    param: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"param": self.param, "message": self.message}


def allowed_text(values: Sequence[Any]) -> str:
    """``4, 6 or 8``; runs of whole numbers collapse to ``3 to 15``."""
    if not values:
        return "nothing"
    if all(isinstance(v, int) for v in values) and len(values) > 3:
        ints = sorted(values)
        if ints == list(range(ints[0], ints[-1] + 1)):
            return f"{ints[0]} to {ints[-1]}"
    shown = [repr(v) if isinstance(v, str) else str(v) for v in values]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


@dataclass
class RequestView:
    """A call being checked: the parsed parts and the problems found so far.

    Family rules read it and report through :meth:`error` and :meth:`warn`.
    """

    family: Family
    spec: ModelSpec
    settings: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    image: ImageSource | None = None
    plain_prompt: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    other_options: dict[str, Any] = field(default_factory=dict)
    images: dict[str, ImageSource] = field(default_factory=dict)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def model(self) -> str:
        return self.spec.id

    @property
    def duration(self) -> int | None:
        value = self.settings.get("duration", self.spec.default_duration)
        return value if isinstance(value, int) else None

    def error(self, param: str, message: str) -> None:
        self.errors.append(Issue(param, message))

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def param(self, option: str) -> str:
        """The full parameter path of a provider option."""
        return f"providerOptions.{self.family.provider_key}.{option}"

    def active(self, option: str) -> bool:
        """Whether a provider option is set to something that turns a feature on."""
        return is_active(self.options.get(option))

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


def is_active(value: Any) -> bool:
    """Set, and not ``False`` or ``'off'``."""
    return value is not None and value is not False and value != "off"


def walk_paths(obj: Any, path: str, prefix: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Yield ``(concrete path, container, key)`` for each place ``path`` names in ``obj``.

    ``path`` is dotted; ``name[]`` steps into every item of a list (``dynamicMasks[].mask``).
    """
    head, _, rest = path.partition(".")
    is_list = head.endswith("[]")
    key = head[:-2] if is_list else head
    if not isinstance(obj, dict) or obj.get(key) is None:
        return
    here = f"{prefix}{key}"
    if is_list:
        items = obj[key]
        if not isinstance(items, list):
            return
        for i, item in enumerate(items):
            if rest:
                yield from walk_paths(item, rest, f"{here}[{i}].")
            else:
                yield f"{here}[{i}]", items, i
    elif rest:
        yield from walk_paths(obj[key], rest, f"{here}.")
    else:
        yield here, obj, key


def check_call(model: str, call: Any, *, allow_local_paths: bool = True) -> RequestView:
    """Check a call (the AI SDK's ``generateVideo`` arguments minus ``model``) for ``model``.

    :param model: Gateway model id.
    :param call: The arguments, as JSON-like data; images in any form :func:`parse_image` takes.
    :param allow_local_paths: Whether image strings may name local files.
    :return: The view, with ``errors`` empty when the call is valid.
    """
    family = family_for_model(model) if isinstance(model, str) else None
    if family is None:
        raise unknown_model(str(model))
    view = RequestView(family=family, spec=family.models[model])
    if not isinstance(call, dict):
        view.error("call", f"expected an object of arguments, got {type(call).__name__}")
        return view
    for key in call:
        if key not in CALL_KEYS:
            hint = get_close_matches(str(key), CALL_KEYS, n=1)
            did = f" (did you mean {hint[0]!r}?)" if hint else ""
            view.error(str(key), f"unknown argument for {view.model}{did}; allowed: {', '.join(CALL_KEYS)}")
    _check_prompt(view, call.get("prompt"), allow_local_paths)
    _check_settings(view, call)
    _check_provider_options(view, call.get("providerOptions"), allow_local_paths)
    _check_start_image(view)
    check_images(view)
    for rule in family.rules:
        rule(view)
    _check_json(view)
    return view


def _check_json(view: RequestView) -> None:
    """Refuse values the wire body cannot carry: everything outside an image slot goes as JSON
    (settings passed on as given, other providers' options, option fields typed ``Any``)."""
    for param, value in (
        *((k, v) for k, v in view.settings.items()),
        *((f"providerOptions.{k}", v) for k, v in view.other_options.items()),
        *((view.param(k), v) for k, v in view.options.items()),
    ):
        where = _not_json(value, param)
        if where is not None and not any(_within(where[0], issue.param) for issue in view.errors):
            path, bad = where
            what = f"is {bad!r}" if isinstance(bad, float) else f"is {type(bad).__name__}"
            view.error(
                path,
                f"{what}, which JSON cannot carry, for {view.model}; send strings, finite numbers, "
                "booleans, lists and objects (binary data as base64 text)",
            )


def _within(path: str, param: str) -> bool:
    """Whether ``path`` is ``param`` or inside it (``a.b`` and ``a[0]`` are inside ``a``; ``ab`` is not)."""
    return path == param or path.startswith((f"{param}.", f"{param}["))


def _not_json(value: Any, path: str) -> tuple[str, Any] | None:
    """The first value inside ``value`` (images aside) that is not JSON, with its path: NaN and the
    infinities included, which ``json.dumps`` would write as invalid JSON."""
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, value)
    if value is None or isinstance(value, (str, int, bool, ImageSource)):
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if key is not None and not isinstance(key, (str, int, float, bool)):
                return f"{path}.{key!r}", key
            found = _not_json(item, f"{path}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _not_json(item, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    return path, value


def unknown_model(model: str) -> InvalidVideoRequest:
    """The error for a model id no family serves, naming the closest known one."""
    known = [m for f in FAMILIES.values() for m in f.models]
    hint = get_close_matches(model, known, n=1)
    did = f" Did you mean {hint[0]!r}?" if hint else ""
    issue = Issue("model", f"unknown model id {model!r}.{did} Known models: {', '.join(known)}")
    return InvalidVideoRequest(model, [issue])


def _check_prompt(view: RequestView, prompt: Any, allow_local_paths: bool) -> None:
    fam = view.family
    if isinstance(prompt, str):
        view.text, view.plain_prompt = prompt, True
    elif isinstance(prompt, dict):
        for key in prompt:
            if key not in ("image", "text"):
                view.error(f"prompt.{key}", "unknown prompt field; allowed: image, text")
        text = prompt.get("text")
        if text is not None and not isinstance(text, str):
            view.error("prompt.text", f"must be a string for {view.model}, got {type(text).__name__}")
        else:
            view.text = text
        if prompt.get("image") is not None:
            view.image = _parse(view, "prompt.image", prompt["image"], allow_local_paths)
    elif prompt is not None:
        view.error("prompt", f"must be a string or {{image, text}} for {view.model}")
    if fam.text_required and not (view.text or "").strip():
        view.error("prompt.text", f"is required by {view.model} (a description of the motion)")
    if fam.max_text_length and view.text and len(view.text) > fam.max_text_length:
        view.error(
            "prompt.text",
            f"is {len(view.text)} characters; {view.model} allows at most {fam.max_text_length}",
        )


def _parse(view: RequestView, param: str, value: Any, allow_local_paths: bool) -> ImageSource | None:
    try:
        source = parse_image(value, allow_local_paths=allow_local_paths)
    except ImageInputError as exc:
        view.error(param, f"{exc} (model {view.model})")
        return None
    view.images[param] = source
    return source


def _check_settings(view: RequestView, call: dict[str, Any]) -> None:
    fam, spec = view.family, view.spec
    n = call.get("n", 1)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        view.error("n", f"must be a whole number of videos, at least 1, for {view.model}; got {n!r}")
    view.settings["n"] = n
    for key in SETTINGS[1:]:
        if call.get(key) is not None:
            view.settings[key] = call[key]
    _check_duration(view)
    resolution = view.settings.get("resolution")
    if resolution is not None:
        if spec.resolutions is None:
            view.warn(f"resolution is not a documented setting of {fam.label}; it is passed on as given")
        elif resolution not in spec.resolutions:
            view.error(
                "resolution",
                f"{resolution!r} is not allowed for {view.model}; allowed: {allowed_text(spec.resolutions)}",
            )
    ratio = view.settings.get("aspectRatio")
    if ratio is not None:
        if fam.aspect_ratios is not None:
            if ratio not in fam.aspect_ratios:
                view.error(
                    "aspectRatio",
                    f"{ratio!r} is not allowed for {view.model}; allowed: {allowed_text(fam.aspect_ratios)}",
                )
        elif not isinstance(ratio, str) or not _RATIO_RE.match(ratio):
            view.error("aspectRatio", f"must be 'W:H' (e.g. '16:9') for {view.model}; got {ratio!r}")
        elif "aspectRatio" not in fam.documented_settings:
            view.warn(f"aspectRatio is not a documented setting of {fam.label}; it is passed on as given")
    fps = view.settings.get("fps")
    if fps is not None:
        if isinstance(fps, bool) or not isinstance(fps, int) or fps < 1:
            view.error("fps", f"must be a whole number of frames per second for {view.model}; got {fps!r}")
        elif fam.fps is not None and fps not in fam.fps:
            view.error("fps", f"{fps} is not allowed for {view.model}; allowed: {allowed_text(fam.fps)}")
    seed = view.settings.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32):
        view.error("seed", f"must be a whole number from 0 to 4294967295 for {view.model}; got {seed!r}")
    audio = view.settings.get("generateAudio")
    if audio is not None:
        if not isinstance(audio, bool):
            view.error("generateAudio", f"must be true or false for {view.model}; got {audio!r}")
        elif audio:
            view.gate("generateAudio", "audio", "audio generation")


def _check_duration(view: RequestView) -> None:
    duration = view.settings.get("duration")
    if duration is None:
        return
    spec = view.spec
    if isinstance(duration, float) and math.isfinite(duration) and duration.is_integer():
        duration = view.settings["duration"] = int(duration)
    if isinstance(duration, bool) or not isinstance(duration, int):
        view.error("duration", f"must be a whole number of seconds for {view.model}; got {duration!r}")
    elif spec.durations and duration not in spec.durations:
        view.error(
            "duration",
            f"{duration} s is not allowed for {view.model}; allowed: {allowed_text(spec.durations)} s",
        )


def _check_provider_options(view: RequestView, provider_options: Any, allow_local_paths: bool) -> None:
    if provider_options is None:
        return
    if not isinstance(provider_options, dict):
        view.error("providerOptions", f"must be an object keyed by provider for {view.model}")
        return
    key = view.family.provider_key
    for other, value in provider_options.items():
        if other == key:
            continue
        view.other_options[other] = value
        if other != "gateway":
            view.warn(f"providerOptions.{other} is not read by {view.family.label} models; it is ignored")
    options = provider_options.get(key)
    if options is None:
        return
    if not isinstance(options, dict):
        view.error(f"providerOptions.{key}", f"must be an object of {view.family.label} options")
        return
    view.options = dict(options)
    _parse_option_images(view, allow_local_paths)
    _validate_options_model(view)
    _check_gates(view)


def _parse_option_images(view: RequestView, allow_local_paths: bool) -> None:
    """Replace each image inside the options by its :class:`ImageSource` (lists are copied first)."""
    options = view.options
    for path in view.family.options_model.image_paths:
        top = path.split(".", 1)[0].removesuffix("[]")
        if isinstance(options.get(top), list):
            options[top] = [dict(i) if isinstance(i, dict) else i for i in options[top]]
        for concrete, container, slot in list(walk_paths(options, path)):
            source = _parse(view, view.param(concrete), container[slot], allow_local_paths)
            if source is not None:
                container[slot] = source


def _placeholders(value: Any) -> Any:
    if isinstance(value, ImageSource):
        return value.origin
    if isinstance(value, dict):
        return {k: _placeholders(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_placeholders(v) for v in value]
    return value


def _validate_options_model(view: RequestView) -> None:
    model_cls: type[ProviderOptions] = view.family.options_model
    try:
        model_cls.model_validate(_placeholders(view.options))
    except ValidationError as exc:
        known = list(view.family.option_fields())
        for err in exc.errors(include_url=False):
            loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
            param = view.param(loc) if loc else f"providerOptions.{view.family.provider_key}"
            if err["type"] == "extra_forbidden":
                name = str(err["loc"][-1])
                if len(err["loc"]) == 1:
                    hint = get_close_matches(name, known, n=1)
                    did = f" (did you mean {hint[0]!r}?)" if hint else ""
                    view.error(
                        param,
                        f"unknown {view.family.label} option for {view.model}{did}; "
                        f"known options: {', '.join(known)}",
                    )
                else:
                    view.error(param, f"unknown field for {view.model}")
                continue
            got = "" if err["type"] == "missing" else f" (got {_short(err.get('input'))})"
            view.error(param, f"{err['msg']}{got}, for {view.model}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_gates(view: RequestView) -> None:
    for wire, info in view.family.option_fields().items():
        for marker in info.metadata:
            if isinstance(marker, Requires) and view.active(wire):
                view.gate(view.param(wire), marker.capability, wire)


def _check_start_image(view: RequestView) -> None:
    """``prompt.image`` is required, except where reference images alone may drive the video."""
    if "prompt.image" in view.images or any(e.param == "prompt.image" for e in view.errors):
        return
    if view.options.get("referenceImages") and REFERENCES in view.spec.capabilities:
        return
    alone = view.family.models_with(REFERENCES)
    also = f" (only {', '.join(alone)} can work from reference images alone)" if alone else ""
    view.error("prompt.image", f"a start image is required by {view.model}{also}")


def check_images(view: RequestView) -> None:
    """The family's image rules on every image of ``view`` (URL-only, and on bytes: format, size,
    sides, aspect). Public so that staging checks an image with the very same rules."""
    fam = view.family
    for param, source in view.images.items():
        if fam.url_only_images and source.kind == "bytes":
            view.error(
                param,
                f"{fam.label} takes image URLs only, not image data ({source.origin}); stage it to S3 "
                f"with StageImageOperator or pass an s3:// URI (model {view.model})",
            )
    rules = fam.image_rules
    if rules is None:
        return
    for param in ("prompt.image", *(p for p in view.images if p.endswith("imageTail"))):
        checked = view.images.get(param)
        if checked is None or checked.probe is None or checked.data is None:
            continue
        probe, size = checked.probe, len(checked.data)
        if probe.format not in rules.formats:
            view.error(
                param,
                f"{probe.format} is not accepted by {view.model}; allowed formats: "
                f"{allowed_text(sorted(rules.formats))} ({rules.label})",
            )
        if size > rules.max_bytes:
            view.error(
                param, f"is {size:,} bytes; {view.model} accepts at most {rules.max_bytes:,} ({rules.label})"
            )
        if min(probe.width, probe.height) < rules.min_side:
            view.error(
                param,
                f"is {probe.width}x{probe.height} px; {view.model} needs at least {rules.min_side} px "
                f"on each side ({rules.label})",
            )
        aspect = probe.width / probe.height
        if not rules.min_aspect <= aspect <= rules.max_aspect:
            view.error(
                param,
                f"aspect ratio {aspect:.2f} (width/height) is outside {rules.min_aspect:.2f} to "
                f"{rules.max_aspect:.2f} for {view.model} ({rules.label})",
            )
