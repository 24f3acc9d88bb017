"""Sensors that wait for a submitted generation: deferrable by default, poke and reschedule too.

Every mode reads a status through the same logic (:func:`~airflow_video_gen.triggers.generation.outcome_of`)
and ends through :func:`finish_generation`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta
from functools import cached_property
from typing import Any, ClassVar

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout

from airflow_video_gen.families import GROK, KLING, SEEDANCE, VEO, WAN, Family, get_family
from airflow_video_gen.hooks.gateway import VideoGatewayHook
from airflow_video_gen.protocol import RetryPolicy
from airflow_video_gen.triggers.generation import (
    FAILURE_STATES,
    RETRYABLE_STATES,
    SUCCESS_STATES,
    TIMEOUT_STATES,
    VideoGenerationTrigger,
    generation_result,
    poll_once,
)

_SUBMISSION_KEYS = ("model", "operation")


def check_submission(submission: Any) -> dict[str, Any]:
    """The submit task's XCom, checked: a dict with at least ``model`` and ``operation``."""
    if not isinstance(submission, Mapping) or any(k not in submission for k in _SUBMISSION_KEYS):
        raise AirflowFailException(
            "submission must be the XCom of a submit task (a dict with 'model' and 'operation'); "
            f"got {type(submission).__name__}"
        )
    return dict(submission)


def wait_defaults(submission: Mapping[str, Any], family: Family | None) -> tuple[float, float]:
    """Poll interval and timeout in seconds: the request's ``pollIntervalMs`` / ``pollTimeoutMs``
    when it set them, else the family's defaults (5 s and 600 s; Seedance 3 s and 300 s)."""
    if family is None:
        family = get_family(str(submission.get("family") or "veo"))
    request = submission.get("request") or {}
    options = (
        ((request.get("providerOptions") or {}).get(family.provider_key) or {})
        if isinstance(request, Mapping)
        else {}
    )
    interval = options.get("pollIntervalMs")
    timeout = options.get("pollTimeoutMs")
    return (
        interval / 1000 if isinstance(interval, (int, float)) else family.poll_interval,
        timeout / 1000 if isinstance(timeout, (int, float)) else family.timeout,
    )


def finish_generation(task: Any, submission: Mapping[str, Any], event: Mapping[str, Any]) -> dict[str, Any]:
    """End a wait: return the result, or fail the task the way the outcome asks.

    - ``completed``: the sensor's XCom (the submission plus videos, warnings, metadata, elapsed).
    - ``error``, ``cancelled``: fails with the gateway's message and no retries.
    - ``timeout``: raises the sensor timeout.
    - ``transient``: fails the try normally, so Airflow's retries apply (the operation is kept).
    """
    status = event.get("status")
    label = f"{submission.get('model')} ({submission.get('idempotency_key', 'no key')})"
    for warning in event.get("warnings", []) or []:
        task.log.warning("Gateway warning for %s: %s", label, warning.get("message") or warning)
    if status in SUCCESS_STATES:
        result = generation_result(submission, event)
        task.log.info(
            "%s completed in %s s with %d video(s)", label, result["elapsed_s"], len(result["videos"])
        )
        return result
    message = f"{label}: {event.get('message', 'no message')}"
    if status in FAILURE_STATES:
        raise AirflowFailException(f"Video generation {status}: {message}")
    if status in TIMEOUT_STATES:
        raise AirflowSensorTimeout(f"Video generation timed out: {message}")
    if status in RETRYABLE_STATES:
        raise AirflowException(f"Gateway unavailable while waiting (will retry): {message}")
    raise AirflowException(f"Unexpected event for {label}: {dict(event)}")


