"""The AI Gateway video protocol, sans-IO: requests built, answers and errors read.

No HTTP client lives here. Transports (httpx for workers, aiohttp for the triggerer) send the
:class:`HttpRequest` this module builds and hand the status code, headers and bytes back to the
``read_*`` functions, which return results or raise a typed :class:`GatewayError` that says whether
a retry may help and when.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import hashlib
import hmac
import json
import random
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode, urlsplit

from airflow_video_gen import __version__

DEFAULT_BASE_URL = "https://ai-gateway.vercel.sh/v4/ai"
PROTOCOL_VERSION = "0.0.1"
MODEL_SPECIFICATION_VERSION = "4"
START_PATH = "/video-model/start"
STATUS_PATH = "/video-model/status"
GENERATE_PATH = "/video-model"
CONFIG_PATH = "/config"
#: Credits live at the base URL's origin, not under its path (the official client's ``getCredits()``).
CREDITS_PATH = "/v1/credits"

JobStatus = Literal["pending", "completed", "error", "cancelled"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "error", "cancelled"})


# --------------------------------------------------------------------------------------------- errors


class GatewayError(Exception):
    """An error answer (or no answer) from the gateway.

    :param message: The gateway's message, or what went wrong on the way.
    :param status_code: HTTP status, when there was an answer.
    :param error_type: The protocol's ``error.type``.
    :param param: The protocol's ``error.param``, when given.
    :param generation_id: The gateway's ``generationId``, when given.
    :param retry_after: Seconds the gateway asked to wait (``Retry-After``), when given.
    """

    retryable: ClassVar[bool] = False
    default_type: ClassVar[str] = "gateway_error"

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_type: str | None = None,
        param: Any = None,
        generation_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.error_type = error_type or self.default_type
        self.param = param
        self.generation_id = generation_id
        self.retry_after = retry_after
        where = f"{status_code} " if status_code else ""
        super().__init__(f"AI Gateway {where}{self.error_type}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        kwargs = {
            "status_code": self.status_code,
            "error_type": self.error_type,
            "param": self.param,
            "generation_id": self.generation_id,
            "retry_after": self.retry_after,
        }
        return (_rebuild_error, (type(self), self.message, kwargs))


def _rebuild_error(cls: type[GatewayError], message: str, kwargs: dict[str, Any]) -> GatewayError:
    return cls(message, **kwargs)


class InvalidRequestError(GatewayError):
    """400 ``invalid_request_error``: the request is wrong; do not retry."""

    default_type = "invalid_request_error"


class AuthenticationError(GatewayError):
    """401 ``authentication_error``: the API key is missing or wrong."""

    default_type = "authentication_error"


class ForbiddenError(GatewayError):
    """403 ``forbidden``."""

    default_type = "forbidden"


class MissingApiKeyError(GatewayError):
    """The connection has no API key: raised before any call, never retried. Its text is the
    message alone (no call was made, so there is no status to show)."""

    default_type = "missing_api_key"

    def __str__(self) -> str:
        return self.message


class ModelNotFoundError(GatewayError):
    """404 ``model_not_found``: the gateway does not know the model id."""

    default_type = "model_not_found"


class NotFoundError(GatewayError):
    """404 ``not_found`` (an unknown operation, an expired file)."""

    default_type = "not_found"


class RetryableGatewayError(GatewayError):
    """A transient error: retry with backoff."""

    retryable = True


class FailedDependencyError(RetryableGatewayError):
    """424 ``failed_dependency``: the provider behind the gateway failed."""

    default_type = "failed_dependency"


class RateLimitError(RetryableGatewayError):
    """429 ``rate_limit_exceeded``: retry after ``retry_after`` seconds when given."""

    default_type = "rate_limit_exceeded"


class ServerError(RetryableGatewayError):
    """500 and other 5xx answers."""

    default_type = "internal_server_error"


class GatewayTransportError(RetryableGatewayError):
    """No usable answer: connection refused or reset, timeout, a truncated stream."""

    default_type = "transport_error"


class GatewayProtocolError(GatewayError):
    """An answer that does not follow the protocol (not JSON, missing fields)."""

    default_type = "protocol_error"


class VideoTooLargeError(GatewayError):
    """A video larger than the download cap."""

    default_type = "video_too_large"


_BY_TYPE: dict[str, type[GatewayError]] = {
    c.default_type: c
    for c in (
        InvalidRequestError,
        AuthenticationError,
        ForbiddenError,
        ModelNotFoundError,
        NotFoundError,
        FailedDependencyError,
        RateLimitError,
        ServerError,
    )
}
_BY_STATUS: dict[int, type[GatewayError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    410: NotFoundError,
    424: FailedDependencyError,
    429: RateLimitError,
}


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def error_from_answer(status_code: int, headers: Mapping[str, str], content: bytes) -> GatewayError:
    """The typed error for a non-2xx answer, from its status and ``{"error": {...}}`` body."""
    payload: Any = None
    with contextlib.suppress(ValueError):
        payload = json.loads(content) if content else None
    err = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(err, dict):
        message = str(err.get("message") or "")
        error_type = err.get("type") if isinstance(err.get("type"), str) else None
        param = err.get("param")
    else:
        message = content[:200].decode("utf-8", "replace").strip() if content else ""
        error_type, param = None, None
    cls = _BY_TYPE.get(error_type or "") or _BY_STATUS.get(status_code)
    if cls is None:
        cls = ServerError if status_code >= 500 else GatewayError
    if cls is ServerError and error_type is None:
        error_type = f"http_{status_code}"
    generation_id = payload.get("generationId") if isinstance(payload, dict) else None
    return cls(
        message or f"HTTP {status_code}",
        status_code=status_code,
        error_type=error_type,
        param=param,
        generation_id=generation_id if isinstance(generation_id, str) else None,
        retry_after=parse_retry_after(_header(headers, "retry-after")),
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


# --------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class GatewayConfig:
    """Where and how to reach the gateway.

    :param api_key: The API key (sent as a bearer token; never shown by ``repr``).
    :param base_url: Full base URL, default ``https://ai-gateway.vercel.sh/v4/ai``.
    :param team: Optional team, sent as ``x-vercel-ai-gateway-team``.
    :param timeout: Seconds for each call (connect and read), default 60.
    :param verify: Verify TLS certificates (default ``True``).
    :param user_agent: The ``user-agent`` header.
    """

    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    team: str | None = None
    timeout: float = 60.0
    verify: bool = True
    user_agent: str = f"airflow-video-gen/{__version__}"

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request to send. ``repr`` hides the headers' secrets and the body."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    def __repr__(self) -> str:
        return f"HttpRequest({self.method} {self.url}, {len(self.body)} bytes)"


def headers(config: GatewayConfig, model: str, *, accept: str | None = None) -> dict[str, str]:
    """The headers of every call, as GATEWAY_PROTOCOL.md lists them."""
    out = {
        "authorization": f"Bearer {config.api_key}",
        "ai-gateway-protocol-version": PROTOCOL_VERSION,
        "ai-gateway-auth-method": "api-key",
        "ai-video-model-specification-version": MODEL_SPECIFICATION_VERSION,
        "ai-model-id": model,
        "content-type": "application/json",
        "user-agent": config.user_agent,
    }
    if config.team:
        out["x-vercel-ai-gateway-team"] = config.team
    if accept:
        out["accept"] = accept
    return out


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def build_config(config: GatewayConfig) -> HttpRequest:
    """``GET {base}/config``: the gateway's models (the official client's ``getAvailableModels()``).

    The headers are the official client's for this call: the key, the protocol version, the auth
    method and the team, without the model headers and without a body.
    """
    return HttpRequest("GET", config.url(CONFIG_PATH), _account_headers(config), b"")


def _account_headers(config: GatewayConfig) -> dict[str, str]:
    """The headers of the calls that concern the account rather than a model (config, credits)."""
    hdrs = {
        "authorization": f"Bearer {config.api_key}",
        "ai-gateway-protocol-version": PROTOCOL_VERSION,
        "ai-gateway-auth-method": "api-key",
        "user-agent": config.user_agent,
    }
    if config.team:
        hdrs["x-vercel-ai-gateway-team"] = config.team
    return hdrs


def credits_url(config: GatewayConfig) -> str:
    """``{origin}/v1/credits``: the base URL's scheme and host, with ``?teamId=`` (a team id,
    ``team_...``) or ``?slug=`` (any other team) when the config names a team."""
    parts = urlsplit(config.base_url)
    url = f"{parts.scheme}://{parts.netloc}{CREDITS_PATH}"
    if config.team:
        query = {"teamId" if config.team.startswith("team_") else "slug": config.team}
        url += "?" + urlencode(query)
    return url


def build_credits(config: GatewayConfig) -> HttpRequest:
    """``GET {origin}/v1/credits``: the team's balance (the official client's ``getCredits()``).

    Same headers as :func:`build_config`; free, and safe to repeat.
    """
    return HttpRequest("GET", credits_url(config), _account_headers(config), b"")


def build_start(
    config: GatewayConfig, model: str, body: Mapping[str, Any], idempotency_key: str
) -> HttpRequest:
    """``POST {base}/video-model/start``: the billable call, carrying ``idempotency-key``."""
    hdrs = headers(config, model)
    hdrs["idempotency-key"] = idempotency_key
    return HttpRequest("POST", config.url(START_PATH), hdrs, _json(body))


def build_status(config: GatewayConfig, model: str, operation: Any) -> HttpRequest:
    """``POST {base}/video-model/status`` with the operation exactly as start returned it."""
    return HttpRequest(
        "POST", config.url(STATUS_PATH), headers(config, model), _json({"operation": operation})
    )


def build_generate(config: GatewayConfig, model: str, body: Mapping[str, Any]) -> HttpRequest:
    """``POST {base}/video-model``: synchronous generation answered by one SSE event."""
    payload = dict(body)
    payload.pop("callbackUrl", None)
    payload.setdefault("providerOptions", {})
    hdrs = headers(config, model, accept="text/event-stream")
    return HttpRequest("POST", config.url(GENERATE_PATH), hdrs, _json(payload))


def derive_idempotency_key(*parts: Any) -> str:
    """A stable key from the parts that identify one logical start (never the try number)."""
    digest = hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()
    return f"avg_{digest[:48]}"


def generation_key(base_key: str, attempt: int) -> str:
    """The key of generation number ``attempt`` (from 1) of one task and request: ``base_key``
    itself for the first, then a deterministic chain, so a task that runs again finds its earlier
    generations by their keys and starts a new one only after a failed one."""
    return base_key if attempt <= 1 else derive_idempotency_key(base_key, "generation", attempt)


# --------------------------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class StartResult:
    """The answer to start: the opaque operation to poll with, warnings and metadata.

    :param webhook_signing_secret: ``providerMetadata.gateway.asyncJob.webhookSigningSecret``, given
        when the start carried a ``callbackUrl``: the key of the callback's signature. It is taken
        out of ``provider_metadata`` and hidden from ``repr``, so metadata can be logged and stored.
    """

    operation: Any
    warnings: list[dict[str, Any]]
    provider_metadata: dict[str, Any]
    webhook_signing_secret: str | None = field(default=None, repr=False)

    @property
    def job_id(self) -> str | None:
        """``providerMetadata.gateway.asyncJob.jobId``, when given."""
        job_id = _async_job(self.provider_metadata).get("jobId")
        return job_id if isinstance(job_id, str) else None

    @property
    def job_status(self) -> str | None:
        """``providerMetadata.gateway.asyncJob.status`` (``queued``...), when given."""
        return _async_job(self.provider_metadata).get("status")


@dataclass(frozen=True)
class StatusResult:
    """A job's state.

    :param status: ``pending``, ``completed``, ``error`` or ``cancelled``.
    :param videos: For ``completed``: ``{"type": "url", "url", "mediaType"}``,
        ``{"type": "base64", "data", "mediaType"}`` or ``{"type": "uploaded", "mediaType"}`` (the
        gateway delivered the video to the team's upload destination: a result, with no bytes to
        fetch).
    :param error: For ``error``: the gateway's message.
    """

    status: JobStatus
    videos: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    provider_metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def job_status(self) -> str | None:
        """The finer ``asyncJob.status`` (``queued``, ``running``...), when given."""
        return _async_job(self.provider_metadata).get("status")

    @property
    def expires_at(self) -> float | None:
        """When URL results expire (``asyncJob.result.expiresAt``), as given."""
        result = _async_job(self.provider_metadata).get("result")
        value = result.get("expiresAt") if isinstance(result, dict) else None
        return float(value) if isinstance(value, (int, float)) else None


def _async_job(metadata: Mapping[str, Any]) -> dict[str, Any]:
    gateway = metadata.get("gateway") if isinstance(metadata, Mapping) else None
    job = gateway.get("asyncJob") if isinstance(gateway, Mapping) else None
    return job if isinstance(job, dict) else {}


def _ok_json(status_code: int, headers: Mapping[str, str], content: bytes) -> dict[str, Any]:
    if not 200 <= status_code < 300:
        raise error_from_answer(status_code, headers, content)
    try:
        data = json.loads(content)
    except ValueError:
        raise GatewayProtocolError(f"answer is not JSON: {content[:80]!r}", status_code=status_code) from None
    if not isinstance(data, dict):
        raise GatewayProtocolError("answer is not a JSON object", status_code=status_code)
    return data


def _list_of_dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def read_start(status_code: int, headers: Mapping[str, str], content: bytes) -> StartResult:
    """Read the answer to start. :raises GatewayError: For an error answer."""
    data = _ok_json(status_code, headers, content)
    if "operation" not in data or data["operation"] is None:
        raise GatewayProtocolError("start answer has no operation", status_code=status_code)
    metadata = data.get("providerMetadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    secret = None
    if "webhookSigningSecret" in _async_job(metadata):
        job = dict(_async_job(metadata))
        secret = job.pop("webhookSigningSecret")
        metadata = {**metadata, "gateway": {**metadata["gateway"], "asyncJob": job}}
    return StartResult(
        operation=data["operation"],
        warnings=_list_of_dicts(data.get("warnings")),
        provider_metadata=metadata,
        webhook_signing_secret=secret if isinstance(secret, str) and secret else None,
    )


def status_from_json(data: Mapping[str, Any]) -> StatusResult:
    """A :class:`StatusResult` from a status answer (or an SSE result event).

    Videos are kept as listed, of any ``type``; a completed job needs at least one, and one the
    gateway delivered elsewhere (``uploaded``) counts.
    """
    status = data.get("status", "completed" if data.get("type") == "result" else None)
    if status not in ("pending", "completed", "error", "cancelled"):
        raise GatewayProtocolError(f"unknown job status {status!r}")
    metadata = data.get("providerMetadata")
    videos = _list_of_dicts(data.get("videos"))
    if status == "completed" and not videos:
        raise GatewayProtocolError("completed job has no videos")
    error = data.get("error")
    if isinstance(error, dict):
        error = error.get("message")
    return StatusResult(
        status=status,
        videos=videos,
        warnings=_list_of_dicts(data.get("warnings")),
        provider_metadata=metadata if isinstance(metadata, dict) else {},
        error=str(error) if error is not None else None,
    )


def read_status(status_code: int, headers: Mapping[str, str], content: bytes) -> StatusResult:
    """Read the answer to status. :raises GatewayError: For an error answer."""
    return status_from_json(_ok_json(status_code, headers, content))


@dataclass(frozen=True)
class GatewayModel:
    """One model the gateway lists (an entry of ``GET {base}/config``).

    :param id: Gateway model id, ``creator/model``.
    :param name: Display name.
    :param description: One line, when given.
    :param model_type: ``video``, ``image``, ``language``... when given.
    :param provider: ``specification.provider``, when given.
    :param pricing: The gateway's ``pricing`` object (decimal strings), when given.
    """

    id: str
    name: str
    description: str | None = None
    model_type: str | None = None
    provider: str | None = None
    pricing: Mapping[str, Any] | None = field(default=None, compare=False)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def read_config(status_code: int, headers: Mapping[str, str], content: bytes) -> list[GatewayModel]:
    """Read the answer to ``GET {base}/config``: ``{"models": [{"id", "name", ...}]}``.

    :raises GatewayError: For an error answer; :class:`GatewayProtocolError` when the answer has no
        model list or an entry without a string ``id``.
    """
    data = _ok_json(status_code, headers, content)
    entries = data.get("models")
    if not isinstance(entries, list):
        raise GatewayProtocolError("config answer has no models list", status_code=status_code)
    models: list[GatewayModel] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise GatewayProtocolError(
                f"config answer lists a model without an id: {str(entry)[:80]}", status_code=status_code
            )
        spec = entry.get("specification")
        provider = spec.get("provider") if isinstance(spec, dict) else None
        pricing = entry.get("pricing")
        models.append(
            GatewayModel(
                id=entry["id"],
                name=str(entry.get("name") or entry["id"]),
                description=_str_or_none(entry.get("description")),
                model_type=_str_or_none(entry.get("modelType")),
                provider=_str_or_none(provider),
                pricing=pricing if isinstance(pricing, dict) else None,
            )
        )
    return models


@dataclass(frozen=True)
class Credits:
    """The team's credits, in the gateway's currency unit (US dollars on AI Gateway).

    :param balance: What is left to spend.
    :param total_used: What has been spent so far.
    """

    balance: Decimal
    total_used: Decimal


def _decimal(data: Mapping[str, Any], name: str, status_code: int) -> Decimal:
    value = data.get(name)
    # The gateway sends decimal strings; a JSON number is read too, through its text (never a float).
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        try:
            found = Decimal(str(value).strip())
        except InvalidOperation:
            found = None
        if found is not None and found.is_finite():
            return found
    raise GatewayProtocolError(
        f"credits answer has no decimal {name!r}: {str(value)[:40]!r}", status_code=status_code
    )


def read_credits(status_code: int, headers: Mapping[str, str], content: bytes) -> Credits:
    """Read the answer to ``GET {origin}/v1/credits``:
    ``{"balance": "<decimal>", "total_used": "<decimal>"}``.

    :raises GatewayError: For an error answer; :class:`GatewayProtocolError` when a field is
        missing or not a decimal.
    """
    data = _ok_json(status_code, headers, content)
    return Credits(
        balance=_decimal(data, "balance", status_code),
        total_used=_decimal(data, "total_used", status_code),
    )


class SseDecoder:
    """Incremental reader of the synchronous endpoint's event stream.

    Feed it bytes as they arrive; it returns each complete ``data:`` event as a dict. Comments
    (keep-alives, lines starting with ``:``) are skipped.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        self._buffer += chunk
        events: list[dict[str, Any]] = []
        while b"\n" in self._buffer:
            raw, self._buffer = self._buffer.split(b"\n", 1)
            line = raw.rstrip(b"\r").decode("utf-8", "replace")
            if not line:
                if self._data:
                    events.append(self._event("\n".join(self._data)))
                    self._data = []
            elif line.startswith("data:"):
                self._data.append(line[5:].removeprefix(" "))
        return events

    def close(self) -> list[dict[str, Any]]:
        """Events left when the stream ended without a blank line."""
        events = self.feed(b"\n\n")
        return events

    @staticmethod
    def _event(text: str) -> dict[str, Any]:
        try:
            data = json.loads(text)
        except ValueError:
            raise GatewayProtocolError(f"event is not JSON: {text[:80]!r}") from None
        if not isinstance(data, dict):
            raise GatewayProtocolError("event is not a JSON object")
        return data


