"""Values rendered from templates, in the types their parameters declare.

Airflow renders templates as strings unless a DAG asks for native objects, so ``duration="{{
params.duration }}"`` arrives as ``"5"``. Each such value is validated once, leniently, against the
type its parameter declares (``"5"`` -> 5, ``"true"`` -> ``True``, a dict's ``str()`` -> the dict);
the strict model validation that follows reports anything that still is not of its type.
"""

from __future__ import annotations

import ast
import json
from functools import cache
from typing import Annotated, Any, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from airflow_video_gen.families.base import unwrap


@cache
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


def coerce(annotation: Any, value: Any) -> Any:
    """A templated value (rendered as a string) in its declared type, when it reads as one:
    ``"5"`` as 5, ``"true"`` as ``True``, ``"{'type': 'simple'}"`` as a dict. Anything else is
    returned unchanged, for the strict validation to report."""
    if isinstance(value, str) and _takes_container(annotation):
        text = value.strip()
        if text[:1] in ("{", "["):
            for parse in (json.loads, ast.literal_eval):
                try:
                    value = parse(text)
                    break
                except (ValueError, SyntaxError, MemoryError, RecursionError):
                    continue
    try:
        return _adapter(annotation).validate_python(value, strict=False)
    except ValidationError:
        return value


def _takes_container(annotation: Any) -> bool:
    inner, _ = unwrap(annotation)
    return get_origin(inner) in (list, dict) or (isinstance(inner, type) and issubclass(inner, BaseModel))


@cache
def field_adapter(model_cls: type[BaseModel], wire: str) -> TypeAdapter[Any]:
    info = next(i for n, i in model_cls.model_fields.items() if (i.alias or n) == wire)
    # ``Annotated`` needs at least one piece of metadata: a plain field is its annotation.
    annotated: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return TypeAdapter(annotated)
