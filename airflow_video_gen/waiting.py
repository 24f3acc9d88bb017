"""Waiting for a generation, on the task's side: what an event means, defaults, deferral, resuming.

The sensors (deferrable, poke and reschedule) and the submit operators' ``wait_for_completion``
wait through these functions only, so results and failures are the same in every mode.

Where each piece lives, and why no import cycle is possible::

    hooks.gateway
       |
    waiting                 outcome_of: the event a status answer ends a wait with; what each event
       |                    means for the task; defaults; deferral; the resumed-event check
    triggers.generation     VideoGenerationTrigger builds its final event with outcome_of
       |
    sensors  |  operators   pass VideoGenerationTrigger to defer_until_done

Deferral needs the trigger class; :func:`defer_until_done` takes it from its caller (a sensor or a
submit operator, which sit above both), as the amazon operators take their hook class, instead of
importing it. That keeps the arrows one-way, as the ``import-linter`` layers contract of
``pyproject.toml`` checks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, NoReturn

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout
from airflow.triggers.base import BaseTrigger

from airflow_video_gen.failures import retry_note
from airflow_video_gen.families import FAMILIES, GATEWAY, Family
from airflow_video_gen.hooks.gateway import VideoGatewayHook
from airflow_video_gen.polling import expected_seconds
from airflow_video_gen.protocol import GatewayError, MissingApiKeyError, StatusResult
from airflow_video_gen.utils.redaction import redact

#: Event statuses, by what the task does with them: return the result...
SUCCESS_STATES = frozenset({"completed"})
#: ... fail with the gateway's message and no retries...
FAILURE_STATES = frozenset({"error", "cancelled"})
#: ... raise the sensor timeout...
TIMEOUT_STATES = frozenset({"timeout"})
#: ... or fail the try so Airflow's retries apply (transient trouble past the retry budget).
RETRYABLE_STATES = frozenset({"transient"})
#: Every status a wait can end with (``pending`` never ends one).
FINAL_STATES = SUCCESS_STATES | FAILURE_STATES | TIMEOUT_STATES | RETRYABLE_STATES

#: Seconds Airflow's own deferral timeout adds to the trigger's deadline: a net in case the trigger
#: is lost, never the timeout that normally ends a wait (the trigger's ``timeout`` event does).
DEFER_TIMEOUT_MARGIN = 120.0

_SUBMISSION_KEYS = ("model", "operation")
#: Event reasons of a generation that ended on the gateway's side (any other reason of an ``error``
#: event is a status call the gateway refused).
JOB_REASONS = frozenset({"job_failed", "job_cancelled"})


def outcome_of(status: StatusResult) -> dict[str, Any] | None:
    """The event a status ends a wait with, or ``None`` while the job is pending.

    The trigger (in the triggerer) and the waits in a worker (poke and reschedule modes, a submit
    that waits) read statuses through it. The event is small and JSON-safe: base64 results are
    listed by size, URLs are kept whole.

    :return: ``{"status", "reason", "message", ...}``: ``completed`` with ``videos`` (an
        ``uploaded`` one, delivered to the team's upload destination, is listed as the gateway
        gave it), ``warnings`` and ``provider_metadata``; ``error`` with the gateway's message; ``cancelled``.
    """
    if status.status == "completed":
        uploaded = sum(1 for video in status.videos if video.get("type") == "uploaded")
        elsewhere = f" ({uploaded} delivered to the team's upload destination)" if uploaded else ""
        return {
            "status": "completed",
            "reason": "completed",
            "message": f"{len(status.videos)} video(s) ready{elsewhere}",
            "videos": redact(status.videos, max_chars=None),
            "warnings": status.warnings,
            "provider_metadata": redact(status.provider_metadata, max_chars=None),
        }
    if status.status == "error":
        return {"status": "error", "reason": "job_failed", "message": status.error or "the generation failed"}
    if status.status == "cancelled":
        return {"status": "cancelled", "reason": "job_cancelled", "message": "the generation was cancelled"}
    return None


def outcome_of_error(exc: GatewayError) -> dict[str, Any]:
    """The event a status call's error ends a wait with: ``transient`` (the try fails and
    Airflow's retries apply) or ``error`` (the gateway will repeat it: the task fails for good).
    The message is the error as the hook raised it: status, type, the gateway's words, base URL
    and connection."""
    return {
        "status": "transient" if exc.retryable else "error",
        "reason": exc.error_type,
        "message": str(exc),
    }


def follow_connection(gateway_conn_id: str | None, submission: Mapping[str, Any]) -> str:
    """The ``ai_gateway`` connection a sensor or archive task uses: ``gateway_conn_id`` when
    given, else the one the submit task used (its ``gateway_conn_id``), else
    ``ai_gateway_default``."""
    if gateway_conn_id:
        return gateway_conn_id
    used = submission.get("gateway_conn_id")
    return used if isinstance(used, str) and used else VideoGatewayHook.default_conn_name


def check_submission(submission: Any) -> dict[str, Any]:
    """The submit task's XCom, checked: a dict with at least ``model`` and ``operation``.

    :raises AirflowFailException: For anything else (no retry makes it right).
    """
    if not isinstance(submission, Mapping) or any(k not in submission for k in _SUBMISSION_KEYS):
        raise AirflowFailException(
            "submission must be the XCom of a submit task (a dict with 'model' and 'operation'); "
            f"got {type(submission).__name__}"
        )
    return dict(submission)


def requested_wait(
    submission: Mapping[str, Any], family: Family | None = None
) -> tuple[float | None, float | None]:
    """The request's ``pollIntervalMs`` / ``pollTimeoutMs`` in seconds, each ``None`` when unset.

    :param family: The waiting task's family; ``None`` reads it from the submission.
    """
    if family is None:
        family = FAMILIES.get(str(submission.get("family")), GATEWAY)
    request = submission.get("request") or {}
    options = (
        ((request.get("providerOptions") or {}).get(family.provider_key) or {})
        if isinstance(request, Mapping)
        else {}
    )
    interval = options.get("pollIntervalMs")
    timeout = options.get("pollTimeoutMs")
    return (
        interval / 1000 if isinstance(interval, (int, float)) else None,
        timeout / 1000 if isinstance(timeout, (int, float)) else None,
    )


def wait_defaults(submission: Mapping[str, Any], family: Family | None) -> tuple[float, float]:
    """Poll interval and timeout in seconds: the request's ``pollIntervalMs`` / ``pollTimeoutMs``
    when it set them, else the family's defaults (5 s and 600 s; Seedance 3 s and 300 s).

    :param family: The waiting task's family; ``None`` reads it from the submission.
    """
    if family is None:
        family = FAMILIES.get(str(submission.get("family")), GATEWAY)
    interval, timeout = requested_wait(submission, family)
    return (
        interval if interval is not None else family.poll_interval,
        timeout if timeout is not None else family.timeout,
    )


def poll_once(hook: VideoGatewayHook, model: str, operation: Any) -> dict[str, Any] | None:
    """One status call from a worker (poke and reschedule modes, synchronous waits): the event
    that ends the wait, or ``None`` while pending."""
    try:
        status = hook.status(model, operation)
    except GatewayError as exc:
        return outcome_of_error(exc)
    return outcome_of(status)


def wait_kwargs(
    submission: Mapping[str, Any],
    *,
    deadline: float,
    poll_interval: float,
    gateway_conn_id: str,
    max_retries: int = 5,
) -> dict[str, Any]:
    """The keyword arguments of the ``VideoGenerationTrigger`` that waits for one generation, as
    :func:`defer_until_done` defers to it and a batch's trigger waits for each of its generations.

    :param submission: The checked submission (``model``, ``operation``, ``submitted_at``, and
        ``callback_job`` when its callback goes to this deployment's endpoint).
    :param deadline: Epoch seconds after which the wait ends with a ``timeout`` event.
    :param poll_interval: Seconds between status calls once past the generation's expected time
        (its model's typical minimum for the request's duration and resolution); a request that
        sets ``pollIntervalMs`` is polled at that interval from the start.
    """
    return {
        "model": submission["model"],
        "operation": submission["operation"],
        "deadline": deadline,
        "poll_interval": poll_interval,
        "gateway_conn_id": gateway_conn_id,
        "started_at": submission.get("submitted_at") or time.time(),
        "max_retries": max_retries,
        "wait_first": True,
        **({"callback_job": submission["callback_job"]} if submission.get("callback_job") else {}),
        "expected": round(expected_seconds(submission["model"], submission.get("request")), 3),
        "fixed_interval": requested_wait(submission)[0] is not None,
    }


def defer_until_done(
    task: BaseOperator,
    trigger_class: Callable[..., BaseTrigger],
    submission: Mapping[str, Any],
    *,
    deadline: float,
    poll_interval: float,
    gateway_conn_id: str,
    max_retries: int = 5,
    kwargs: dict[str, Any] | None = None,
) -> NoReturn:
    """Defer ``task`` until the generation ends; it resumes in ``execute_complete``.

    The trigger keeps the absolute ``deadline`` in its kwargs (it survives a triggerer restart);
    Airflow's own timeout is set :data:`DEFER_TIMEOUT_MARGIN` later, as a net in case the trigger
    is lost. The trigger sleeps one interval before its first poll: the caller has just read the
    status itself. A submission with a ``callback_job`` (its callback goes to this deployment's
    endpoint) makes the trigger wait for that callback, polling as the fallback.

    :param trigger_class: ``VideoGenerationTrigger`` (or a subclass), given by the caller.
    :param submission: The checked submission (``model``, ``operation``, ``submitted_at``).
    :param deadline: Epoch seconds after which the wait ends with a ``timeout`` event.
    :param kwargs: Passed on to ``execute_complete`` (besides the event).
    """
    now = time.time()
    trigger = trigger_class(
        **wait_kwargs(
            submission,
            deadline=deadline,
            poll_interval=poll_interval,
            gateway_conn_id=gateway_conn_id,
            max_retries=max_retries,
        )
    )
    task.defer(
        trigger=trigger,
        method_name="execute_complete",
        kwargs=kwargs,
        timeout=timedelta(seconds=max(0.0, deadline - now) + DEFER_TIMEOUT_MARGIN),
    )


def check_resumed_event(event: Mapping[str, Any] | None) -> dict[str, Any]:
    """The event a deferred task resumed with, checked (as the amazon provider's
    ``validate_execute_complete_event``): a missing or empty event, or one whose ``status`` no
    trigger sends, fails the try with a message that says so.

    :raises AirflowException: For such an event (a retry waits again for the same operation).
    """
    if not event:
        raise AirflowException(
            "Trigger error: the task resumed without an event; the generation's outcome is unknown"
        )
    status = event.get("status")
    if status not in FINAL_STATES:
        raise AirflowException(
            f"Trigger error: the task resumed with an event whose status is {status!r}, "
            f"not one of {', '.join(sorted(FINAL_STATES))}: {dict(event)}"
        )
    return dict(event)


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


def finish_generation(
    task: BaseOperator,
    submission: Mapping[str, Any],
    event: Mapping[str, Any],
    context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """End a wait: return the result, or fail the task the way the outcome asks.

    - ``completed``: the sensor's XCom (the submission plus videos, warnings, metadata, elapsed).
    - ``error``, ``cancelled``: fails with the gateway's message and no retries (a generation that
      failed reads ``Video generation error``; a status call that failed for good, such as a
      rejected API key, reads ``The status call for <model> (<key>) failed``).
    - ``timeout``: raises the sensor timeout.
    - ``transient``: fails the try normally, so Airflow's retries apply (the operation is kept);
      the message says whether a try is left (:func:`retry_note`).

    :param context: The task's context, for the retry note (default: the running one).
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
    reason = event.get("reason")
    if status in FAILURE_STATES:
        if reason == MissingApiKeyError.default_type:
            raise AirflowFailException(str(event.get("message")))
        if reason is None or reason in JOB_REASONS:
            raise AirflowFailException(f"Video generation {status}: {message}")
        raise AirflowFailException(f"The status call for {label} failed: {event.get('message')}")
    if status in TIMEOUT_STATES:
        raise AirflowSensorTimeout(f"Video generation timed out: {message}")
    if status in RETRYABLE_STATES:
        raise AirflowException(
            f"Gateway unavailable while waiting for {message}; {retry_note(task, context)}"
        )
    raise AirflowException(f"Unexpected event for {label}: {dict(event)}; {retry_note(task, context)}")
