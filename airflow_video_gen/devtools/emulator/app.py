"""The emulator's HTTP server: the AI Gateway video protocol of GATEWAY_PROTOCOL.md, as a Starlette app.

Routes (``/v4/ai`` is the base URL to give a client)::

    POST /v4/ai/video-model/start    start a job (billable; honours idempotency-key)
    POST /v4/ai/video-model/status   a job's state
    POST /v4/ai/video-model          synchronous generation: ": keep-alive" comments, then one event
    GET  /v4/ai/config               the models, in the shape of the official client's getAvailableModels()
    GET  /v1/credits                 the balance, drawn down per billed second of video (getCredits())
    GET  /files/<name>               result files (MP4 videos, PNG last frames) until they expire
    GET  /                           health
    GET  /_emulator/stats            counters (starts billed, polls served, faults, jobs by state...)
    GET  /_emulator/jobs             each job: model, state, status calls, callback deliveries
    POST /_emulator/reset            forget jobs, keys, files and counters (the balance is full again);
                                     restart the fault draws

Every request is judged as the real gateway would judge it, with the families' rules
(:meth:`VideoRequest.from_gateway_body <airflow_video_gen.models.VideoRequest.from_gateway_body>`);
no code of the provider's hook is involved, so the hook's tests against the emulator are not the
hook testing itself. Image buffers inside ``providerOptions`` are accepted as raw base64 strings and
also in the ``{"type": "Buffer", "data": [...]}`` form the official Node client serialises them in.

Serve it with uvicorn (``airflow-video-gen emulator``) or embed it::

    app = create_app(EmulatorSettings(latency=0.5))

Its render workers are started with ``spawn``, so a script that embeds the app needs the usual
``if __name__ == "__main__":`` guard around its own top-level code.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from airflow_video_gen.devtools.emulator.faults import FaultInjector, drop_connection
from airflow_video_gen.devtools.emulator.files import FileStore
from airflow_video_gen.devtools.emulator.jobs import Job, JobBook, JobRunner, dumps, new_job_id
from airflow_video_gen.devtools.emulator.latencies import LatencyDraws
from airflow_video_gen.devtools.emulator.render_pool import RenderPool
from airflow_video_gen.devtools.emulator.settings import EmulatorSettings
from airflow_video_gen.devtools.emulator.specs import public_url, video_seconds
from airflow_video_gen.families import FAMILIES, known_models
from airflow_video_gen.models import InvalidVideoRequest, VideoRequest
from airflow_video_gen.protocol import (
    CONFIG_PATH,
    CREDITS_PATH,
    GENERATE_PATH,
    MODEL_SPECIFICATION_VERSION,
    PROTOCOL_VERSION,
    START_PATH,
    STATUS_PATH,
)

__all__ = ["BASE_PATH", "EmulatorApp", "EmulatorSettings", "create_app"]

log = logging.getLogger(__name__)

BASE_PATH = "/v4/ai"
JSON_TYPE = "application/json"
KEEP_ALIVE = b": keep-alive\n\n"
#: Scope key of the server's own ``send`` callable, which :func:`drop_connection` needs.
RAW_SEND = "airflow_video_gen.devtools.emulator.raw_send"
#: Scope key set by a ``lost`` fault: the call is carried out, then its answer is not sent.
LOSE_ANSWER = "airflow_video_gen.devtools.emulator.lose_answer"


Handler = Callable[[Request], Awaitable[Response]]


class EmulatorApp(Starlette):
    """A Starlette app with two additions.

    It keeps the server's own ``send`` in the scope, so a fault can drop the connection (every
    middleware wraps ``send``). And the handlers in :attr:`fast_routes` (status polls, by far the
    most frequent call) are called directly, without the middleware stack and the router: that
    roughly halves the server's time per poll.
    """

    fast_routes: dict[tuple[str, str], Handler]
    #: Whether ``lost`` faults are drawn: only then is every answer checked before it is sent.
    may_lose_answers: bool = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[RAW_SEND] = send
            if self.may_lose_answers:
                send = _unless_lost(scope, send)
            handler = self.fast_routes.get((scope["method"], scope["path"]))
            if handler is not None:
                request = Request(scope, receive)
                try:
                    response = await handler(request)
                except Exception as exc:
                    response = await _server_error(request, exc)
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _unless_lost(scope: Scope, send: Send) -> Send:
    """``send``, except that once a ``lost`` fault has marked the call, the connection is closed
    in place of the answer."""

    async def guarded(message: Message) -> None:
        if not scope.get(LOSE_ANSWER):
            await send(message)
        elif message["type"] == "http.response.start":
            await drop_connection(scope[RAW_SEND])

    return guarded


@dataclass
class Counters:
    """What the emulator has done since it started (or was reset)."""

    start_calls: int = 0
    starts_billed: int = 0
    idempotent_replays: int = 0
    generate_calls: int = 0
    generations_billed: int = 0
    polls_served: int = 0
    files_served: int = 0
    config_calls: int = 0
    credits_calls: int = 0
    seconds_billed: int = 0


def error_response(
    status: int,
    message: str,
    error_type: str,
    param: Any = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A protocol error answer: ``{"error": {"message", "type", "param"?}}``."""
    error: dict[str, Any] = {"message": message, "type": error_type}
    if param is not None:
        error["param"] = param
    return Response(dumps({"error": error}), status, headers=dict(headers or {}), media_type=JSON_TYPE)


