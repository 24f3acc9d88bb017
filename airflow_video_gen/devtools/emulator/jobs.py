"""Emulated generation jobs: queued -> running -> completed | error | cancelled.

A job takes at least the emulator's latency (``queued`` for the first fifth of it, then
``running``) and completes once that time has passed and its videos are rendered. Its status
answers are JSON bytes built when its state changes, so a status poll is a dictionary lookup and a
clock read; no lock is held while videos render (the renders run in other processes).

Answers follow GATEWAY_PROTOCOL.md. One convention is this project's own: when a Seedance request
sets ``providerOptions.bytedance.returnLastFrame``, the completed answer (and the SSE result)
carries ``providerMetadata.bytedance.lastFrame``, the last frame of the first video as a file
object (``{"type": "url", "url": ".../files/<job>-0-last.png", "mediaType": "image/png"}``, or
``{"type": "base64", ...}`` in base64 mode), and ``providerMetadata.bytedance.lastFrames`` with one
such object per video.

A job started with a ``callbackUrl`` gets a signing secret, returned once in the start answer
(``providerMetadata.gateway.asyncJob.webhookSigningSecret``; an idempotent replay returns the same
answer). When it ends, the emulator POSTs ``{"type": "video.generation.<status>", "data":
{"jobId", "status"}}`` (``completed``, ``failed`` or ``cancelled``: terminal facts only, never the
videos) to that URL, signed in ``x-ai-gateway-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<raw body>">`` and named in ``x-ai-gateway-idempotency-key: <jobId>-<status>``, as the
official client's guide describes the gateway's callbacks. A delivery that fails (no 2xx) is tried
again with a doubling pause, re-signed each time, up to the emulator's ``callback_attempts``.

URL results expire after the emulator's ``file_ttl``. A status call on a completed job whose files
have expired publishes them again, under new names (``<job>-r<n>-<i>.mp4``) and with a new
``expiresAt``, as long as the rendered files are still on disk; otherwise the answer keeps the
expired links. A real gateway's status is likewise where fresh URLs come from.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from airflow_video_gen.devtools.emulator.files import FileStore
from airflow_video_gen.devtools.emulator.render_pool import RenderPool
from airflow_video_gen.devtools.emulator.settings import EmulatorSettings
from airflow_video_gen.devtools.emulator.specs import (
    InputImageError,
    RenderPlanError,
    build_specs,
    fetch_images,
    needed_images,
)
from airflow_video_gen.families.base import LAST_FRAME_METADATA, RETURN_LAST_FRAME
from airflow_video_gen.models import VideoRequest

__all__ = ["JOB_STATES", "Job", "JobBook", "JobRunner", "dumps"]

log = logging.getLogger(__name__)

JOB_STATES = ("queued", "running", "completed", "error", "cancelled")
#: Share of a job's latency it spends ``queued`` before it is ``running``.
QUEUED_SHARE = 0.2
INJECTED_ERROR = "Async video job failed (injected fault: job.error)"
#: A callback's ``data.status`` by the job's final state.
CALLBACK_STATUS = {"completed": "completed", "error": "failed", "cancelled": "cancelled"}


def dumps(value: Any) -> bytes:
    """Compact JSON bytes, as every answer is sent."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _async_job(job_id: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"gateway": {"asyncJob": {"jobId": job_id, "status": status, **extra}}}


