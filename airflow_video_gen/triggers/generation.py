"""VideoGenerationTrigger: waits for a generation in the triggerer, fully asynchronously.

What a status means is read in :mod:`airflow_video_gen.protocol`
(:func:`~airflow_video_gen.protocol.outcome_of`), which the poke and reschedule modes of
:mod:`airflow_video_gen.waiting` read too; this module and ``waiting`` import neither each other.
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
from airflow_video_gen.waiting import outcome_of, outcome_of_error

#: Fraction of the poll interval added or taken at random, so thousands of triggers spread out.
POLL_JITTER = 0.1


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
