"""VideoGenerationTrigger: waits for a generation in the triggerer, fully asynchronously.

Also home of the status logic that poke and reschedule modes share with the trigger: what a status
means (:func:`outcome_of`), and the small, JSON-safe result every waiting path returns
(:func:`generation_result`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_video_gen.hooks.gateway import VideoGatewayHook
from airflow_video_gen.protocol import GatewayError, RetryPolicy, StatusResult

#: Event statuses, by what the task does with them.
SUCCESS_STATES = frozenset({"completed"})
FAILURE_STATES = frozenset({"error", "cancelled", "invalid"})
TIMEOUT_STATES = frozenset({"timeout"})
#: Transient trouble past the retry budget: the try fails and Airflow's retries apply.
RETRYABLE_STATES = frozenset({"transient"})
INTERMEDIATE_STATES = frozenset({"pending"})

#: Fraction of the poll interval added or taken at random, so thousands of triggers spread out.
POLL_JITTER = 0.1


def without_base64(value: Any) -> Any:
    """A copy fit for XCom and trigger events: every ``{"type": "base64", "data"}`` (a video, a
    Seedance last frame in provider metadata) listed by media type and size only."""
    if isinstance(value, dict):
        if value.get("type") == "base64" and isinstance(value.get("data"), str):
            return {
                "type": "base64",
                "mediaType": value.get("mediaType"),
                "size": len(value["data"]) * 3 // 4,
            }
        return {k: without_base64(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_base64(v) for v in value]
    return value


def outcome_of(status: StatusResult) -> dict[str, Any] | None:
    """The event a status ends a wait with, or ``None`` while the job is still pending.

    :return: ``{"status", "reason", "message", ...}``: ``completed`` with ``videos``, ``warnings``
        and ``provider_metadata``; ``error`` with the gateway's message; ``cancelled``.
    """
    if status.status == "completed":
        return {
            "status": "completed",
            "reason": "completed",
            "message": f"{len(status.videos)} video(s) ready",
            "videos": without_base64(status.videos),
            "warnings": status.warnings,
            "provider_metadata": without_base64(status.provider_metadata),
        }
    if status.status == "error":
        return {"status": "error", "reason": "job_failed", "message": status.error or "the generation failed"}
    if status.status == "cancelled":
        return {"status": "cancelled", "reason": "job_cancelled", "message": "the generation was cancelled"}
    return None


def outcome_of_error(exc: GatewayError) -> dict[str, Any]:
    """The event a status call's error ends a wait with: transient trouble (the try fails and
    Airflow retries it) or an error the gateway will repeat (the task fails for good)."""
    return {
        "status": "transient" if exc.retryable else "error",
        "reason": exc.error_type,
        "message": exc.message,
    }


def poll_once(hook: VideoGatewayHook, model: str, operation: Any) -> dict[str, Any] | None:
    """One status call from a worker (poke and reschedule modes, synchronous waits): the event
    that ends the wait, or ``None`` while pending."""
    try:
        status = hook.status(model, operation)
    except GatewayError as exc:
        return outcome_of_error(exc)
    return outcome_of(status)


def generation_result(submission: Mapping[str, Any], event: Mapping[str, Any]) -> dict[str, Any]:
    """What a sensor (or a submit task that waits) returns: the submission plus the outcome."""
    submitted_at = submission.get("submitted_at")
    elapsed = round(time.time() - submitted_at, 3) if isinstance(submitted_at, (int, float)) else None
    return {
        **submission,
        "status": event["status"],
        "videos": event.get("videos", []),
        "warnings": [*submission.get("warnings", []), *event.get("warnings", [])],
        "provider_metadata": event.get("provider_metadata", {}),
        "elapsed_s": elapsed,
    }


class VideoGenerationTrigger(BaseTrigger):
    """Polls a generation's status until it ends, then fires one event.

    One aiohttp session is shared by every trigger of the event loop; no call blocks the loop.
    Transient errors are retried with backoff and ``Retry-After``; the deadline is absolute, so a
    restarted or reassigned triggerer resumes with the time that was left.

    :param model: Gateway model id.
    :param operation: The operation start returned, unchanged.
    :param deadline: Epoch seconds after which the wait ends with a ``timeout`` event.
    :param poll_interval: Seconds between status calls (default 5).
    :param gateway_conn_id: The ``ai_gateway`` connection (the kwargs hold its id, never the key).
    :param started_at: Epoch seconds the wait began, for the elapsed time in the log.
    :param max_retries: Retries of one status call on transient errors before the try fails
        (default 5).
    :param wait_first: Sleep one interval before the first poll (default ``False``): set when the
        task has just read the status itself, so the trigger does not fire at once (a trigger that
        fires within a second of the deferral can meet a scheduler race that fails the task:
        apache/airflow#71580).
    """

    def __init__(
        self,
        *,
        model: str,
        operation: Any,
        deadline: float,
        poll_interval: float = 5.0,
        gateway_conn_id: str = VideoGatewayHook.default_conn_name,
        started_at: float | None = None,
        max_retries: int = 5,
        wait_first: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self.operation = operation
        self.deadline = float(deadline)
        self.poll_interval = float(poll_interval)
        self.gateway_conn_id = gateway_conn_id
        self.started_at = float(started_at) if started_at is not None else time.time()
        self.max_retries = max_retries
        self.wait_first = wait_first

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "model": self.model,
                "operation": self.operation,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
                "gateway_conn_id": self.gateway_conn_id,
                "started_at": self.started_at,
                "max_retries": self.max_retries,
                "wait_first": self.wait_first,
            },
        )

    def _event(self, payload: dict[str, Any], polls: int) -> TriggerEvent:
        payload = {**payload, "elapsed_s": round(time.time() - self.started_at, 3), "polls": polls}
        return TriggerEvent(payload)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = VideoGatewayHook(self.gateway_conn_id, retry_policy=RetryPolicy(max_retries=self.max_retries))
        polls, last = 0, None
        if self.wait_first:
            await asyncio.sleep(max(0.0, min(self._pause(), self.deadline - time.time())))
        while True:
            remaining = self.deadline - time.time()
            if remaining <= 0:
                message = f"no result from {self.model} before the deadline; last state: {last or 'unknown'}"
                yield self._event({"status": "timeout", "reason": "deadline", "message": message}, polls)
                return
            try:
                status = await self._status(hook)
            except GatewayError as exc:
                yield self._event(outcome_of_error(exc), polls)
                return
            polls += 1
            state = status.job_status or status.status
            if state != last:
                self.log.info(
                    "%s %s: %s -> %s after %.1f s",
                    self.model,
                    _job_id(self.operation),
                    last or "submitted",
                    state,
                    time.time() - self.started_at,
                )
                last = state
            event = outcome_of(status)
            if event is not None:
                yield self._event(event, polls)
                return
            await asyncio.sleep(max(0.0, min(self._pause(), self.deadline - time.time())))

    async def _status(self, hook: VideoGatewayHook) -> StatusResult:
        """One status call (with the hook's retries): the one step the benchmarks' baselines
        replace, to compare ways of moving the bytes under the same loop."""
        return await hook.astatus(self.model, self.operation)

    def _pause(self) -> float:
        return self.poll_interval * random.uniform(1 - POLL_JITTER, 1 + POLL_JITTER)


def _job_id(operation: Any) -> str:
    if isinstance(operation, Mapping):
        for key in ("gatewayJobId", "jobId", "id"):
            if isinstance(operation.get(key), str):
                return str(operation[key])
    return "job"