@dataclass(eq=False)
class Job:
    """One generation.

    :param id: The gateway job id (``operation.gatewayJobId``).
    :param request: The judged request.
    :param created: ``time.monotonic()`` when it was started.
    :param latency: Seconds it takes at least.
    :param root_url: Root URL of its result file links.
    :param warnings: Protocol warnings of its request.
    :param fault: ``error`` or ``cancel`` when a fault decides how it ends.
    :param synchronous: Started by the SSE endpoint (no status answers needed).
    :param callback_dropped: A ``callback.drop`` fault: its callback is never sent.
    """

    id: str
    request: VideoRequest
    created: float
    latency: float
    root_url: str
    warnings: list[dict[str, str]]
    fault: str | None = None
    synchronous: bool = False
    callback_dropped: bool = False
    final_state: str | None = None
    final_answer: bytes | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    #: Rendered video and last-frame files, once completed with URL results (re-published on expiry).
    rendered: tuple[list[Path], list[Path]] | None = None
    expires_at: float = 0.0
    publications: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    #: Status calls answered for it.
    status_calls: int = 0
    #: Deliveries of its callback tried, and whether one was answered 2xx.
    callback_attempts: int = 0
    callback_delivered: bool = False
    start_answer: bytes = field(init=False)
    signing_secret: str | None = field(init=False, repr=False)
    _pending: dict[str, bytes] = field(init=False)

    def __post_init__(self) -> None:
        wants_callback = bool(self.request.callback_url) and not self.synchronous
        self.signing_secret = f"whsec_{secrets.token_hex(24)}" if wants_callback else None
        secret = {"webhookSigningSecret": self.signing_secret} if self.signing_secret else {}
        self.start_answer = dumps(
            {
                "operation": {"gatewayJobId": self.id},
                "warnings": self.warnings,
                "providerMetadata": _async_job(self.id, "queued", **secret),
            }
        )
        self._pending = {
            state: dumps({"status": "pending", "providerMetadata": _async_job(self.id, state)})
            for state in ("queued", "running")
        }

    @property
    def model(self) -> str:
        return self.request.model

    def state(self, now: float) -> str:
        """``queued``, ``running``, or the final state once reached."""
        if self.final_state is not None:
            return self.final_state
        return "queued" if now - self.created < QUEUED_SHARE * self.latency else "running"

    def status_answer(self, now: float) -> bytes:
        """The JSON body of a status answer at ``now`` (``time.monotonic()``)."""
        if self.final_answer is not None:
            return self.final_answer
        return self._pending[self.state(now)]

    def complete(
        self, videos: list[dict[str, Any]], last_frames: list[dict[str, Any]], expires_at: float
    ) -> None:
        """Finish with ``videos``; ``expires_at`` in epoch seconds."""
        metadata: dict[str, Any] = _async_job(
            self.id, "completed", result={"expiresAt": int(expires_at * 1000)}
        )
        if last_frames:
            metadata[self.request.family.provider_key] = {
                LAST_FRAME_METADATA: last_frames[0],
                f"{LAST_FRAME_METADATA}s": last_frames,
            }
        self.result = {"videos": videos, "warnings": self.warnings, "providerMetadata": metadata}
        if not self.synchronous:
            self.final_answer = dumps({"status": "completed", **self.result})
        self._finish("completed")

    def fail(self, message: str) -> None:
        """Finish in ``error`` with ``message``."""
        self.error = message
        self.final_answer = dumps(
            {"status": "error", "error": message, "providerMetadata": _async_job(self.id, "error")}
        )
        self._finish("error")

    def cancel(self) -> None:
        """Finish ``cancelled``."""
        self.error = "Video generation was cancelled (injected fault: job.cancel)"
        self.final_answer = dumps(
            {"status": "cancelled", "providerMetadata": _async_job(self.id, "cancelled")}
        )
        self._finish("cancelled")

    def _finish(self, state: str) -> None:
        self.final_state = state
        self.done.set()

    def summary(self, now: float) -> dict[str, Any]:
        """What ``GET /_emulator/jobs`` shows of it (never its secret)."""
        callback = None
        if self.signing_secret is not None:
            callback = {
                "attempts": self.callback_attempts,
                "delivered": self.callback_delivered,
                "dropped": self.callback_dropped,
            }
        return {
            "model": self.model,
            "state": self.state(now),
            "status_calls": self.status_calls,
            "callback": callback,
        }

    def sse_event(self) -> dict[str, Any]:
        """The one ``data:`` event of the synchronous endpoint, once the job is done."""
        if self.final_state == "completed" and self.result is not None:
            metadata = dict(self.result["providerMetadata"])
            metadata["gateway"] = {**metadata["gateway"], "generationId": f"gen_{self.id}"}
            return {"type": "result", **self.result, "providerMetadata": metadata}
        return {
            "type": "error",
            "message": self.error or "Video generation failed",
            "errorType": "internal_server_error",
            "statusCode": 500,
            "param": None,
        }


def new_job_id() -> str:
    return f"job_{secrets.token_hex(8)}"