def _json_response(data: bytes | Any, status: int = 200) -> Response:
    body = data if isinstance(data, bytes) else dumps(data)
    return Response(body, status, media_type=JSON_TYPE)


def _node_buffers(value: Any) -> Any:
    """``{"type": "Buffer", "data": [bytes]}`` (a Node Buffer through JSON.stringify) -> raw base64."""
    if isinstance(value, dict):
        data = value.get("data")
        if value.get("type") == "Buffer" and isinstance(data, list) and len(value) == 2:
            with contextlib.suppress(TypeError, ValueError):
                return base64.b64encode(bytes(data)).decode("ascii")
        return {k: _node_buffers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_node_buffers(v) for v in value]
    return value


def model_catalogue() -> list[dict[str, Any]]:
    """Every model id of every family, as ``GET /v4/ai/config`` lists them:
    ``{"id", "name", "description", "specification": {"specificationVersion": "v4", "provider",
    "modelId"}, "modelType": "video"}`` (no pricing: the emulator bills nothing)."""
    return [
        {
            "id": model_id,
            "name": f"{family.label} {model_id.partition('/')[2]}",
            "description": spec.description,
            "specification": {
                "specificationVersion": "v4",
                "provider": family.provider_key,
                "modelId": model_id,
            },
            "modelType": "video",
        }
        for family in FAMILIES.values()
        for model_id, spec in family.models.items()
    ]


def _amount(value: Decimal) -> str:
    """A decimal as plain text (``999999.75``, never ``1E+6``)."""
    return format(value, "f")