def read_generate_event(event: Mapping[str, Any]) -> StatusResult:
    """The result of an SSE event: ``result`` -> completed; ``error`` -> raises its typed error."""
    if event.get("type") == "error":
        status = event.get("statusCode")
        code = int(status) if isinstance(status, int) else 500
        body = {
            "error": {
                "message": event.get("message"),
                "type": event.get("errorType"),
                "param": event.get("param"),
            }
        }
        raise error_from_answer(code, {}, _json(body))
    if event.get("type") != "result":
        raise GatewayProtocolError(f"unknown event type {event.get('type')!r}")
    return status_from_json(event)


def decode_base64_video(data: str, chunk_chars: int = 4 * 1024 * 1024) -> Iterator[bytes]:
    """Decode a base64 video in pieces, so the decoded bytes never sit whole in memory twice."""
    if any(c in data[:4096] for c in "\r\n "):
        # Wrapped base64 (MIME style): piece boundaries must fall on whole 4-character groups.
        data = "".join(data.split())
    step = chunk_chars - chunk_chars % 4
    for start in range(0, len(data), step):
        yield base64.b64decode(data[start : start + step])


# --------------------------------------------------------------------------------------------- callbacks

#: The header a callback is signed in: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``,
#: keyed with the start's ``webhookSigningSecret``.
WEBHOOK_SIGNATURE_HEADER = "x-ai-gateway-signature"
#: ``<jobId>-<status>``: the same on every retry of one delivery (not signed).
WEBHOOK_DELIVERY_HEADER = "x-ai-gateway-idempotency-key"
#: Seconds a signature's timestamp may be away from now (the official client's guide: 5 minutes).
WEBHOOK_MAX_AGE = 300.0
#: Largest callback body read (the official client's guide: 64 KiB).
WEBHOOK_MAX_BYTES = 64 * 1024
#: A callback's ``data.status``: the job's terminal state (``failed`` where status says ``error``).
WEBHOOK_STATUSES = frozenset({"completed", "failed", "cancelled"})
_SIGNATURE_PART = re.compile(r"(?:^|,)\s*(t|v1)=([^,]*)")


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``v1`` digest of a callback: hex HMAC-SHA256 of ``"<timestamp>.<raw body>"``."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def webhook_timestamp(header: str | None, *, now: float | None = None) -> int | None:
    """The timestamp of a well-formed, fresh signature header (``t=...,v1=<64 hex>``), else
    ``None``: a caller refuses such a callback before looking anything up."""
    parts = dict(_SIGNATURE_PART.findall(header or ""))
    stamp, digest = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or not re.fullmatch(r"[0-9a-f]{64}", digest):
        return None
    timestamp = int(stamp)
    if abs((time.time() if now is None else now) - timestamp) > WEBHOOK_MAX_AGE:
        return None
    return timestamp


