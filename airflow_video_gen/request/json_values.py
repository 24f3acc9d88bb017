"""Values the wire body cannot carry, found before it is built.

Everything outside an image slot goes on the wire as JSON. The typed settings and options can only
hold JSON values, except option fields typed ``Any`` and other providers' options, which pass on
as given: those are walked here, NaN and the infinities included (``json.dumps`` would write them
as invalid JSON).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from airflow_video_gen.request.images import ImageSource

if TYPE_CHECKING:
    from airflow_video_gen.request.checks import Check


def check_json(check: Check) -> None:
    """Refuse values the wire body cannot carry: other providers' options, and option fields typed
    ``Any`` (everything else has a JSON type by its declaration)."""
    options = check.options.model_dump(by_alias=True, exclude_none=True)
    for param, value in (
        *((f"providerOptions.{k}", v) for k, v in check.other_options.items()),
        *((check.param(k), v) for k, v in options.items()),
    ):
        where = _not_json(value, param)
        if where is not None and not any(_within(where[0], issue.param) for issue in check.errors):
            path, bad = where
            what = f"is {bad!r}" if isinstance(bad, float) else f"is {type(bad).__name__}"
            check.error(
                path,
                f"{what}, which JSON cannot carry, for {check.model}; send strings, finite numbers, "
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
