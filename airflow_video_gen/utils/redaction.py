"""What may be shown or stored of a body, a status or a URL: one redactor, one URL scrubber.

Every place that logs, prints, stores in XCom or trigger rows, or writes a sidecar goes through
:func:`redact` (JSON-like values) and :func:`redact_url` (one URL). They differ only by keyword:

========================  ==========================================  ================================
where                     call                                        why
========================  ==========================================  ================================
logs, ``check`` (CLI)     ``redact(body)``                            readable: long strings shortened
trigger events, XCom      ``redact(value, max_chars=None)``           result URLs stay usable
archive sidecars          ``redact(value, strip_url_queries=True)``   a sidecar outlives a signature
log messages with a URL   ``redact_url(url)``                         no query is ever logged
XCom image sources        ``redact_url(url, only_signed=True)``       an unsigned URL is its identity
========================  ==========================================  ================================

The bottom layer: imports nothing else from ``airflow_video_gen``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

__all__ = ["SIGNATURE_PARAMS", "redact", "redact_url"]

#: Query parameters that make a URL a bearer credential (S3, GCS, Azure and generic signatures).
SIGNATURE_PARAMS = frozenset(
    {"x-amz-signature", "x-amz-credential", "signature", "sig", "x-goog-signature", "token"}
)
#: Object types whose ``data`` holds base64 bytes: request images (``file``), results (``base64``).
_INLINE_TYPES = ("file", "base64")


def redact(value: Any, *, max_chars: int | None = 256, strip_url_queries: bool = False) -> Any:
    """A copy of a JSON-like value fit to show or store.

    - Every ``{"type": "file" | "base64", "data": <str>}`` loses its ``data`` and gains ``size``
      (the decoded size in bytes); its other keys (``mediaType``...) are kept.
    - Strings longer than ``max_chars`` become ``"<N chars>"``.
    - With ``strip_url_queries``, every ``http(s)://`` string is passed through :func:`redact_url`.

    :param value: Dicts, lists and scalars, as parsed from JSON.
    :param max_chars: Longest string kept whole (default 256); ``None`` keeps every string (events
        and XCom, whose result URLs must stay usable).
    :param strip_url_queries: Drop the query of every URL (default ``False``).
    """
    if isinstance(value, dict):
        if value.get("type") in _INLINE_TYPES and isinstance(value.get("data"), str):
            kept = {k: v for k, v in value.items() if k != "data"}
            return {
                **redact(kept, max_chars=max_chars, strip_url_queries=strip_url_queries),
                "size": _size(value),
            }
        return {
            k: redact(v, max_chars=max_chars, strip_url_queries=strip_url_queries) for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v, max_chars=max_chars, strip_url_queries=strip_url_queries) for v in value]
    if isinstance(value, str):
        if strip_url_queries and value.startswith(("http://", "https://")):
            value = redact_url(value)
        if max_chars is not None and len(value) > max_chars:
            return f"<{len(value)} chars>"
    return value


def redact_url(url: str, *, only_signed: bool = False) -> str:
    """A URL fit for logs: scheme, host, port and path; a query becomes ``?...``, credentials in
    the host part and the fragment are dropped. Anything but ``http(s)`` shows its first 16 chars.

    :param only_signed: Redact only a signed URL (one whose query names a
        :data:`SIGNATURE_PARAMS` entry) and keep any other whole (default ``False``). For XCom and
        request hashes: a signature is a bearer credential and changes each time the same object
        is signed, while an ordinary query is part of what the URL names.
    """
    if only_signed and not _is_signed(url):
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return url[:16] + "..." if len(url) > 16 else url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}" + ("?..." if parts.query else "")


def _is_signed(url: str) -> bool:
    query = url.partition("?")[2]
    return any(part.split("=", 1)[0].lower() in SIGNATURE_PARAMS for part in query.split("&") if part)


def _size(inline: dict[str, Any]) -> int:
    """Decoded size of base64 ``data`` (padding ignored, as every caller did before)."""
    return len(inline["data"]) * 3 // 4