def verify_webhook(header: str | None, body: bytes, secret: str, *, now: float | None = None) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` and is fresh (:data:`WEBHOOK_MAX_AGE`);
    compared in constant time."""
    timestamp = webhook_timestamp(header, now=now)
    if timestamp is None:
        return False
    digest = dict(_SIGNATURE_PART.findall(header or ""))["v1"]
    return hmac.compare_digest(digest, webhook_signature(secret, timestamp, body))


@dataclass(frozen=True)
class WebhookEvent:
    """A callback's terminal facts: ``{"type": "video.generation.<status>", "data": {"jobId",
    "status"}}``. Never the result: that is read with a status call."""

    type: str
    job_id: str
    status: str


def read_webhook(body: bytes) -> WebhookEvent:
    """Read a callback body (verify its signature first, or treat it as a hint only).

    :raises GatewayProtocolError: When it is not such an event.
    """
    try:
        data = json.loads(body)
    except ValueError:
        raise GatewayProtocolError("callback body is not JSON") from None
    event = data.get("data") if isinstance(data, dict) else None
    job_id = event.get("jobId") if isinstance(event, dict) else None
    status = event.get("status") if isinstance(event, dict) else None
    if not isinstance(job_id, str) or not job_id or status not in WEBHOOK_STATUSES:
        raise GatewayProtocolError("callback body has no data.jobId and terminal data.status")
    return WebhookEvent(type=str(data.get("type") or ""), job_id=job_id, status=str(status))


# --------------------------------------------------------------------------------------------- retries


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff, full jitter and ``Retry-After``.

    :param max_retries: Retries after the first try (default 3).
    :param base_delay: First backoff ceiling in seconds (default 1).
    :param max_delay: Largest backoff in seconds (default 30).
    :param max_retry_after: Largest ``Retry-After`` honoured; longer waits fail the call (default 300).
    """

    max_retries: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_retry_after: float = 300.0

    def delay(self, attempt: int, error: GatewayError, rng: random.Random | None = None) -> float | None:
        """Seconds to wait before retry ``attempt`` (0-based), or ``None`` to give up."""
        if not error.retryable or attempt >= self.max_retries:
            return None
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.max_retry_after else None
        ceiling = min(self.max_delay, self.base_delay * (2**attempt))
        return (rng or random).uniform(0, ceiling)
