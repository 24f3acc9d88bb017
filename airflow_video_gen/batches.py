"""Batches: many generations in one task instance, each keeping its own result, failure and retry.

A batch task (``BatchStageImageOperator``, ``BatchSubmitOperator``, ``BatchGenerationSensor``,
``BatchArchiveVideoOperator``) returns one record per item, in the order it was given. A record is
what the single task returns for that item (a staged image, a submission, a generation, an archive
result) plus its ``status``; an item that failed is a record of its own::

    {"status": "failed", "step": "wait", "model": "...", "image": "...", "message": "...", ...}

Each batch task works on the items still going and passes failed records on unchanged. It fails
only when nothing of its batch is left to pass on, except the archive task, which ends the chain:
it fails whenever an item failed, after archiving the rest, naming each failed item.

This module holds what the batch tasks share: the records, the bounded pool that handles several
items at once, and the waiting for all of a batch's generations (one deferral, one event).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import timedelta
from typing import Any, NoReturn, TypeVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout

from airflow_video_gen.failures import retry_note
from airflow_video_gen.hooks.gateway import VideoGatewayHook
from airflow_video_gen.polling import expected_seconds
from airflow_video_gen.triggers.batch import ENDED, BatchGenerationTrigger
from airflow_video_gen.waiting import (
    DEFER_TIMEOUT_MARGIN,
    RETRYABLE_STATES,
    check_resumed_event,
    finish_generation,
    poll_once,
    wait_defaults,
    wait_kwargs,
)

T = TypeVar("T")
R = TypeVar("R")

#: Record statuses, by step: an image stored in S3...
STAGED = "staged"
#: ... a generation started...
SUBMITTED = "submitted"
#: ... a generation that ended with its videos (as a sensor returns it)...
COMPLETED = "completed"
#: ... its videos in S3...
ARCHIVED = "archived"
#: ... videos archived before for the same request (``skip_if_archived``): nothing started...
REUSED = "reused"
#: ... or an item that failed, at the step its record names.
FAILED = "failed"

#: Items a batch task handles at once, by default.
DEFAULT_MAX_IN_FLIGHT = 4


def check_max_in_flight(value: int) -> int:
    """``max_in_flight``, checked. :raises ValueError: For less than 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"max_in_flight must be a whole number of items, at least 1; got {value!r}")
    return value


def check_records(value: Any, param: str) -> list[Any]:
    """A batch parameter as a list: the XCom of the batch task before (or a list given in the DAG;
    a JSON string, as a template renders it, is read first).

    :raises AirflowFailException: For anything but a list.
    """
    if isinstance(value, str):
        with suppress(ValueError):
            value = json.loads(value)
    if not isinstance(value, (list, tuple)):
        raise AirflowFailException(
            f"{param} must be a list (the XCom of the batch task before, or a list of items); "
            f"got {type(value).__name__}"
        )
    return list(value)


def failed_record(
    step: str, message: str, *, model: Any = None, image: Any = None, **extra: Any
) -> dict[str, Any]:
    """The record of an item that failed at ``step`` (``stage``, ``submit``, ``wait``, ``archive``).

    :param message: What the single task would have failed with.
    :param model: The item's model id, when known.
    :param image: The item's image as shown in messages (a source, never image data).
    :param extra: More to keep (the generation's ``idempotency_key``, ``operation``, ``attempt``).
    """
    return {"status": FAILED, "step": step, "model": model, "image": image, "message": message, **extra}


def is_failed(record: Any) -> bool:
    return isinstance(record, Mapping) and record.get("status") == FAILED


def record_image(record: Mapping[str, Any]) -> str | None:
    """The image of a record, as shown in messages: a failed record's ``image``, else the source
    of the start frame its ``request`` describes."""
    if isinstance(record.get("image"), str):
        return str(record["image"])
    request = record.get("request")
    prompt = request.get("prompt") if isinstance(request, Mapping) else None
    image = prompt.get("image") if isinstance(prompt, Mapping) else None
    source = image.get("source") if isinstance(image, Mapping) else None
    return source if isinstance(source, str) else None


