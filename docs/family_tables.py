"""Reference tables of a family, made from its data, for the documentation.

Every value in these tables is read from the family's :class:`~airflow_video_gen.families.base.Family`,
its :class:`~airflow_video_gen.families.base.ModelSpec` entries and the pydantic model of its
provider options (field types, ``Literal`` values, length and range constraints, ``Requires``
markers, descriptions), so the documentation cannot drift from what the checks enforce.

The documentation build (an MkDocs hook) replaces markers in the pages with these tables::

    <!-- parameters:kling -->   parameter_table(KLING)
    <!-- models:kling -->       models_table(KLING)
    <!-- facts:kling -->        facts_table(KLING)
    <!-- notes:kling -->        notes_list(KLING)
    <!-- models:all -->         all_models_table()
"""

from __future__ import annotations

import posixpath
import re
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.alias_generators import to_snake
from pydantic.fields import FieldInfo

from airflow_video_gen.families import FAMILIES, get_family
from airflow_video_gen.families.base import (
    AUDIO,
    CFG_SCALE,
    ELEMENTS,
    LAST_FRAME,
    MULTI_SHOT,
    REFERENCES,
    SOUND,
    VOICES,
    Family,
    Requires,
)
from airflow_video_gen.request.checks import SETTINGS, allowed_text

__all__ = [
    "CAPABILITY_LABELS",
    "MARKER_RE",
    "WAIT_KEYWORDS",
    "ParameterRow",
    "all_models_table",
    "expand_markers",
    "facts_table",
    "models_table",
    "notes_list",
    "operator_class_names",
    "parameter_rows",
    "parameter_table",
]

#: How each capability is named in the tables.
CAPABILITY_LABELS: dict[str, str] = {
    AUDIO: "audio",
    LAST_FRAME: "first+last frame",
    REFERENCES: "reference images",
    CFG_SCALE: "cfgScale",
    SOUND: "sound",
    VOICES: "voices",
    MULTI_SHOT: "multi-shot",
    ELEMENTS: "elements",
}

#: Provider options that the operators take as their own keywords, in seconds.
WAIT_KEYWORDS: dict[str, str] = {"poll_interval_ms": "poll_interval", "poll_timeout_ms": "timeout"}

#: The order of the top-level settings in the tables (``prompt.*`` come first, separately).
_PREFERRED_ORDER = ("duration", "resolution", "aspectRatio", "fps", "n", "seed", "generateAudio")
#: Every top-level setting the checks know (an unknown one fails here, at import).
SETTINGS_ORDER: tuple[str, ...] = tuple(sorted(SETTINGS, key=_PREFERRED_ORDER.index))
#: The operator keyword of each top-level setting: its snake_case name.
_TOP_LEVEL_KEYWORDS: dict[str, str] = {wire: to_snake(wire) for wire in SETTINGS}

MARKER_RE = re.compile(r"<!--\s*(parameters|models|facts|notes):([a-z_]+)\s*-->")
_LOOSE_MARKER_RE = re.compile(r"<!--\s*[a-z_]+:[a-z_]+\s*-->")


@dataclass(frozen=True)
class ParameterRow:
    """One row of a parameter table.

    :param path: The parameter as the seed spells it (``providerOptions.klingai.cfgScale``).
    :param keyword: How a submit operator takes it (markdown).
    :param type: JSON type (markdown).
    :param allowed: Allowed values, ranges and lengths (markdown).
    :param models: Which models take it (markdown).
    :param description: What it does.
    """

    path: str
    keyword: str
    type: str
    allowed: str
    models: str
    description: str


def operator_class_names(family: Family) -> tuple[str, str]:
    """The family's submit operator and sensor class names (``KlingSubmitOperator``...)."""
    stem = family.name.capitalize()
    return f"{stem}SubmitOperator", f"{stem}GenerationSensor"


# ------------------------------------------------------------------------------------------ types