def _body_digest(model: str | None, body: Any) -> str:
    """What a start's idempotency key is held to: the model and the body, each URL without its
    query. A presigned image URL signed again (a retried task, a second later) is the same image,
    as the client's key, derived from the request with its images by source, says."""
    canonical = json.dumps([model, _unsigned(body)], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _unsigned(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(("https://", "http://")):
        return public_url(value)
    if isinstance(value, dict):
        return {k: _unsigned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unsigned(v) for v in value]
    return value


class Emulator:
    """The state and handlers behind one app: jobs, files, renders, faults and counters.

    :param settings: How the emulator behaves.
    """

    def __init__(self, settings: EmulatorSettings) -> None:
        self.settings = settings
        self.faults = FaultInjector(settings.faults)
        self.latencies = LatencyDraws(settings.latency, settings.latency_spread)
        self.book = JobBook()
        self.files = FileStore()
        self.counters = Counters()
        self.pool: RenderPool | None = None
        self.runner: JobRunner | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Start the render pool and the image-fetching client; clean up the files at the end."""
        temp: TemporaryDirectory[str] | None = None
        if self.settings.files_dir:
            directory = Path(self.settings.files_dir)
        else:
            temp = TemporaryDirectory(prefix="ai-gateway-emulator-")
            directory = Path(temp.name)
        pool = RenderPool(self.settings.render_workers, directory / "renders")
        pool.start()
        self.pool = pool
        self.runner = JobRunner(self.settings, pool, self.files)
        try:
            timeout = httpx.Timeout(self.settings.fetch_timeout)
            async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
                self.runner.client = client
                try:
                    yield
                finally:
                    await self.runner.stop()
        finally:
            await asyncio.to_thread(pool.shutdown)
            if temp is not None:
                temp.cleanup()

    # -- common checks ---------------------------------------------------------------------------

    def _auth_error(self, request: Request) -> Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return error_response(
                401,
                "Missing API key: send the header 'authorization: Bearer <API key>'",
                "authentication_error",
            )
        expected = self.settings.api_key
        if expected is not None and not hmac.compare_digest(token.encode(), expected.encode()):
            return error_response(401, "Invalid API key", "authentication_error")
        return None

    async def _fault(self, request: Request, endpoint: str) -> Response | None:
        kind = self.faults.draw(endpoint)
        if kind is None:
            return None
        if kind == "slow":
            await asyncio.sleep(self.faults.spec.slow_s)
            return None
        if kind == "lost":
            request.scope[LOSE_ANSWER] = True
            return None
        if kind == "drop":
            await drop_connection(request.scope[RAW_SEND])
            return Response(status_code=204)  # never reaches the client: the connection is gone
        status, headers, body = self.faults.error_answer(kind)
        return Response(body, status, headers=headers)

    async def _guard(self, request: Request, endpoint: str) -> Response | None:
        """Key, then fault, then protocol headers: an answer here ends the call before its body."""
        early = self._auth_error(request) or await self._fault(request, endpoint)
        if early is not None:
            return early
        for header, expected in (
            ("ai-gateway-protocol-version", PROTOCOL_VERSION),
            ("ai-video-model-specification-version", MODEL_SPECIFICATION_VERSION),
        ):
            value = request.headers.get(header)
            if value is not None and value != expected:
                message = f"{header} {value!r} is not supported; this gateway speaks {expected!r}"
                return error_response(400, message, "invalid_request_error", header)
        return None

    async def _read_json(self, request: Request) -> Any | Response:
        raw = await request.body()
        try:
            return json.loads(raw)
        except ValueError:
            return error_response(400, "The request body is not valid JSON", "invalid_request_error", "body")

    def _judge(self, model: str | None, body: Any) -> VideoRequest | Response:
        if not model:
            message = "The ai-model-id header is required (e.g. google/veo-3.1-generate-001)"
            return error_response(400, message, "invalid_request_error", "ai-model-id")
        if model not in known_models():
            known = ", ".join(known_models())
            return error_response(
                404,
                f"Model {model!r} not found. Video models: {known}",
                "model_not_found",
                {"modelId": model},
            )
        try:
            judged = VideoRequest.from_gateway_body(model, _node_buffers(body))
        except InvalidVideoRequest as exc:
            param = exc.issues[0].param if exc.issues else None
            return error_response(400, str(exc), "invalid_request_error", param)
        count = judged.settings.n
        if count > self.settings.max_videos:
            message = f"n is {count}; the emulator renders at most {self.settings.max_videos} videos per job"
            return error_response(400, message, "invalid_request_error", "n")
        return judged

    def _new_job(self, request: Request, judged: VideoRequest, body: Any, *, synchronous: bool) -> Job:
        warnings = [{"type": "other", "message": w} for w in judged.warnings]
        root = self.settings.public_url or str(request.base_url)
        job = Job(
            id=new_job_id(),
            request=judged,
            created=time.monotonic(),
            latency=self.latencies.draw(judged.model),
            root_url=root.rstrip("/"),
            warnings=warnings,
            fault=self.faults.draw_job(),
            synchronous=synchronous,
            callback_dropped=bool(judged.callback_url) and not synchronous and self.faults.draw_callback(),
        )
        self.counters.generations_billed += 1
        self.counters.seconds_billed += video_seconds(judged) * judged.settings.n
        return job

    # -- protocol endpoints ----------------------------------------------------------------------

    async def start(self, request: Request) -> Response:
        """``POST /v4/ai/video-model/start``."""
        early = await self._guard(request, "start")
        if early is not None:
            return early
        self.counters.start_calls += 1
        body = await self._read_json(request)
        if isinstance(body, Response):
            return body
        model = request.headers.get("ai-model-id")
        key = request.headers.get("idempotency-key")
        digest = _body_digest(model, body)
        if key:
            seen = self.book.by_key(key)
            if seen is not None:
                if seen[0] != digest:
                    message = (
                        "This idempotency-key was already used with a different request body; "
                        "use a new key for a new request"
                    )
                    return error_response(400, message, "invalid_request_error", "idempotency-key")
                self.counters.idempotent_replays += 1
                return _json_response(seen[1].start_answer)
        judged = self._judge(model, body)
        if isinstance(judged, Response):
            return judged
        assert self.runner is not None
        job = self._new_job(request, judged, body, synchronous=False)
        self.book.add(job, key, digest)
        self.counters.starts_billed += 1
        self.runner.launch(job)
        return _json_response(job.start_answer)

    async def status(self, request: Request) -> Response:
        """``POST /v4/ai/video-model/status``: a dictionary lookup and prebuilt bytes."""
        early = await self._guard(request, "status")
        if early is not None:
            return early
        self.counters.polls_served += 1
        body = await self._read_json(request)
        if isinstance(body, Response):
            return body
        operation = body.get("operation") if isinstance(body, dict) else None
        job_id = operation.get("gatewayJobId") if isinstance(operation, dict) else None
        if not isinstance(job_id, str):
            message = 'Expected {"operation": <the operation start returned>}'
            return error_response(400, message, "invalid_request_error", "operation")
        job = self.book.jobs.get(job_id)
        if job is None or job.synchronous:
            return error_response(404, f"Unknown operation: no job {job_id!r}", "not_found", "operation")
        job.status_calls += 1
        if self.runner is not None:
            self.runner.refresh(job)
        return _json_response(job.status_answer(time.monotonic()))

    async def generate(self, request: Request) -> Response:
        """``POST /v4/ai/video-model``: keep-alive comments, then one ``result`` or ``error`` event."""
        early = await self._guard(request, "generate")
        if early is not None:
            return early
        self.counters.generate_calls += 1
        body = await self._read_json(request)
        if isinstance(body, Response):
            return body
        judged = self._judge(request.headers.get("ai-model-id"), body)
        if isinstance(judged, Response):
            return judged
        assert self.runner is not None
        job = self._new_job(request, judged, body, synchronous=True)
        self.book.add(job)
        self.runner.launch(job)
        return StreamingResponse(
            self._events(job), media_type="text/event-stream", headers={"cache-control": "no-cache"}
        )

    async def config(self, request: Request) -> Response:
        """``GET /v4/ai/config``: every family's models, checked against the key like every call."""
        early = self._auth_error(request)
        if early is not None:
            return early
        self.counters.config_calls += 1
        return _json_response({"models": model_catalogue()})

    def credits(self) -> dict[str, str]:
        """``{"balance", "total_used"}`` as decimal strings, the shape of the official ``getCredits()``."""
        used = self.settings.price_per_second * self.counters.seconds_billed
        return {"balance": _amount(self.settings.credits - used), "total_used": _amount(used)}

    async def credits_endpoint(self, request: Request) -> Response:
        """``GET /v1/credits`` (at the root, as the gateway serves it at its origin): checked against
        the key like every call; a team query (``teamId`` or ``slug``) is accepted and ignored."""
        early = self._auth_error(request)
        if early is not None:
            return early
        self.counters.credits_calls += 1
        return _json_response(self.credits())

    async def _events(self, job: Job) -> AsyncIterator[bytes]:
        yield KEEP_ALIVE
        while not job.done.is_set():
            try:
                await asyncio.wait_for(job.done.wait(), self.settings.keepalive_interval)
            except asyncio.TimeoutError:
                yield KEEP_ALIVE
        yield b"data: " + dumps(job.sse_event()) + b"\n\n"

    async def file(self, request: Request) -> Response:
        """``GET /files/<name>``: no key needed (result URLs are links to hand on); 410 once expired."""
        early = await self._fault(request, "files")
        if early is not None:
            return early
        name = request.path_params["name"]
        stored = self.files.get(name)
        if stored is None:
            return error_response(404, f"No file {name!r}", "not_found")
        if stored.expired():
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stored.expires_at))
            return error_response(
                410, f"File {name!r} expired at {when}; results must be downloaded promptly", "not_found"
            )
        self.counters.files_served += 1
        return FileResponse(stored.path, media_type=stored.media_type)

    # -- local tooling ---------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        """``GET /``: the emulator is up, and how it is set."""
        root = (self.settings.public_url or str(request.base_url)).rstrip("/")
        return _json_response(
            {
                "status": "ok",
                "service": "AI Gateway emulator",
                # Which process answers: a client that started one on a port it found free checks
                # that the answer is from its own, not from another that took the port first.
                "pid": os.getpid(),
                "baseUrl": f"{root}{BASE_PATH}",
                "latency": self.settings.latency,
                "latencySpread": self.settings.latency_spread.describe(),
                "results": self.settings.results,
                "faults": self.settings.faults.describe() if self.settings.faults else "",
                "models": [m["id"] for m in model_catalogue()],
            }
        )

    def stats(self) -> dict[str, Any]:
        """Counters, faults injected by kind, jobs by state and render counts."""
        pool = self.pool
        called_back = [job for job in self.book.jobs.values() if job.signing_secret is not None]
        return {
            **asdict(self.counters),
            "callbacks_delivered": sum(job.callback_delivered for job in called_back),
            "callback_attempts": sum(job.callback_attempts for job in called_back),
            "callbacks_dropped": sum(job.callback_dropped for job in called_back),
            "faults": dict(sorted(self.faults.counts.items())),
            "jobs": self.book.counts(time.monotonic()),
            "renders_done": pool.renders_done if pool else 0,
            "render_cache_hits": pool.cache_hits if pool else 0,
        }

    async def stats_endpoint(self, request: Request) -> Response:
        """``GET /_emulator/stats``."""
        return _json_response(self.stats())

    async def jobs_endpoint(self, request: Request) -> Response:
        """``GET /_emulator/jobs``: ``{"jobs": {<job id>: {"model", "state", "status_calls",
        "callback": {"attempts", "delivered", "dropped"} | null}}}``."""
        now = time.monotonic()
        return _json_response({"jobs": {job_id: job.summary(now) for job_id, job in self.book.jobs.items()}})

    async def reset(self, request: Request) -> Response:
        """``POST /_emulator/reset``: forget jobs, keys, files and counters (renders stay cached)."""
        self.book.clear()
        self.files.clear()
        self.counters = Counters()
        self.faults.reset()
        self.latencies.reset()
        if self.pool is not None:
            self.pool.reset_counts()
        return _json_response({"reset": True})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error_type = "not_found" if exc.status_code == 404 else "invalid_request_error"
    message = (
        f"No route for {request.method} {request.url.path}" if exc.status_code in (404, 405) else exc.detail
    )
    return error_response(exc.status_code, message, error_type)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error answering %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        500, f"Internal error of the emulator: {type(exc).__name__}", "internal_server_error"
    )