def failure_lines(records: Sequence[Any]) -> list[str]:
    """One line per failed record: ``[3] <model>, <image> (at <step>): <message>``."""
    lines = []
    for index, record in enumerate(records):
        if is_failed(record):
            what = ", ".join(str(v) for v in (record.get("model"), record_image(record)) if v)
            lines.append(f"  [{index}] {what or 'item'} (at {record.get('step')}): {record.get('message')}")
    return lines


#: How to generate failed items again, in a message that lists generations that failed.
RETRY_HINT = (
    "Clear this batch's submit task (and the tasks after it) to generate the failed items again: a "
    "generation that failed is started again under the next idempotency key of its chain, the others "
    "are re-attached and not billed again; or give the submit task max_regenerations with "
    "wait_for_completion=True."
)


def retry_hint(records: Sequence[Any]) -> str:
    """:data:`RETRY_HINT` on a line of its own when a generation of ``records`` failed, else ``""``."""
    return f"\n{RETRY_HINT}" if any(is_failed(r) and r.get("step") == "wait" for r in records) else ""


def end_of_step(task: BaseOperator, records: list[dict[str, Any]], step: str) -> list[dict[str, Any]]:
    """The records a batch task returns: failed ones are logged; when every item failed, nothing
    is left to pass on and the task fails, naming each.

    :raises AirflowFailException: When every record is a failure.
    """
    failed = failure_lines(records)
    if failed and len(failed) == len(records):
        raise AirflowFailException(
            f"Every item of this batch failed ({len(records)}):\n" + "\n".join(failed) + retry_hint(records)
        )
    if failed:
        task.log.warning(
            "%d of %d item(s) of this batch failed; the others go on (%s):\n%s",
            len(failed),
            len(records),
            step,
            "\n".join(failed),
        )
    return records


