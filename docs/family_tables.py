"""The family tables of the documentation: made from the families' data, committed in the pages.

A page holds pairs of markers such as ``<!-- parameters:kling -->`` ... ``<!-- /parameters:kling -->``
(kinds: parameters, models, facts, notes of a family; ``models:all``, ``families:all``,
``latency:all``).
``python docs/family_tables.py`` (``make docs-tables``) rewrites what lies between them; ``--check``
changes nothing and exits 1 listing the stale pages.

Nothing here describes a parameter by hand: the top-level settings come from ``CallSettings``
(descriptions, types, bounds, what each must be), what a family allows from its ``Family`` and
``ModelSpec`` data, and its options from their pydantic model (types, ``Literal`` values, bounds,
lengths, ``Requires`` and ``Plays`` markers, ``Image`` fields, descriptions).
"""

from __future__ import annotations

import argparse
import posixpath
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from airflow_video_gen.families import BUILT_IN_FAMILIES, get_family
from airflow_video_gen.families.base import (
    AUDIO,
    REFERENCE_IMAGES,
    Family,
    OptionPart,
    ProviderOptions,
    Requires,
    is_image,
    unwrap,
)
from airflow_video_gen.request.errors import allowed_text
from airflow_video_gen.request.settings import SETTING_KEYWORDS, SETTINGS, CallSettings, must

DOCS_DIR = Path(__file__).resolve().parent

#: Where a family's data narrows a top-level setting: per model (a ``ModelSpec`` attribute) or for
#: the whole family (a ``Family`` attribute).
PER_MODEL = {"duration": "durations", "resolution": "resolutions"}
PER_FAMILY = {"aspectRatio": "aspect_ratios", "fps": "fps"}
#: The capability each top-level setting is gated on, from its ``Requires`` marker.
GATES = {
    info.alias or name: marker.capability
    for name, info in CallSettings.model_fields.items()
    for marker in info.metadata
    if isinstance(marker, Requires)
}

#: A pair of markers and the table between them; any other marker-like comment is an error.
BLOCK_RE = re.compile(r"<!-- (?P<kind>[a-z]+):(?P<name>[a-z_]+) -->\n.*?<!-- /(?P=kind):(?P=name) -->", re.S)
MARKER_RE = re.compile(r"<!--\s*/?[a-z_]+:[a-z_]+\s*-->")


@dataclass(frozen=True)
class ParameterRow:
    """One row of a parameter table: the seed's path, then markdown cells."""

    path: str
    keyword: str
    type: str
    allowed: str
    models: str
    description: str


def operator_class_names(family: Family) -> tuple[str, str]:
    """The family's submit operator and sensor class names (``KlingSubmitOperator``, ...)."""
    stem = family.name.capitalize()
    return f"{stem}SubmitOperator", f"{stem}GenerationSensor"


# ------------------------------------------------------------------------------------ formatting


def _code(value: Any) -> str:
    text = str(value).lower() if isinstance(value, bool) else repr(value) if isinstance(value, str) else value
    return f"`{text}`"