def create_app(settings: EmulatorSettings) -> Starlette:
    """The emulator as an ASGI app (serve it with uvicorn; its lifespan starts the render pool).

    :param settings: How it behaves.
    :return: The app; ``app.state.emulator`` is its :class:`Emulator`.
    """
    emulator = Emulator(settings)
    routes = [
        Route("/", emulator.health, methods=["GET"]),
        Route(f"{BASE_PATH}{START_PATH}", emulator.start, methods=["POST"]),
        Route(f"{BASE_PATH}{STATUS_PATH}", emulator.status, methods=["POST"]),
        Route(f"{BASE_PATH}{GENERATE_PATH}", emulator.generate, methods=["POST"]),
        Route(f"{BASE_PATH}{CONFIG_PATH}", emulator.config, methods=["GET"]),
        Route(CREDITS_PATH, emulator.credits_endpoint, methods=["GET"]),
        Route("/files/{name}", emulator.file, methods=["GET", "HEAD"]),
        Route("/_emulator/stats", emulator.stats_endpoint, methods=["GET"]),
        Route("/_emulator/jobs", emulator.jobs_endpoint, methods=["GET"]),
        Route("/_emulator/reset", emulator.reset, methods=["POST"]),
    ]
    app = EmulatorApp(
        routes=routes,
        lifespan=emulator.lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    app.fast_routes = {("POST", f"{BASE_PATH}{STATUS_PATH}"): emulator.status}
    app.may_lose_answers = any(kind == "lost" for _, kind in settings.faults.rates)
    app.state.emulator = emulator
    return app
