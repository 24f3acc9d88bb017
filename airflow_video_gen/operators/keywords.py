"""The keywords of the submit operators: the common ones, a family's options made keywords from
its options model, templated values told from literal ones, and a hint for a misspelt keyword."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from difflib import get_close_matches
from typing import Any

from airflow.sdk import BaseOperator
from pydantic.alias_generators import to_snake

from airflow_video_gen.families import FAMILIES, GATEWAY, Family
from airflow_video_gen.families.base import is_image
from airflow_video_gen.models import InvalidVideoRequest, Issue
from airflow_video_gen.request.settings import SETTING_KEYWORDS

#: Snake_case keywords that map to the call's top-level settings, with their wire names.
TOP_LEVEL: dict[str, str] = {keyword: wire for wire, keyword in SETTING_KEYWORDS.items()}
COMMON_TEMPLATE_FIELDS = (
    "model",
    "image",
    "text",
    *TOP_LEVEL,
    "provider_options",
    "gateway_conn_id",
    "aws_conn_id",
    "skip_if_archived",
    "callback_url",
)


def submit_template_fields(family: Family | None) -> tuple[str, ...]:
    """Template fields of a submit operator: the common ones plus the family's option keywords."""
    extra = tuple(n for n in family.keywords() if n not in TOP_LEVEL) if family else ()
    return COMMON_TEMPLATE_FIELDS + extra


def is_literal(value: Any) -> bool:
    """Known at parse time: no Jinja template and no XCom reference anywhere inside."""
    if isinstance(value, str):
        return "{{" not in value and "{%" not in value
    if isinstance(value, Mapping):
        return all(is_literal(k) and is_literal(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(is_literal(v) for v in value)
    return not (hasattr(value, "resolve") and hasattr(value, "iter_references"))


def operator_keywords() -> frozenset[str]:
    names: set[str] = set()
    for klass in BaseOperator.__mro__:
        init = klass.__dict__.get("__init__")
        names |= set(getattr(init, "_BaseOperatorMeta__param_names", ()))
    return frozenset(names)


def family_init(family: Family, base_init: Callable[..., None]) -> Callable[..., None]:
    """The ``__init__`` of a family's operator: the family's options as keyword arguments (its
    signature lists them, so Airflow's ``default_args``, ``partial`` and ``expand`` know them),
    handed to ``base_init`` as ``family_options``."""
    keywords = family.keywords()

    def __init__(self: Any, **kwargs: Any) -> None:
        options = {name: kwargs.pop(name, None) for name in keywords}
        base_init(self, family_options=options, **kwargs)

    fields = family.options_model.model_fields
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    params += [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Any if is_image(fields[name]) else fields[name].annotation,
        )
        for name in keywords
    ]
    params.append(inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD, annotation=Any))
    __init__.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
    return __init__


def option_doc(family: Family) -> str:
    """``:param:`` lines for a family's option keywords, from its options model."""
    fields = family.options_model.model_fields
    lines = [
        f":param {name}: ``providerOptions.{family.provider_key}.{fields[name].alias}``: "
        f"{fields[name].description or ''} Templated."
        for name in family.keywords()
    ]
    return "\n".join(f"    {line}" for line in lines)


def refuse_unknown_keywords(operator: type[BaseOperator], kwargs: Mapping[str, Any]) -> None:
    """Refuse keywords no operator takes, with a hint: Airflow's own message for a misspelt
    keyword gives none. :raises TypeError: Naming each unknown keyword and its likely intent."""
    known = operator_keywords()
    unknown = [k for k in kwargs if k not in known and not k.startswith("_")]
    if not unknown:
        return
    ours = [*inspect.signature(operator.__init__).parameters, *COMMON_TEMPLATE_FIELDS]
    candidates = sorted({*ours, *known} - {"self", "kwargs", "family_options"})
    lines = []
    for name in unknown:
        snake = to_snake(name)
        hint = [snake] if snake != name and snake in candidates else get_close_matches(name, candidates, n=1)
        did = f" (did you mean {hint[0]!r}?)" if hint else ""
        lines.append(f"{name!r}{did}")
    family = getattr(operator, "family", None)
    label = family.label if family else "any"
    raise TypeError(
        f"{operator.__name__} got unknown keyword argument(s): {', '.join(lines)}. Keywords are "
        "snake_case; the values of dict and list keywords keep the seed's camelCase keys (e.g. "
        f"voice_list=[{{'voiceId': ...}}]). The raw camelCase options of {label} models go in "
        "provider_options."
    )


def split_provider_options(raw: Any, family: Family) -> tuple[dict[str, Any], dict[str, Any]]:
    """``provider_options`` as (the other providers' options, a copy of the family's own dict)."""
    if raw is None:
        return {}, {}
    if not isinstance(raw, Mapping):
        raise InvalidVideoRequest(
            family.default_model or "model",
            [Issue("providerOptions", f"provider_options must be a dict, got {type(raw).__name__}")],
        )
    provider_keys = {f.provider_key for f in FAMILIES.values()} | {"gateway"}
    if family is GATEWAY or (raw and all(k in provider_keys for k in raw)):
        others = {k: v for k, v in raw.items() if k != family.provider_key or family is GATEWAY}
        own = raw.get(family.provider_key) if family is not GATEWAY else None
        return others, dict(own) if isinstance(own, Mapping) else ({} if own is None else own)
    return {}, dict(raw)