class BaseVideoGenerationSensor(BaseSensorOperator):
    """Waits for a generation started by a submit operator.

    :param submission: The submit task's XCom (``submit.output``). Templated.
    :param gateway_conn_id: The ``ai_gateway`` connection (default ``ai_gateway_default``). Templated.
    :param poll_interval: Seconds between status calls; default the request's ``pollIntervalMs``,
        else the family's (5 s; Seedance 3 s).
    :param timeout: Seconds before the wait fails with a sensor timeout; default the request's
        ``pollTimeoutMs``, else the family's (600 s; Seedance 300 s).
    :param deferrable: Wait in the triggerer, holding no worker slot (default ``True``; Airflow's
        ``[operators] default_deferrable`` defaults to false, and waiting for video is exactly what
        deferral is for, so this provider defers unless told not to).
    :param max_retries: Retries of one status call on transient errors (default 5).
    """

    family: ClassVar[Family | None] = None
    template_fields = ("submission", "gateway_conn_id")
    ui_color = "#d9ecff"

    def __init__(
        self,
        *,
        submission: Any,
        gateway_conn_id: str = VideoGatewayHook.default_conn_name,
        poll_interval: float | None = None,
        timeout: float | None = None,
        deferrable: bool = True,
        max_retries: int = 5,
        **kwargs: Any,
    ) -> None:
        family = self.family
        super().__init__(
            poke_interval=poll_interval
            if poll_interval is not None
            else (family.poll_interval if family else 5.0),
            timeout=timeout if timeout is not None else (family.timeout if family else 600.0),
            **kwargs,
        )
        self.submission = submission
        self.gateway_conn_id = gateway_conn_id
        self.deferrable = deferrable
        self.max_retries = max_retries
        self._explicit = (poll_interval is not None, timeout is not None)

    @cached_property
    def hook(self) -> VideoGatewayHook:
        return VideoGatewayHook(self.gateway_conn_id, retry_policy=RetryPolicy(max_retries=self.max_retries))

    def _resolve(self) -> dict[str, Any]:
        submission = check_submission(self.submission)
        interval, timeout = wait_defaults(submission, self.family)
        if not self._explicit[0]:
            self.poke_interval = interval
        if not self._explicit[1]:
            self.timeout = timeout
        return submission

    def execute(self, context: Any) -> Any:
        submission = self._resolve()
        if not self.deferrable:
            return super().execute(context)
        # A generation that is already over is read here, without a round trip through the triggerer.
        event = poll_once(self.hook, submission["model"], submission["operation"])
        if event is not None:
            return finish_generation(self, submission, event)
        now = time.time()
        trigger = VideoGenerationTrigger(
            model=submission["model"],
            operation=submission["operation"],
            deadline=now + float(self.timeout),
            poll_interval=float(self.poke_interval),
            gateway_conn_id=self.gateway_conn_id,
            started_at=submission.get("submitted_at") or now,
            max_retries=self.max_retries,
            wait_first=True,
        )
        # The trigger keeps its own deadline; Airflow's is a net in case the trigger is lost.
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout) + 120),
        )

    def poke(self, context: Any) -> PokeReturnValue | bool:
        submission = self._resolve()
        event = poll_once(self.hook, submission["model"], submission["operation"])
        if event is None:
            self.log.info("%s: still generating", submission["model"])
            return False
        return PokeReturnValue(is_done=True, xcom_value=finish_generation(self, submission, event))

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger fired."""
        return finish_generation(self, check_submission(self.submission), event)


class VideoGenerationSensor(BaseVideoGenerationSensor):
    """Waits for a generation of any family; defaults come from the submission's family."""


class VeoGenerationSensor(BaseVideoGenerationSensor):
    """Waits for a Google Veo generation (polls every 5 s, up to 600 s by default)."""

    family = VEO


class KlingGenerationSensor(BaseVideoGenerationSensor):
    """Waits for a KlingAI generation (polls every 5 s, up to 600 s by default)."""

    family = KLING


class WanGenerationSensor(BaseVideoGenerationSensor):
    """Waits for a Wan generation (polls every 5 s, up to 600 s by default)."""

    family = WAN


class GrokGenerationSensor(BaseVideoGenerationSensor):
    """Waits for a Grok Imagine Video generation (polls every 5 s, up to 600 s by default)."""

    family = GROK


class SeedanceGenerationSensor(BaseVideoGenerationSensor):
    """Waits for a ByteDance Seedance generation (polls every 3 s, up to 300 s by default)."""

    family = SEEDANCE