def _or(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _ids(model_ids: Sequence[str]) -> str:
    return ", ".join(f"`{m.split('/', 1)[-1]}`" for m in model_ids)


def _models_text(family: Family, model_ids: Sequence[str]) -> str:
    return "all" if list(model_ids) == list(family.models) else _ids(model_ids) or "none"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _image_forms(family: Family) -> str:
    if family.url_only_images:
        return "an https URL or an `s3://` URI (presigned by the operator); not image data"
    return "an https URL, an `s3://` URI, a local path, bytes, raw base64 or a data URL"


# ------------------------------------------------------------------------------------ fields


def _markers(info: FieldInfo) -> list[Any]:
    return [*info.metadata, *unwrap(info.annotation)[1]]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _type_text(annotation: Any, image: bool) -> str:
    base, _ = unwrap(annotation)
    if get_origin(base) is list:
        return "array of " + _type_text((get_args(base) or (Any,))[0], image)
    if image:
        return "image"
    if get_origin(base) is Literal:
        return "string" if all(isinstance(v, str) for v in get_args(base)) else "enum"
    if get_origin(base) is dict or _is_model(base):
        return "object"
    return {bool: "boolean", int: "integer", float: "number", str: "string"}.get(base, "any")


def _span(low: float | None, high: float | None, unit: str = "") -> list[str]:
    """``0 to 1``, ``at least 2 items``, ``at most 1 character``; nothing without a bound."""
    if low is not None and high is not None:
        text, last = f"{_number(low)} to {_number(high)}", high
    elif low is not None:
        text, last = f"at least {_number(low)}", low
    elif high is not None:
        text, last = f"at most {_number(high)}", high
    else:
        return []
    return [text + (f" {unit}{'' if last == 1 else 's'}" if unit else "")]


def _allowed(info: FieldInfo) -> list[str]:
    """Allowed values, bounds, lengths and patterns of a field, from its type and metadata."""
    base, _ = unwrap(info.annotation)
    out = []
    if get_origin(base) is Literal:
        out.append(_or([_code(v) for v in get_args(base)]))
    elif base is bool:
        out.append("`true` or `false`")
    limits: dict[str, Any] = {}
    for item in _markers(info):
        names = ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern")
        limits |= {k: getattr(item, k) for k in names if getattr(item, k, None) is not None}
    if base is int:  # whole numbers: "more than 0" is "at least 1"
        if "gt" in limits:
            limits["ge"] = limits.pop("gt") + 1
        if "lt" in limits:
            limits["le"] = limits.pop("lt") - 1
    out += [f"more than {_number(limits['gt'])}"] if "gt" in limits else []
    out += [f"less than {_number(limits['lt'])}"] if "lt" in limits else []
    out += _span(limits.get("ge"), limits.get("le"))
    unit = "item" if get_origin(base) is list else "character"
    out += _span(limits.get("min_length"), limits.get("max_length"), unit)
    out += [f"matches `{limits['pattern']}`"] if "pattern" in limits else []
    return out


def _requires(family: Family, info: FieldInfo, inherited: str) -> str:
    gates = [m.capability for m in _markers(info) if isinstance(m, Requires)]
    return _models_text(family, family.models_with(gates[0])) if gates else inherited


# ------------------------------------------------------------------------------------ rows


def _values_text(values: Sequence[Any] | None) -> str:
    """Numbers as ``5 or 10`` / ``2 to 15``, strings quoted and in code, none as "not checked"."""
    if not values:
        return "not checked"
    return (
        allowed_text(values) if all(isinstance(v, int) for v in values) else _or([_code(v) for v in values])
    )


def _per_model(family: Family, attribute: str) -> str:
    """A model spec attribute's values, grouped by model where the models differ."""
    groups: dict[Any, list[str]] = {}
    for spec in family.models.values():
        groups.setdefault(getattr(spec, attribute), []).append(spec.id)
    if len(groups) == 1:
        return _values_text(next(iter(groups)))
    return "; ".join(f"{_values_text(values)} on {_ids(ids)}" for values, ids in groups.items())


def _prompt_rows(family: Family) -> list[ParameterRow]:
    needed = "Required."
    references = family.part(REFERENCE_IMAGES)
    if references is not None:
        info = family.options_model.model_fields[references.name]
        needed = (
            f"Required, except with `{references.wire}` (on {_requires(family, info, 'all')}), "
            "where the prompt may be a plain string."
        )
    image = _image_forms(family)
    if family.image_rules is not None:
        image += f"; checked when the bytes are at hand: {family.image_rules.label}"
    text = (["required, not empty"] if family.text_required else []) + (
        [f"at most {family.max_text_length} characters"] if family.max_text_length else []
    )
    return [
        ParameterRow("prompt.image", "`image`", "image", image, "all", f"The start frame. {needed}"),
        ParameterRow(
            "prompt.text",
            "`text`",
            "string",
            "; ".join(text) or "any",
            "all",
            "What should happen in the video. Without an image, the prompt is this plain string.",
        ),
    ]


def _setting_rows(family: Family) -> Iterator[ParameterRow]:
    """The top-level settings of :class:`CallSettings`, as far as the family narrows them."""
    for wire in SETTINGS:
        name = SETTING_KEYWORDS[wire]
        info = CallSettings.model_fields[name]
        keyword = f"`{name}`"
        if name in family.keywords():
            option = family.options_model.model_fields[name].alias
            keyword = (
                f"— (`{name}=` sets `providerOptions.{family.provider_key}.{option}` here; "
                f"`GatewaySubmitOperator({name}=...)` sets this one)"
            )
        allowed = "; ".join(_allowed(info)) or must(wire).removeprefix("must be ")
        if wire in PER_MODEL and family.models:
            allowed = _per_model(family, PER_MODEL[wire])
        elif getattr(family, PER_FAMILY.get(wire, ""), None):
            allowed = _values_text(getattr(family, PER_FAMILY[wire]))
        description = info.description or ""
        if info.default is not None:
            description += f" Default {_code(info.default)}, always sent."
        if wire not in family.documented_settings:
            description += f" Not documented for {family.label}; passed on as given."
        models = _models_text(family, family.models_with(GATES[wire])) if wire in GATES else "all"
        yield ParameterRow(wire, keyword, _type_text(info.annotation, False), allowed, models, description)


def _option_rows(
    family: Family, model: type[BaseModel], prefix: str, keyword_prefix: str | None, inherited: str, note: str
) -> Iterator[ParameterRow]:
    waiting_last = sorted(
        model.model_fields.items(), key=lambda item: item[0] in ProviderOptions.WAIT_OPTIONS
    )
    for name, info in waiting_last:
        wire = info.alias or name
        path = f"{prefix}{wire}"
        if keyword_prefix is not None:
            keyword = f"`{keyword_prefix}{wire}`"
        else:
            keyword = f"`{name}`" if name in family.keywords() else "— (`provider_options` only)"
        models = _requires(family, info, inherited)
        image = is_image(info)
        allowed = _allowed(info) + ([_image_forms(family)] if image else [])
        if keyword_prefix is not None and info.is_required():
            allowed.insert(0, f"required{note}")
        type_text = _type_text(info.annotation, image)
        yield ParameterRow(
            path, keyword, type_text, "; ".join(allowed) or "any", models, info.description or ""
        )
        base, _ = unwrap(info.annotation)
        many = get_origin(base) is list
        item, _ = unwrap(get_args(base)[0]) if many else (base, None)
        if _is_model(item) and not image:
            step = "[]." if many else "."
            inner = (name if keyword_prefix is None else f"{keyword_prefix}{wire}") + step
            yield from _option_rows(family, item, path + step, inner, models, " in each item" if many else "")


def parameter_rows(family: Family) -> list[ParameterRow]:
    """Every parameter of a family: the prompt, the top-level settings, then its provider options
    (nested fields included, ``providerOptions.klingai.dynamicMasks[].mask``; waiting ones last)."""
    prefix = f"providerOptions.{family.provider_key}."
    options = _option_rows(family, family.options_model, prefix, None, "all", "")
    return [*_prompt_rows(family), *_setting_rows(family), *options]


# ------------------------------------------------------------------------------------ tables


def parameter_table(family: Family) -> str:
    rows = parameter_rows(family)
    table = _table(
        ("Parameter", "Operator keyword", "Type", "Allowed", "Models", "Description"),
        [(f"`{r.path}`", r.keyword, r.type, r.allowed, r.models, r.description or "—") for r in rows],
    )
    legend = (
        "\n*Models* lists the models that take a parameter; any other model of the family refuses it "
        "before any call is made. Turning a feature off (`false`, `'off'`) is accepted on every model. "
        "A setting that is not given is not sent."
    )
    nested = [r.path for r in rows if r.path.count(".") > 2]
    if nested:
        legend += (
            f" Nested fields (such as `{nested[0].split('.', 2)[2]}`) go inside the keyword's value, with "
            "their camelCase names, exactly as in `provider_options`."
        )
    return table + legend + "\n"


def models_table(family: Family) -> str:
    submit, _ = operator_class_names(family)
    rows = []
    for spec in family.models.values():
        capabilities = sorted(c.replace("_", " ") for c in spec.capabilities)
        if spec.audio_default:
            capabilities = [f"{c} (on by default)" if c == AUDIO else c for c in capabilities]
        rows.append(
            (
                f"`{spec.id}`" + (" (default)" if spec.id == family.default_model else ""),
                spec.description,
                _values_text(spec.durations),
                _values_text(spec.resolutions) if spec.resolutions else "—",
                ", ".join(capabilities) or "—",
            )
        )
    table = _table(("Model", "Description", "Durations (s)", "Resolutions", "Capabilities"), rows)
    return table + f"\n*(default)* is the model `{submit}` uses when `model` is not given.\n"


def _part_text(part: str, option: OptionPart) -> str:
    """``audio switch: `sound` (on: `'on'`)``: the part an option plays, its "on" value and default."""
    on, default = option.plays.on, option.plays.default
    extra = ([f"on: {_code(on)}"] if on is not True else []) + (
        [f"default {_code(default)}"] if default else []
    )
    return f"{part.replace('_', ' ')}: `{option.wire}`" + (f" ({', '.join(extra)})" if extra else "")


def facts_table(family: Family) -> str:
    submit, sensor = operator_class_names(family)
    waiting = " / ".join(f"`{ProviderOptions.model_fields[n].alias}`" for n in ProviderOptions.WAIT_OPTIONS)
    prompt = ["required" if family.text_required else "optional"]
    prompt += [f"at most {family.max_text_length} characters"] if family.max_text_length else []
    prefixes = _or([f"`{p}`" for p in family.creator_prefixes]) if family.creator_prefixes else ""
    rows: dict[str, Any] = {  # a row whose value is empty or false is left out
        "Submit operator": f"`{submit}`",
        "Sensor": f"`{sensor}`",
        "Provider options key": f"`providerOptions.{family.provider_key}`",
        "Default model": f"`{family.default_model}`",
        "Waiting": f"poll every {family.poll_interval:g} s, give up after {family.timeout:g} s "
        f"({waiting} of the request override both)",
        "Images": _image_forms(family),
        "Prompt text": ", ".join(prompt),
        "Newer model ids": prefixes
        and f"ids starting with {prefixes} are checked with the rules that do not depend on the version "
        "and sent with a warning; `strict_models=True` refuses them",
        "Image requirements": family.image_rules and family.image_rules.label,
        "Frame rate": family.fps and f"{_values_text(family.fps)} fps",
        "Aspect ratios": family.aspect_ratios and _values_text(family.aspect_ratios),
        "Without `aspectRatio`": family.image_sets_aspect
        and "the video takes the start image's aspect ratio",
        "Documented top-level settings": ", ".join(
            f"`{s}`" for s in SETTINGS if s in family.documented_settings
        ),
        "Options by part": "; ".join(_part_text(part, option) for part, option in family.parts.items()),
    }
    return _table(("Setting", "Value"), [(name, value) for name, value in rows.items() if value])


def notes_list(family: Family) -> str:
    if not family.notes:
        return (
            f"The seed states nothing contradictory for {family.label}; every rule is applied as written.\n"
        )
    return "".join(f"- {note}\n" for note in family.notes)


def all_models_table(link: str = "families/") -> str:
    rows = [
        (f"`{s.id}`", f"[{f.label}]({link}{f.name}.md)", s.description, _values_text(s.durations))
        for f in BUILT_IN_FAMILIES
        for s in f.models.values()
    ]
    return _table(("Model", "Family", "Description", "Durations (s)"), rows)


def families_table(link: str = "families/") -> str:
    rows = []
    for f in BUILT_IN_FAMILIES:
        submit, sensor = operator_class_names(f)
        images = "URLs only" if f.url_only_images else "any form"
        rows.append(
            (
                f"[{f.label}]({link}{f.name}.md)",
                f"`{f.provider_key}`",
                f"`{submit}`",
                f"`{sensor}`",
                images,
                f"{f.poll_interval:g} s",
                f"{f.timeout:g} s",
            )
        )
    return _table(
        ("Family", "Provider key", "Submit operator", "Sensor", "Images", "Poll every", "Give up after"), rows
    )


def latency_table(link: str = "families/") -> str:
    """Each model's prior for the polling schedule: its expected time for its default duration,
    what each second of video adds and the resolutions that take longer."""
    rows = []
    for f in BUILT_IN_FAMILIES:
        for spec in f.models.values():
            latency = f.latency_of(spec)
            duration = spec.default_duration or 5
            factors = ", ".join(f"`{value}` x{_number(factor)}" for value, factor in latency.resolutions)
            rows.append(
                (
                    f"`{spec.id}`",
                    f"[{f.label}]({link}{f.name}.md)",
                    f"{_number(round(latency.minimum(duration), 1))} s ({duration} s of video)",
                    f"{_number(latency.base)} s + {_number(latency.per_second)} s per second of video",
                    factors or "—",
                )
            )
    return _table(("Model", "Family", "Expected time", "Formula", "Resolution factors"), rows)


# ------------------------------------------------------------------------------------ pages

_FAMILY_TABLES = {
    "parameters": parameter_table,
    "models": models_table,
    "facts": facts_table,
    "notes": notes_list,
}
_ALL_TABLES = {"models": all_models_table, "families": families_table, "latency": latency_table}


def render(kind: str, name: str, page: str = "index.md") -> str:
    """The table of one marker; ``page`` (under the docs directory) places the links of ``:all``.

    :raises ValueError: For an unknown kind or family.
    """
    if name == "all" and kind in _ALL_TABLES:
        return _ALL_TABLES[kind](posixpath.relpath("families", posixpath.dirname(page) or ".") + "/")
    if kind not in _FAMILY_TABLES:
        raise ValueError(
            f"unknown marker kind {kind!r}; kinds are {', '.join(_FAMILY_TABLES)}, "
            f"{', '.join(f'{k}:all' for k in _ALL_TABLES)}"
        )
    return _FAMILY_TABLES[kind](get_family(name))


def fill(markdown: str, page: str = "index.md") -> str:
    """A page with the table between each pair of markers made anew.

    :raises ValueError: For an unpaired marker, an unknown kind or an unknown family.
    """
    stray = MARKER_RE.search(BLOCK_RE.sub("", markdown))
    if stray:
        raise ValueError(
            f"{page}: unpaired marker {stray.group(0)}; write <!-- kind:name --> <!-- /kind:name -->"
        )

    def table(m: re.Match[str]) -> str:
        kind, name = m.group("kind"), m.group("name")
        return f"<!-- {kind}:{name} -->\n\n{render(kind, name, page)}\n<!-- /{kind}:{name} -->"

    return BLOCK_RE.sub(table, markdown)


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the tables of every page under the docs directory; with ``--check``, only list the
    stale pages (exit 1 when there are any)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 listing stale pages")
    parser.add_argument("--docs-dir", type=Path, default=DOCS_DIR, help="default: this file's directory")
    args = parser.parse_args(argv)
    stale = []
    for path in sorted(args.docs_dir.rglob("*.md")):
        page = path.relative_to(args.docs_dir).as_posix()
        text = path.read_text(encoding="utf-8")
        filled = fill(text, page)
        if filled != text:
            stale.append(page)
            if not args.check:
                path.write_text(filled, encoding="utf-8")
    if args.check and stale:
        print("Stale family tables (run `make docs-tables`):", *stale, sep="\n  ", file=sys.stderr)
        return 1
    print(f"{'rewrote' if stale else 'up to date:'} {', '.join(stale) or 'every page'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