def run_bounded(fn: Callable[[T], R], items: Sequence[T], max_in_flight: int) -> list[R | Exception]:
    """``fn`` on every item, at most ``max_in_flight`` at once, in threads; the results in the
    order of ``items``, each the value or the exception ``fn`` raised for it."""

    def guarded(item: T) -> R | Exception:
        try:
            return fn(item)
        except Exception as exc:
            return exc

    if len(items) <= 1 or max_in_flight <= 1:
        return [guarded(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(max_in_flight, len(items)), thread_name_prefix="batch") as pool:
        return list(pool.map(guarded, items))


def raise_unexpected(results: Iterable[Any]) -> None:
    """Re-raise the first exception of ``results`` that no item record explains (a fault in the
    code rather than in an item): the task fails as it would have without a batch."""
    for result in results:
        if isinstance(result, Exception) and not isinstance(result, AirflowException):
            raise result


def raise_transient(
    task: BaseOperator, context: Any, transient: Sequence[tuple[int, str]], total: int, doing: str
) -> None:
    """Fail the try when items met transient trouble (Airflow's retries apply; a retry does the
    batch again, and what was done is found done: nothing is billed twice).

    :param transient: ``(index, message)`` of each such item.
    :param doing: What the batch was doing (``"archiving"``).
    """
    if not transient:
        return
    lines = "\n".join(f"  [{index}] {message}" for index, message in transient)
    raise AirflowException(
        f"{len(transient)} of {total} item(s) of this batch met transient trouble while {doing}:\n"
        f"{lines}\n{retry_note(task, context)}"
    )


# ------------------------------------------------------------------------------------------ waiting


def waiting_indices(records: Sequence[Any]) -> list[int]:
    """Positions of the records whose generation is still to be waited for (``submitted``)."""
    return [i for i, r in enumerate(records) if isinstance(r, Mapping) and r.get("status") == SUBMITTED]


def likely_ended(records: Sequence[Mapping[str, Any]], now: float | None = None) -> bool:
    """Whether every generation of ``records`` is past its expected time (its model's typical
    minimum for the request, :func:`~airflow_video_gen.polling.expected_seconds`): then reading
    their statuses from the worker likely ends the wait without a round trip through the triggerer;
    before it, a status call from the worker only holds the slot longer."""
    now = time.time() if now is None else now
    return all(
        isinstance(r.get("submitted_at"), (int, float))
        and now - r["submitted_at"] >= expected_seconds(r["model"], r.get("request"))
        for r in records
    )


def batch_wait_defaults(records: Sequence[Mapping[str, Any]]) -> tuple[float, float]:
    """Poll interval and timeout of a batch: the shortest interval and the longest timeout of its
    generations (each as :func:`~airflow_video_gen.waiting.wait_defaults` reads it)."""
    defaults = [wait_defaults(record, None) for record in records]
    return min(d[0] for d in defaults), max(d[1] for d in defaults)


def defer_batch(
    task: BaseOperator,
    records: Sequence[Mapping[str, Any]],
    *,
    timeout: float,
    poll_interval: float,
    gateway_conn_id: str,
    max_retries: int = 5,
    kwargs: dict[str, Any] | None = None,
) -> NoReturn:
    """Defer ``task`` until every generation of ``records`` has ended; it resumes in
    ``execute_complete`` with one :class:`~airflow_video_gen.triggers.batch.BatchGenerationTrigger`
    event holding each outcome, in the order of ``records``.

    Each generation is waited for as :func:`~airflow_video_gen.waiting.defer_until_done` waits for
    one (the same trigger keyword arguments), with one absolute deadline for all, ``timeout``
    seconds from now.
    """
    deadline = time.time() + timeout
    waits = [
        wait_kwargs(
            record,
            deadline=deadline,
            poll_interval=poll_interval,
            gateway_conn_id=gateway_conn_id,
            max_retries=max_retries,
        )
        for record in records
    ]
    task.log.info(
        "Waiting in the triggerer for %d generation(s), polling each every %g s, for up to %g s",
        len(waits),
        poll_interval,
        timeout,
    )
    task.defer(
        trigger=BatchGenerationTrigger.of(waits),
        method_name="execute_complete",
        kwargs=kwargs,
        timeout=timedelta(seconds=timeout + DEFER_TIMEOUT_MARGIN),
    )


def check_batch_event(event: Mapping[str, Any] | None, count: int) -> list[dict[str, Any]]:
    """The outcomes of the event a batch wait resumed with, each checked as a single wait's event.

    :param count: How many generations the batch waited for.
    :raises AirflowException: For a missing event, or one that is not a batch's (a retry waits again).
    """
    outcomes = event.get("outcomes") if event else None
    if not event or event.get("status") != ENDED or not isinstance(outcomes, list) or len(outcomes) != count:
        raise AirflowException(
            f"Trigger error: the batch resumed without the outcomes of its {count} generation(s): {event!r}"
        )
    return [check_resumed_event(outcome) for outcome in outcomes]


def finish_batch(
    task: BaseOperator,
    records: list[dict[str, Any]],
    indices: Sequence[int],
    outcomes: Sequence[Mapping[str, Any]],
    context: Any,
) -> list[dict[str, Any]]:
    """The records after the waits of ``indices`` ended as ``outcomes`` say, each item as a single
    wait ends (:func:`~airflow_video_gen.waiting.finish_generation`): a completed generation's
    record is what a sensor returns; one that failed, was cancelled or timed out becomes a failed
    record with the message a sensor would fail with.

    :raises AirflowException: When a status could not be read for a transient reason (the try
        fails; a retry waits again for the same generations).
    """
    done = list(records)
    transient = []
    for index, outcome in zip(indices, outcomes, strict=True):
        submission = records[index]
        if outcome.get("status") in RETRYABLE_STATES:
            label = f"{submission.get('model')} ({submission.get('idempotency_key')})"
            transient.append((index, f"{label}: {outcome.get('message')}"))
            continue
        try:
            done[index] = {**finish_generation(task, submission, outcome, context), "status": COMPLETED}
        except (AirflowFailException, AirflowSensorTimeout) as exc:
            done[index] = failed_record(
                "wait",
                str(exc),
                model=submission.get("model"),
                image=record_image(submission),
                idempotency_key=submission.get("idempotency_key"),
                operation=submission.get("operation"),
                attempt=submission.get("attempt"),
            )
    raise_transient(task, context, transient, len(indices), "waiting")
    return done


def poll_all(hook: VideoGatewayHook, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any] | None]:
    """One status call per record, from a worker (poke and reschedule modes, waits that do not
    defer): each the event that ends its wait, or ``None`` while pending."""
    return [poll_once(hook, record["model"], record["operation"]) for record in records]