class JobBook:
    """Every job by id, and the idempotency keys of starts."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self._keys: dict[str, tuple[str, Job]] = {}

    def add(self, job: Job, idempotency_key: str | None = None, digest: str = "") -> None:
        self.jobs[job.id] = job
        if idempotency_key:
            self._keys[idempotency_key] = (digest, job)

    def by_key(self, idempotency_key: str) -> tuple[str, Job] | None:
        """The body digest and job first started with ``idempotency_key``."""
        return self._keys.get(idempotency_key)

    def counts(self, now: float) -> dict[str, int]:
        """Jobs by state."""
        found = Counter(job.state(now) for job in self.jobs.values())
        return {state: found.get(state, 0) for state in JOB_STATES}

    def clear(self) -> None:
        self.jobs.clear()
        self._keys.clear()


def _read_base64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


class JobRunner:
    """Runs jobs to their end: fetches their images, renders their videos, publishes the results.

    :param settings: The emulator's settings (latency, result delivery, file lifetime).
    :param pool: The render pool.
    :param files: Where result files are published.
    """

    def __init__(self, settings: EmulatorSettings, pool: RenderPool, files: FileStore) -> None:
        self.settings = settings
        self.pool = pool
        self.files = files
        self.client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def launch(self, job: Job) -> None:
        """Start working on ``job`` in the background."""
        task = asyncio.create_task(self._run(job), name=f"emulator-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Cancel the jobs in progress."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _until_due(self, job: Job) -> None:
        remaining = job.created + job.latency - time.monotonic()
        if remaining > 0:
            await asyncio.sleep(remaining)

    async def _run(self, job: Job) -> None:
        try:
            if job.fault is not None:
                await self._until_due(job)
                if job.fault == "cancel":
                    job.cancel()
                else:
                    job.fail(INJECTED_ERROR)
            else:
                await self._render(job)
        except asyncio.CancelledError:
            raise
        except (InputImageError, RenderPlanError) as exc:
            job.fail(str(exc))
        except ValueError as exc:
            job.fail(f"rendering failed: {exc}")
        except Exception as exc:
            log.exception("job %s failed", job.id)
            job.fail(f"rendering failed: {type(exc).__name__}: {exc}")
        if job.final_state != "completed" and job.fault is None:
            log.info("job %s ended %s: %s", job.id, job.final_state, job.error)
        if job.signing_secret is not None and not job.callback_dropped:
            await self._call_back(job)

    async def _call_back(self, job: Job) -> None:
        """POST the job's signed callback, retried with a doubling pause until a 2xx answer."""
        assert self.client is not None
        assert job.signing_secret is not None
        assert job.final_state
        url = str(job.request.callback_url)
        status = CALLBACK_STATUS[job.final_state]
        body = dumps({"type": f"video.generation.{status}", "data": {"jobId": job.id, "status": status}})
        settings = self.settings
        for attempt in range(settings.callback_attempts):
            if attempt:
                await asyncio.sleep(settings.callback_backoff * 2 ** (attempt - 1))
            stamp = int(time.time())
            digest = hmac.new(
                job.signing_secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256
            ).hexdigest()
            headers = {
                "content-type": "application/json",
                "user-agent": "ai-gateway-emulator",
                "x-ai-gateway-signature": f"t={stamp},v1={digest}",
                "x-ai-gateway-idempotency-key": f"{job.id}-{status}",
            }
            job.callback_attempts += 1
            try:
                answer = await self.client.post(
                    url,
                    content=body,
                    headers=headers,
                    timeout=settings.callback_timeout,
                    follow_redirects=False,
                )
            except httpx.HTTPError as exc:
                log.info("callback of job %s, delivery %d: %s", job.id, attempt + 1, type(exc).__name__)
                continue
            if answer.is_success:
                job.callback_delivered = True
                return
            log.info("callback of job %s, delivery %d: HTTP %d", job.id, attempt + 1, answer.status_code)
        log.warning("callback of job %s not delivered after %d tries", job.id, settings.callback_attempts)

    async def _render(self, job: Job) -> None:
        if self.client is None:
            raise RuntimeError("the emulator is not started")
        images = await fetch_images(self.client, needed_images(job.request))
        specs = build_specs(job.request, images)
        key = job.request.fingerprint()
        videos = await asyncio.gather(*(self.pool.video(f"{key}-{i}", s) for i, s in enumerate(specs)))
        lasts: list[Path] = []
        if job.request.option(RETURN_LAST_FRAME) is True:
            lasts = list(
                await asyncio.gather(*(self.pool.last_frame(f"{key}-{i}", s) for i, s in enumerate(specs)))
            )
        await self._until_due(job)
        expires_at = time.time() + self.settings.file_ttl
        video_refs = [
            await self._publish(f"{job.id}-{i}.mp4", path, "video/mp4", job, expires_at)
            for i, path in enumerate(videos)
        ]
        last_refs = [
            await self._publish(f"{job.id}-{i}-last.png", path, "image/png", job, expires_at)
            for i, path in enumerate(lasts)
        ]
        if self.settings.results == "url":
            job.rendered, job.expires_at = (list(videos), lasts), expires_at
        job.complete(video_refs, last_refs, expires_at)

    async def _publish(
        self, name: str, path: Path, media_type: str, job: Job, expires_at: float
    ) -> dict[str, Any]:
        if self.settings.results == "base64":
            data = await asyncio.to_thread(_read_base64, path)
            return {"type": "base64", "data": data, "mediaType": media_type}
        if self.settings.results == "uploaded":
            return {"type": "uploaded", "mediaType": media_type}
        return self._link(name, path, media_type, job, expires_at)

    def _link(self, name: str, path: Path, media_type: str, job: Job, expires_at: float) -> dict[str, Any]:
        self.files.add(name, path, media_type, expires_at)
        return {"type": "url", "url": f"{job.root_url}/files/{name}", "mediaType": media_type}

    def refresh(self, job: Job) -> None:
        """Publish a completed job's expired result files again, under new names and with a new
        expiry, when its rendered files are still on disk; otherwise leave its answer as it is."""
        if job.rendered is None or job.final_state != "completed" or time.time() < job.expires_at:
            return
        videos, lasts = job.rendered
        if not all(path.exists() for path in (*videos, *lasts)):
            return
        job.publications += 1
        job.expires_at = time.time() + self.settings.file_ttl
        stem = f"{job.id}-r{job.publications}"
        video_refs = [
            self._link(f"{stem}-{i}.mp4", path, "video/mp4", job, job.expires_at)
            for i, path in enumerate(videos)
        ]
        last_refs = [
            self._link(f"{stem}-{i}-last.png", path, "image/png", job, job.expires_at)
            for i, path in enumerate(lasts)
        ]
        job.complete(video_refs, last_refs, job.expires_at)