def _code(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else value
    return f"`{text}`"


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """The annotation without ``None`` and ``Annotated``, and the metadata found on the way."""
    metadata: list[Any] = []
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            base, *extra = get_args(annotation)
            metadata.extend(extra)
            annotation = base
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation, metadata
            annotation = args[0]
        else:
            return annotation, metadata


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _type_text(annotation: Any, *, image: bool = False) -> str:
    base, _ = _unwrap(annotation)
    origin = get_origin(base)
    if origin is list:
        (item,) = get_args(base) or (Any,)
        return f"array of {_type_text(item, image=image)}"
    if image:
        return "image"
    if origin is Literal:
        kinds = {type(v) for v in get_args(base)}
        return "string" if kinds == {str} else "enum"
    if origin is dict or _is_model(base):
        return "object"
    names = {bool: "boolean", int: "integer", float: "number", str: "string"}
    return names.get(base, "any") if isinstance(base, type) else "any"


def _constraints(info: FieldInfo) -> list[str]:
    """Allowed values, ranges and lengths of one field, from its type and metadata."""
    base, inner = _unwrap(info.annotation)
    metadata = [*info.metadata, *inner]
    origin = get_origin(base)
    out: list[str] = []
    if origin is Literal:
        out.append(_or([_code(v) for v in get_args(base)]))
    elif base is bool:
        out.append("`true` or `false`")
    bounds: dict[str, float] = {}
    lengths: dict[str, int] = {}
    for item in metadata:
        for name in ("ge", "gt", "le", "lt"):
            value = getattr(item, name, None)
            if isinstance(item, annotated_types.BaseMetadata) and value is not None:
                bounds[name] = value
        if isinstance(item, annotated_types.MinLen):
            lengths["min"] = item.min_length
        if isinstance(item, annotated_types.MaxLen):
            lengths["max"] = item.max_length
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            out.append(f"matches `{pattern}`")
    out.extend(_bounds_text(bounds))
    unit = "item" if origin is list else "character"
    if lengths:
        out.append(_length_text(lengths, unit))
    return out


def _or(items: Sequence[str]) -> str:
    """``a, b or c`` of items already formatted."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _number(value: float) -> str:
    return f"{value:g}"


def _bounds_text(bounds: dict[str, float]) -> list[str]:
    low = ("ge", bounds["ge"]) if "ge" in bounds else ("gt", bounds["gt"]) if "gt" in bounds else None
    high = ("le", bounds["le"]) if "le" in bounds else ("lt", bounds["lt"]) if "lt" in bounds else None
    if low and high and low[0] == "ge" and high[0] == "le":
        return [f"{_number(low[1])} to {_number(high[1])}"]
    out = []
    if low:
        out.append(f"{'at least' if low[0] == 'ge' else 'more than'} {_number(low[1])}")
    if high:
        out.append(f"{'at most' if high[0] == 'le' else 'less than'} {_number(high[1])}")
    return out


def _length_text(lengths: dict[str, int], unit: str) -> str:
    low, high = lengths.get("min"), lengths.get("max")
    plural = f"{unit}s"
    if low is not None and high is not None:
        return f"{low} to {high} {plural}"
    if high is not None:
        return f"at most {high} {plural if high != 1 else unit}"
    assert low is not None
    return f"at least {low} {plural if low != 1 else unit}"


def _short(model_id: str) -> str:
    return model_id.split("/", 1)[-1]


def _models_text(family: Family, model_ids: Sequence[str]) -> str:
    if list(model_ids) == list(family.models):
        return "all"
    if not model_ids:
        return "none"
    return ", ".join(f"`{_short(m)}`" for m in model_ids)


def _image_forms(family: Family) -> str:
    if family.url_only_images:
        return "an https URL or an `s3://` URI (presigned by the operator); not image data"
    return "an https URL, an `s3://` URI, a local path, bytes, raw base64 or a data URL"


# ------------------------------------------------------------------------------------------ rows


def _top_level_rows(family: Family) -> list[ParameterRow]:
    label = family.label
    specs = list(family.models.values())
    own = set(family.options_model.model_fields)
    rows: list[ParameterRow] = []

    references = family.models_with(REFERENCES)
    image_needed = "Required."
    if references:
        image_needed = (
            "Required, except on "
            + ", ".join(f"`{_short(m)}`" for m in references)
            + " with reference images, where the prompt may be a plain string."
        )
    image_allowed = _image_forms(family)
    if family.image_rules is not None:
        image_allowed += f"; checked when the bytes are at hand: {family.image_rules.label}"
    rows.append(
        ParameterRow(
            "prompt.image",
            "`image`",
            "image",
            image_allowed,
            "all",
            f"The start frame: the image to animate. {image_needed}",
        )
    )

    text_allowed = []
    if family.text_required:
        text_allowed.append("required, not empty")
    if family.max_text_length:
        text_allowed.append(_length_text({"max": family.max_text_length}, "character"))
    rows.append(
        ParameterRow(
            "prompt.text",
            "`text`",
            "string",
            "; ".join(text_allowed) or "any",
            "all",
            "Description of the motion or animation. Without an image, the prompt is this plain string.",
        )
    )

    for wire in SETTINGS_ORDER:
        keyword = _TOP_LEVEL_KEYWORDS[wire]
        if keyword in own:
            keyword_text = (
                f"— (`{keyword}=` sets `providerOptions.{family.provider_key}."
                f"{family.options_model.model_fields[keyword].alias}` here; "
                f"`GatewaySubmitOperator({keyword}=...)` sets this one)"
            )
        else:
            keyword_text = f"`{keyword}`"
        documented = wire in family.documented_settings
        undocumented = f"Not documented for {label}; passed on as given."
        if wire == "duration":
            groups: dict[tuple[int, ...], list[str]] = {}
            for spec in specs:
                groups.setdefault(spec.durations, []).append(spec.id)
            if len(groups) == 1:
                allowed = f"{allowed_text(specs[0].durations)} s"
            else:
                allowed = "; ".join(
                    f"{allowed_text(d)} s on {', '.join(f'`{_short(m)}`' for m in ids)}"
                    for d, ids in groups.items()
                )
            rows.append(
                ParameterRow(
                    wire,
                    keyword_text,
                    "integer",
                    allowed,
                    "all",
                    "Video length in seconds. When not set, nothing is sent and the model's own default "
                    "applies.",
                )
            )
        elif wire == "resolution":
            res_groups: dict[tuple[str, ...] | None, list[str]] = {}
            for spec in specs:
                res_groups.setdefault(spec.resolutions, []).append(spec.id)
            if list(res_groups) == [None]:
                allowed = "any; not checked"
                description = f"Not documented for {label}; passed on with a warning."
            else:
                parts = []
                for res, ids in res_groups.items():
                    where = "" if len(res_groups) == 1 else f" on {', '.join(f'`{_short(m)}`' for m in ids)}"
                    parts.append((_or([f"`{r}`" for r in res]) if res else "not documented") + where)
                allowed = "; ".join(parts)
                description = (
                    "Output resolution. When not set, nothing is sent and the model's own default applies."
                )
            rows.append(ParameterRow(wire, keyword_text, "string", allowed, "all", description))
        elif wire == "aspectRatio":
            if family.aspect_ratios is not None:
                allowed = _or([f"`{r}`" for r in family.aspect_ratios])
                description = "Aspect ratio of the video."
            else:
                allowed = "any `W:H` (e.g. `16:9`)"
                description = (
                    "Aspect ratio of the video."
                    if documented
                    else f"Not documented for {label}; passed on with a warning."
                )
            rows.append(ParameterRow(wire, keyword_text, "string", allowed, "all", description))
        elif wire == "fps":
            if family.fps is not None:
                allowed = _or([f"`{f}`" for f in family.fps])
                description = f"Frames per second; {label} outputs {allowed_text(family.fps)} fps only."
            else:
                allowed = "a whole number, at least 1"
                description = "Frames per second. " + ("" if documented else undocumented)
            rows.append(ParameterRow(wire, keyword_text, "integer", allowed, "all", description.strip()))
        elif wire == "n":
            rows.append(
                ParameterRow(
                    wire,
                    keyword_text,
                    "integer",
                    "at least 1",
                    "all",
                    "Number of videos. Defaults to 1 (always sent).",
                )
            )
        elif wire == "seed":
            rows.append(
                ParameterRow(
                    wire,
                    keyword_text,
                    "integer",
                    f"0 to {2**32 - 1}",
                    "all",
                    "Seed for repeatable results. " + ("" if documented else undocumented),
                )
            )
        elif wire == "generateAudio":
            audio = family.models_with(AUDIO)
            rows.append(
                ParameterRow(
                    wire,
                    keyword_text,
                    "boolean",
                    "`true` or `false`",
                    _models_text(family, audio),
                    "Generate audio (top-level setting). `true` is refused on models without audio; "
                    "`false` is accepted everywhere. " + ("" if documented else undocumented),
                )
            )
    return rows


def _option_rows(
    family: Family,
    model: type[BaseModel],
    *,
    wire_prefix: str,
    keyword_prefix: str | None,
    inherited: str,
    required_note: str,
) -> Iterator[ParameterRow]:
    image_paths = set(family.options_model.image_paths)
    relative_prefix = wire_prefix.removeprefix(f"providerOptions.{family.provider_key}.")
    for name, info in model.model_fields.items():
        wire = info.alias or name
        relative = f"{relative_prefix}{wire}"
        path = f"{wire_prefix}{wire}"
        if keyword_prefix is not None:
            keyword = f"`{keyword_prefix}{wire}`"
        elif name in WAIT_KEYWORDS:
            keyword = f"`{WAIT_KEYWORDS[name]}` (seconds; or `{wire}` in `provider_options`)"
        else:
            keyword = f"`{name}`"
        base, _ = _unwrap(info.annotation)
        is_list = get_origin(base) is list
        image = relative in image_paths or f"{relative}[]" in image_paths
        markers = [m for m in info.metadata if isinstance(m, Requires)]
        models = _models_text(family, family.models_with(markers[0].capability)) if markers else inherited
        allowed = _constraints(info)
        if image:
            allowed.append(_image_forms(family))
        if keyword_prefix is not None and info.is_required():
            allowed.insert(0, f"required{required_note}")
        yield ParameterRow(
            path,
            keyword,
            _type_text(info.annotation, image=image),
            "; ".join(allowed) or "any",
            models,
            info.description or "",
        )
        item = get_args(base)[0] if is_list and get_args(base) else base
        if _is_model(item):
            step = "[]." if is_list else "."
            yield from _option_rows(
                family,
                item,
                wire_prefix=f"{path}{step}",
                keyword_prefix=(name if keyword_prefix is None else f"{keyword_prefix}{wire}") + step,
                inherited=models,
                required_note=" in each item" if is_list else "",
            )


def parameter_rows(family: Family) -> list[ParameterRow]:
    """Every parameter a family takes: top-level settings, then its provider options, nested
    fields included (``providerOptions.klingai.dynamicMasks[].mask``)."""
    options = list(
        _option_rows(
            family,
            family.options_model,
            wire_prefix=f"providerOptions.{family.provider_key}.",
            keyword_prefix=None,
            inherited="all",
            required_note="",
        )
    )
    poll = [r for r in options if r.path.rsplit(".", 1)[-1] in ("pollIntervalMs", "pollTimeoutMs")]
    rest = [r for r in options if r not in poll]
    return [*_top_level_rows(family), *rest, *poll]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def parameter_table(family: Family) -> str:
    """The markdown table of every parameter of ``family``.

    Columns: the parameter path as the seed spells it, the submit operator keyword, the JSON type,
    what is allowed (from ``Literal`` types, range and length constraints and the model specs),
    which models take it (from ``Requires`` markers and model capabilities) and the description.
    """
    found = parameter_rows(family)
    rows = [(f"`{r.path}`", r.keyword, r.type, r.allowed, r.models, r.description or "—") for r in found]
    table = _table(("Parameter", "Operator keyword", "Type", "Allowed", "Models", "Description"), rows)
    legend = (
        "\n*Models* lists the models that take a parameter; any other model of the family refuses it "
        "before any call is made. Turning a feature off (`false`, `'off'`) is accepted on every model."
    )
    nested = [r for r in found if r.path.count(".") > 2]
    if nested:
        example = nested[0].path.split(".", 2)[2]
        legend += (
            f" Nested fields (such as `{example}`) go inside the keyword's value, with their camelCase "
            "names, exactly as in `provider_options`."
        )
    return table + legend + "\n"


def models_table(family: Family) -> str:
    """The markdown table of a family's models: id, description, durations, resolutions, capabilities."""
    rows = []
    for spec in family.models.values():
        model = f"`{spec.id}`" + (" (default)" if spec.id == family.default_model else "")
        resolutions = _or([f"`{r}`" for r in spec.resolutions]) if spec.resolutions else "—"
        capabilities = ", ".join(CAPABILITY_LABELS.get(c, c) for c in sorted(spec.capabilities)) or "—"
        rows.append((model, spec.description, f"{allowed_text(spec.durations)} s", resolutions, capabilities))
    table = _table(("Model", "Description", "Durations", "Resolutions", "Capabilities"), rows)
    return table + (
        f"\n*(default)* is the model `{operator_class_names(family)[0]}` uses when `model` is not given.\n"
    )


def facts_table(family: Family) -> str:
    """A family's settings at a glance: provider key, classes, defaults, image and prompt rules."""
    submit, sensor = operator_class_names(family)
    rows: list[tuple[str, str]] = [
        ("Submit operator", f"`{submit}`"),
        ("Sensor", f"`{sensor}`"),
        ("Provider options key", f"`providerOptions.{family.provider_key}`"),
        ("Default model", f"`{family.default_model}`"),
        (
            "Waiting",
            f"poll every {family.poll_interval:g} s, give up after {family.timeout:g} s "
            "(`pollIntervalMs` / `pollTimeoutMs` of the request override both)",
        ),
        ("Images", _image_forms(family)),
        (
            "Prompt text",
            ("required" if family.text_required else "optional")
            + (f", at most {family.max_text_length} characters" if family.max_text_length else ""),
        ),
    ]
    if family.image_rules is not None:
        rows.append(("Image requirements", family.image_rules.label))
    if family.fps is not None:
        rows.append(("Frame rate", f"{allowed_text(family.fps)} fps"))
    if family.aspect_ratios is not None:
        rows.append(("Aspect ratios", _or([f"`{r}`" for r in family.aspect_ratios])))
    documented = [s for s in ("duration", "resolution", "aspectRatio") if s in family.documented_settings]
    rows.append(("Documented top-level settings", ", ".join(f"`{s}`" for s in documented)))
    return _table(("Setting", "Value"), rows)


def notes_list(family: Family) -> str:
    """Where the seed contradicts itself for ``family`` and which reading is taken, as a list."""
    if not family.notes:
        return (
            f"The seed states nothing contradictory for {family.label}; every rule is applied as written.\n"
        )
    return "".join(f"- {note}\n" for note in family.notes)


def all_models_table(link_prefix: str = "families/") -> str:
    """Every model id of every family, with its family (linked to its page) and durations.

    :param link_prefix: Path from the page holding the table to the family pages.
    """
    rows = []
    for family in FAMILIES.values():
        for spec in family.models.values():
            rows.append(
                (
                    f"`{spec.id}`",
                    f"[{family.label}]({link_prefix}{family.name}.md)",
                    spec.description,
                    f"{allowed_text(spec.durations)} s",
                )
            )
    return _table(("Model", "Family", "Description", "Durations"), rows)


def _render(kind: str, name: str, page_path: str) -> str:
    if kind == "models" and name == "all":
        here = posixpath.dirname(page_path) or "."
        return all_models_table(posixpath.relpath("families", here) + "/")
    family = get_family(name)
    renderers = {
        "parameters": parameter_table,
        "models": models_table,
        "facts": facts_table,
        "notes": notes_list,
    }
    return renderers[kind](family)


def expand_markers(markdown: str, *, page_path: str = "index.md") -> str:
    """Replace every ``<!-- kind:family -->`` marker of a page with its generated table.

    :param markdown: The page.
    :param page_path: The page's path under the docs directory, for the links of ``models:all``.
    :raises ValueError: For a marker that names an unknown family or an unknown kind.
    """
    expanded = MARKER_RE.sub(lambda m: "\n" + _render(m.group(1), m.group(2), page_path) + "\n", markdown)
    stray = _LOOSE_MARKER_RE.search(expanded)
    if stray:
        raise ValueError(f"unknown marker {stray.group(0)}; kinds are parameters, models, facts and notes")
    return expanded
