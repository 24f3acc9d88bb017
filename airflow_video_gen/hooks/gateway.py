"""VideoGatewayHook: moves the bytes of the AI Gateway video protocol.

The protocol itself (requests, answers, errors, retry advice) is :mod:`airflow_video_gen.protocol`;
this hook only sends and receives: httpx in workers, and in the triggerer aiohttp with one shared
``ClientSession`` per event loop (measured to cost the least CPU per poll; see DESIGN.md). Result
videos, plain files on the gateway's file host, are downloaded with requests (a fifth of httpx's
CPU per byte; see :attr:`VideoGatewayHook.downloads`).
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any, TypeVar

import aiohttp
import httpx
import requests
from airflow.sdk import BaseHook

from airflow_video_gen import UI_FIELD_BEHAVIOUR, protocol
from airflow_video_gen.hooks import DEFAULT_CONN_ID
from airflow_video_gen.protocol import (
    AuthenticationError,
    Credits,
    ForbiddenError,
    GatewayConfig,
    GatewayError,
    GatewayModel,
    GatewayProtocolError,
    GatewayTransportError,
    HttpRequest,
    MissingApiKeyError,
    RetryPolicy,
    StartResult,
    StatusResult,
    VideoTooLargeError,
)

if TYPE_CHECKING:
    from airflow.sdk import Connection

T = TypeVar("T")
Reader = Callable[[int, Mapping[str, str], bytes], T]

#: Default cap on one downloaded video (the official client's is 2 GiB).
DEFAULT_MAX_VIDEO_BYTES = 4 * 1024**3
#: Bytes a video download reads at a time.
DOWNLOAD_READ_SIZE = 1024 * 1024
#: Connections the shared aiohttp session keeps per event loop.
ASYNC_POOL_SIZE = 100

_SESSIONS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[bool, aiohttp.ClientSession]] = (
    weakref.WeakKeyDictionary()
)
#: Seconds a connection read in the triggerer is reused by the loop's other triggers.
CONFIG_TTL = 60.0
#: A connection read: when, its settings, and where they point (for the log line).
_ConfigRead = tuple[float, GatewayConfig, str]
_CONFIGS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _ConfigRead]] = (
    weakref.WeakKeyDictionary()
)
_CONFIG_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)
_POOL_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)
#: Per loop that has shared sessions, the generator that closes them at the loop's shutdown.
_LOOP_CLOSERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = (
    weakref.WeakKeyDictionary()
)


def shared_session(verify: bool = True) -> aiohttp.ClientSession:
    """The event loop's one aiohttp session (created on first use), pooling connections for all
    triggers of the loop, and closed when the loop shuts down (see :func:`_closer`)."""
    loop = asyncio.get_running_loop()
    sessions = _SESSIONS.get(loop)
    session = sessions.get(verify) if sessions is not None else None
    if session is None or session.closed:
        if loop not in _LOOP_CLOSERS:
            _close_sessions_of_closed_loops()
            _LOOP_CLOSERS[loop] = _start_closer()
        connector = aiohttp.TCPConnector(limit=ASYNC_POOL_SIZE, ssl=verify)
        session = _SESSIONS.setdefault(loop, {})[verify] = aiohttp.ClientSession(connector=connector)
    return session


def pool_gate() -> asyncio.Semaphore:
    """The event loop's gate in front of its shared sessions: at most :data:`ASYNC_POOL_SIZE` calls
    are inside aiohttp at once.

    Without it, a call that finds the pool busy builds its whole aiohttp request and waits inside
    the connector, for as long as the queue takes. With thousands of triggers polling, those
    waiting requests live for seconds, reach the garbage collector's oldest generation and make it
    walk the whole triggerer heap again and again; at the gate, a waiting call holds only its
    coroutine. A call waits at the gate for at most its connection's ``timeout``, then fails as a
    transient error (retried as any other), so a hung gateway does not queue calls forever.
    """
    loop = asyncio.get_running_loop()
    gate = _POOL_GATES.get(loop)
    if gate is None:
        gate = _POOL_GATES[loop] = asyncio.Semaphore(ASYNC_POOL_SIZE)
    return gate


async def _enter(gate: asyncio.Semaphore, timeout: float) -> None:
    """Pass ``gate``, waiting at most ``timeout`` seconds (a free gate costs no timer)."""
    if not gate.locked():
        await gate.acquire()
        return
    try:
        await asyncio.wait_for(gate.acquire(), timeout)
    except asyncio.TimeoutError:
        raise GatewayTransportError(
            f"no free connection within {timeout:g} s ({ASYNC_POOL_SIZE} calls in flight on this event loop)"
        ) from None


async def close_shared_sessions() -> None:
    """Close the running loop's shared sessions now (they are closed at the loop's shutdown anyway)."""
    for session in _SESSIONS.pop(asyncio.get_running_loop(), {}).values():
        await session.close()


async def _closer() -> AsyncGenerator[None, None]:
    """Waits at its ``yield`` for the loop's shutdown, then closes the loop's shared sessions and
    forgets the loop.

    asyncio has no hook on a loop's close, but ``asyncio.run`` and ``asyncio.Runner`` (so Airflow's
    triggerer, ``dag.test()`` and pytest-asyncio) call ``loop.shutdown_asyncgens()`` before closing
    their loop: once every task has been cancelled and has finished, it closes, in the loop, each
    async generator the loop has seen start. This one is started in :func:`shared_session`, so its
    ``finally`` runs then, while the loop can still close connections properly; until then it costs
    nothing, and the session stays shared by every trigger.
    """
    try:
        yield
    finally:
        for session in _forget_loop(asyncio.get_running_loop()):
            await session.close()


def _start_closer() -> AsyncGenerator[None, None]:
    """A :func:`_closer` for the running loop, started."""
    closer = _closer()
    # The first step, taken here in the running loop, registers the generator with the loop (its
    # async-generator first-iteration hook); nothing before the `yield` awaits, so the step ends at once.
    with suppress(StopIteration):
        closer.asend(None).send(None)
    return closer


def _forget_loop(loop: asyncio.AbstractEventLoop) -> list[aiohttp.ClientSession]:
    """Drop everything kept for ``loop``; the shared sessions it had, for the caller to close."""
    for cache in (_POOL_GATES, _CONFIGS, _CONFIG_LOCKS, _LOOP_CLOSERS):
        cache.pop(loop, None)
    return list(_SESSIONS.pop(loop, {}).values())


def _close_on_closed_loop(session: aiohttp.ClientSession) -> None:
    """Close a session whose loop is closed, without a loop and without a word.

    aiohttp does no I/O when the loop is closed: it marks the connector closed (so neither the
    session nor the connector reports "Unclosed" when collected) and yields once, so the coroutine
    runs to its end right here.
    """
    for _ in session.close().__await__():
        pass


def _close_sessions_of_closed_loops() -> None:
    """Close the sessions of loops that were closed without their shutdown step (a loop closed by
    hand, without ``shutdown_asyncgens()``): run when a new loop takes a session, and at exit."""
    for loop in [loop for loop in list(_LOOP_CLOSERS) + list(_SESSIONS) if loop.is_closed()]:
        for session in _forget_loop(loop):
            _close_on_closed_loop(session)


# At exit, the sessions of loops closed by hand would otherwise be collected unclosed, and report it
# through logging streams that may be closed by then ("ValueError: I/O operation on closed file").
atexit.register(_close_sessions_of_closed_loops)


@dataclass(frozen=True)
class DownloadResult:
    """A video moved to a sink: its size, sha256 and media type."""

    size: int
    sha256: str
    media_type: str | None


def missing_key_message(conn_id: str) -> str:
    """What a task says when connection ``conn_id`` has no API key: where the key goes, or how to
    use another connection."""
    return (
        f"Connection '{conn_id}' has no API key: set its password (the \"API key\" field in the UI, "
        f'"password" in AIRFLOW_CONN_{conn_id.upper()}), or point the task at another connection '
        "with gateway_conn_id="
    )


def config_from_connection(conn: Connection) -> GatewayConfig:
    """A :class:`GatewayConfig` from an ``ai_gateway`` connection.

    ``host`` is the full base URL (``https://ai-gateway.vercel.sh/v4/ai``). A host without a scheme
    (as a connection URI gives it) is joined with ``port`` and ``schema`` (the path, default
    ``v4/ai``), over https unless the extra ``scheme`` says otherwise.
    """
    extra = conn.extra_dejson or {}
    host = (conn.host or "").strip()
    if not host:
        base_url = protocol.DEFAULT_BASE_URL
    elif "://" in host:
        base_url = host
    else:
        port = f":{conn.port}" if conn.port else ""
        path = (conn.schema or "v4/ai").strip("/")
        base_url = f"{extra.get('scheme', 'https')}://{host}{port}/{path}"
    verify = extra.get("verify", extra.get("verify_ssl", True))
    if isinstance(verify, str):
        verify = verify.lower() not in ("false", "0", "no")
    return GatewayConfig(
        api_key=conn.password or "",
        base_url=base_url.rstrip("/"),
        team=extra.get("team") or None,
        timeout=float(extra.get("timeout", 60.0)),
        verify=bool(verify),
    )


class VideoGatewayHook(BaseHook):
    """Talks to AI Gateway's video endpoints: start, status, synchronous generate, downloads.

    :param gateway_conn_id: Connection of type ``ai_gateway`` (default ``ai_gateway_default``):
        host is the full base URL, password the API key; extras ``team``, ``timeout`` (seconds,
        default 60) and ``verify`` (TLS verification, default true).
    :param retry_policy: Retries for transient errors (429, 424, 5xx, connection trouble); default
        3 retries with exponential backoff, full jitter and ``Retry-After``.
    :param config: A ready :class:`GatewayConfig`, bypassing the connection (tools, benchmarks).
    """

    conn_name_attr = "gateway_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "ai_gateway"
    hook_name = "AI Gateway"
    #: The parent of hook loggers (``BaseHook`` sets it on each instance; here for :meth:`logger`).
    _log_config_logger_name = "airflow.task.hooks"

    def __init__(
        self,
        gateway_conn_id: str = default_conn_name,
        *,
        retry_policy: RetryPolicy | None = None,
        config: GatewayConfig | None = None,
    ) -> None:
        super().__init__()
        self.gateway_conn_id = gateway_conn_id
        self.retry_policy = retry_policy or RetryPolicy()
        self._config = config
        #: Whether the connection id names where the settings came from (``config`` not given).
        self._conn_named = config is None
        self.retries_made = 0

    @property
    def log(self) -> Any:
        """One logger for every hook of the class, named as Airflow names a hook's: Airflow makes a
        logger of a dozen objects for each instance, and a triggerer holds a hook per trigger."""
        return type(self).logger()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Connection form: host is the base URL and password the API key."""
        return {key.replace("-", "_"): value for key, value in UI_FIELD_BEHAVIOUR.items()}

    # ----------------------------------------------------------------------------------- config

    @property
    def config(self) -> GatewayConfig:
        """The gateway settings, read from the connection once (the API key is masked in logs)."""
        if self._config is None:
            self._config = self._use(*self._read(self.get_connection(self.gateway_conn_id)))
        return self._config

    async def aconfig(self) -> GatewayConfig:
        """As :attr:`config`, without blocking the event loop.

        The triggers of a loop share one lookup per connection for :data:`CONFIG_TTL` seconds:
        thousands of triggers starting at once would otherwise each read the connection, which
        costs enough CPU, all at once, to stall the loop.
        """
        if self._config is None:
            loop = asyncio.get_running_loop()
            cache = _CONFIGS.setdefault(loop, {})
            found = cache.get(self.gateway_conn_id)
            if found is None or time.monotonic() - found[0] > CONFIG_TTL:
                lock = _CONFIG_LOCKS.setdefault(loop, {}).setdefault(self.gateway_conn_id, asyncio.Lock())
                async with lock:
                    found = cache.get(self.gateway_conn_id)
                    if found is None or time.monotonic() - found[0] > CONFIG_TTL:
                        conn = await self.aget_connection(self.gateway_conn_id)
                        found = cache[self.gateway_conn_id] = (time.monotonic(), *self._read(conn))
            self._config = self._use(found[1], found[2])
        return self._config

    def _read(self, conn: Connection) -> tuple[GatewayConfig, str]:
        """The settings of a connection (its API key masked in logs) and where they point, in words."""
        config = config_from_connection(conn)
        if config.api_key:
            from airflow.sdk.log import mask_secret

            mask_secret(config.api_key)
        # A URI connection with an empty host reaches production without saying so: say it.
        default = " (the default: the connection has no host)" if not (conn.host or "").strip() else ""
        return config, f"{config.base_url} (connection {self.gateway_conn_id}){default}"

    def _use(self, config: GatewayConfig, where: str) -> GatewayConfig:
        self.log.info("Using AI Gateway at %s", where)
        return config

    def keyed_config(self) -> GatewayConfig:
        """:attr:`config`, refused when it has no API key (before any call).

        :raises MissingApiKeyError: When the connection has no password; not transient, so tasks
            fail without retry.
        """
        return self._checked(self.config)

    async def akeyed_config(self) -> GatewayConfig:
        """As :meth:`keyed_config`, without blocking the event loop."""
        return self._checked(await self.aconfig())

    def _checked(self, config: GatewayConfig) -> GatewayConfig:
        if not config.api_key:
            raise MissingApiKeyError(missing_key_message(self.gateway_conn_id))
        return config

    def located(self, error: GatewayError) -> GatewayError:
        """``error`` with the base URL and the connection added to its message, as tasks show it;
        a refused key (401) also says where the key is set.

        An error that says so already is returned as it is, and so is :class:`MissingApiKeyError`
        (it names the connection itself).
        """
        base = self._config.base_url if self._config is not None else protocol.DEFAULT_BASE_URL
        conn = self.gateway_conn_id
        named = self._conn_named or conn != self.default_conn_name
        where = f" ({base}, connection {conn})" if named else f" ({base})"
        if isinstance(error, MissingApiKeyError) or where in error.message:
            return error
        message = error.message + where
        if isinstance(error, AuthenticationError) and named:
            message += f"; check the API key (password) of connection {conn}"
        return type(error)(
            message,
            status_code=error.status_code,
            error_type=error.error_type,
            param=error.param,
            generation_id=error.generation_id,
            retry_after=error.retry_after,
        )

    @cached_property
    def client(self) -> httpx.Client:
        """The worker-side httpx client (one per hook, pooled)."""
        cfg = self.config
        return httpx.Client(timeout=httpx.Timeout(cfg.timeout), verify=cfg.verify)

    @cached_property
    def downloads(self) -> requests.Session:
        """The session that downloads result videos (one per hook, pooled): a plain GET of a file
        host, without the API key. It reads a MiB at a time for a fifth of the CPU per byte that
        httpx's stream of 64 KiB chunks costs (docs/benchmarks.md, run 13): for a video of
        gigabytes, the CPU that the archive's upload and sha256 share."""
        return requests.Session()

    def close(self) -> None:
        """Close the httpx client and the download session, if they were opened."""
        for name in ("client", "downloads"):
            if name in self.__dict__:
                self.__dict__.pop(name).close()

    # ----------------------------------------------------------------------------------- sync

    def retry_delay(self, attempt: int, error: GatewayError, what: str) -> float:
        """Seconds before retry number ``attempt``, logged; shared by both transports (only the
        sleeping differs).

        :param attempt: The retry about to be made, from 1.
        :param error: What the failed try raised.
        :param what: The call, for the log line (``"status <model>"``).
        :raises GatewayError: ``error`` itself (:meth:`located`), when the policy says not to retry.
        """
        delay = self.retry_policy.delay(attempt - 1, error)
        if delay is None:
            raise self.located(error)
        self.retries_made += 1
        self.log.warning(
            "%s: %s; retry %d of %d in %.1f s", what, error, attempt, self.retry_policy.max_retries, delay
        )
        return delay

    def call_with_retries(self, call: Callable[[], T], what: str) -> T:
        """``call()``, tried again after transient failures as :attr:`retry_policy` says.

        :param call: Makes the whole call, from its first byte (a download is started again).
        :param what: The call, for the log lines.
        :raises GatewayError: The last error, once the policy gives up (or at once when it is not
            transient); an ``httpx`` transport error is raised as ``GatewayTransportError``.
        """
        attempt = 0
        while True:
            try:
                return call()
            except httpx.TransportError as exc:
                error: GatewayError = GatewayTransportError(f"{type(exc).__name__}: {exc}")
            except GatewayError as exc:
                error = exc
            attempt += 1
            time.sleep(self.retry_delay(attempt, error, what))

    def _call(self, request: HttpRequest, reader: Reader[T]) -> T:
        """One try of ``request``, its answer read by ``reader``."""
        resp = self.client.request(request.method, request.url, headers=request.headers, content=request.body)
        return reader(resp.status_code, resp.headers, resp.content)

    def _send(self, request: HttpRequest, reader: Reader[T], what: str) -> T:
        return self.call_with_retries(lambda: self._call(request, reader), what)

    def start(self, model: str, body: Mapping[str, Any], idempotency_key: str) -> StartResult:
        """Start a generation (billable). The same ``idempotency_key`` never bills twice.

        :param model: Gateway model id.
        :param body: The wire body (:meth:`VideoRequest.to_gateway_body`).
        :param idempotency_key: Key of this logical start, kept across retries.
        """
        request = protocol.build_start(self.keyed_config(), model, body, idempotency_key)
        self.log.info("Starting %s generation (idempotency key %s)", model, idempotency_key)
        return self._send(request, protocol.read_start, f"start {model}")

    def status(self, model: str, operation: Any) -> StatusResult:
        """Read a job's status (safe to repeat)."""
        request = protocol.build_status(self.keyed_config(), model, operation)
        return self._send(request, protocol.read_status, f"status {model}")

    def generate(self, model: str, body: Mapping[str, Any]) -> StatusResult:
        """Generate synchronously over SSE; the request stays open until the video is done.

        Not retried: without an idempotency key a retry could bill again. Use :meth:`start` for
        anything long or costly.
        """
        request = protocol.build_generate(self.keyed_config(), model, body)
        try:
            return self._generate(request)
        except GatewayError as exc:
            raise self.located(exc) from None

    def _generate(self, request: HttpRequest) -> StatusResult:
        decoder = protocol.SseDecoder()
        try:
            with self.client.stream(
                request.method, request.url, headers=request.headers, content=request.body
            ) as resp:
                if resp.status_code >= 300:
                    raise protocol.error_from_answer(resp.status_code, resp.headers, resp.read())
                for chunk in resp.iter_bytes():
                    for event in decoder.feed(chunk):
                        return protocol.read_generate_event(event)
        except httpx.TransportError as exc:
            raise GatewayTransportError(f"{type(exc).__name__}: {exc}") from None
        for event in decoder.close():
            return protocol.read_generate_event(event)
        raise GatewayProtocolError("event stream ended without a result")

    @contextmanager
    def open_video(
        self, video: Mapping[str, Any], *, max_bytes: int = DEFAULT_MAX_VIDEO_BYTES
    ) -> Iterator[Iterator[bytes]]:
        """Open a result video as an iterator of byte chunks, never holding it whole.

        URL videos are streamed (no API key is sent to the file host); base64 videos are decoded
        in pieces.

        :param video: A video of a completed status (``type`` ``url`` or ``base64``).
        :param max_bytes: Refuse videos larger than this (default 4 GiB).
        :raises VideoTooLargeError: When the video is, or turns out to be, larger than ``max_bytes``.
        :raises NotFoundError: When the URL has expired (404/410).
        """
        if video.get("type") == "base64":
            data = str(video.get("data") or "")
            if len(data) * 3 // 4 > max_bytes:
                raise VideoTooLargeError(
                    f"video is about {len(data) * 3 // 4:,} bytes; the cap is {max_bytes:,}"
                )
            yield protocol.decode_base64_video(data)
            return
        url = video.get("url")
        if video.get("type") != "url" or not isinstance(url, str):
            raise GatewayProtocolError(f"unknown video type {video.get('type')!r}")
        try:
            # ``verify`` per request: on the session it would give way to REQUESTS_CA_BUNDLE.
            cfg = self.config
            with self.downloads.get(url, stream=True, timeout=cfg.timeout, verify=cfg.verify) as resp:
                if resp.status_code in (404, 410):
                    raise protocol.NotFoundError(
                        "video URL has expired or is gone; download results promptly",
                        status_code=resp.status_code,
                    )
                if resp.status_code >= 300:
                    raise protocol.error_from_answer(resp.status_code, resp.headers, resp.content)
                length = int(resp.headers.get("content-length") or 0)
                if length > max_bytes:
                    raise VideoTooLargeError(f"video is {length:,} bytes; the cap is {max_bytes:,}")
                yield _capped(resp.iter_content(DOWNLOAD_READ_SIZE), max_bytes)
        except requests.RequestException as exc:
            raise GatewayTransportError(f"video download failed: {type(exc).__name__}: {exc}") from None

    def download_video(
        self, video: Mapping[str, Any], sink: IO[bytes], *, max_bytes: int = DEFAULT_MAX_VIDEO_BYTES
    ) -> DownloadResult:
        """Copy a result video into ``sink`` chunk by chunk, returning its size and sha256."""
        digest, size = hashlib.sha256(), 0
        with self.open_video(video, max_bytes=max_bytes) as chunks:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                sink.write(chunk)
        return DownloadResult(size=size, sha256=digest.hexdigest(), media_type=video.get("mediaType"))

    def list_models(self, model_type: str | None = "video") -> list[GatewayModel]:
        """The models the gateway lists (``GET {base}/config``, the official client's
        ``getAvailableModels()``); free, and retried like any call.

        :param model_type: Keep only models of this type (default ``video``); ``None`` keeps all.
        """
        request = protocol.build_config(self.keyed_config())
        models = self._send(request, protocol.read_config, "config")
        return [m for m in models if model_type is None or m.model_type == model_type]

    def credits(self) -> Credits:
        """The team's balance and total spend (``GET {origin}/v1/credits``, the official client's
        ``getCredits()``): free, safe to repeat, and retried like any call.

        :raises GatewayError: When the gateway refuses the call or the answer has no balance.
        """
        request = protocol.build_credits(self.keyed_config())
        return self._send(request, protocol.read_credits, "credits")

    def test_connection(self) -> tuple[bool, str]:
        """Check the base URL and API key with one ``GET {base}/config`` (no retries, nothing
        billed): it proves that the base URL speaks the protocol and that the key is accepted."""
        config = self.config
        base = config.base_url
        if not config.api_key:
            return False, (
                f"Connection '{self.gateway_conn_id}' has no API key (password): "
                "set it to an AI Gateway API key"
            )
        try:
            models = self._call(protocol.build_config(config), protocol.read_config)
        except httpx.TransportError as exc:
            return False, f"Cannot reach {base}: {type(exc).__name__}: {exc}"
        except (AuthenticationError, ForbiddenError) as exc:
            return False, f"The gateway at {base} refused the API key: {exc.message}"
        except GatewayProtocolError as exc:
            return False, self._not_a_gateway(f"HTTP {exc.status_code}, {exc.message}")
        except GatewayError as exc:
            code = exc.status_code
            if code in (404, 405) or 300 <= (code or 0) < 400:
                return False, self._not_a_gateway(f"HTTP {code}")
            return False, f"The gateway at {base} answered HTTP {code}: {exc.message}"
        videos = sum(1 for m in models if m.model_type == "video")
        return True, f"Connected to {base}: the gateway lists {videos} video models"

    def _not_a_gateway(self, detail: str) -> str:
        return (
            f"{self.config.base_url} does not answer like AI Gateway "
            f"(GET {protocol.CONFIG_PATH}: {detail}); the base URL must end in /v4/ai"
        )

    # ----------------------------------------------------------------------------------- async

    async def _asend(self, request: HttpRequest, reader: Reader[T], what: str) -> T:
        cfg = await self.aconfig()
        timeout = aiohttp.ClientTimeout(total=cfg.timeout)
        attempt = 0
        while True:
            try:
                gate = pool_gate()
                await _enter(gate, cfg.timeout)
                try:
                    async with shared_session(cfg.verify).request(
                        request.method,
                        request.url,
                        headers=request.headers,
                        data=request.body,
                        timeout=timeout,
                    ) as resp:
                        content = await resp.read()
                finally:
                    gate.release()
                return reader(resp.status, resp.headers, content)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                error: GatewayError = GatewayTransportError(f"{type(exc).__name__}: {exc}")
            except GatewayError as exc:
                error = exc
            attempt += 1
            await asyncio.sleep(self.retry_delay(attempt, error, what))

    async def astart(self, model: str, body: Mapping[str, Any], idempotency_key: str) -> StartResult:
        """As :meth:`start`, on the event loop's shared aiohttp session."""
        request = protocol.build_start(await self.akeyed_config(), model, body, idempotency_key)
        return await self._asend(request, protocol.read_start, f"start {model}")

    async def astatus(self, model: str, operation: Any) -> StatusResult:
        """As :meth:`status`, on the event loop's shared aiohttp session."""
        request = protocol.build_status(await self.akeyed_config(), model, operation)
        return await self._asend(request, protocol.read_status, f"status {model}")


def _capped(chunks: Iterator[bytes], max_bytes: int) -> Iterator[bytes]:
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise VideoTooLargeError(f"video is larger than the cap of {max_bytes:,} bytes")
        yield chunk
