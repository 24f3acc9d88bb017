"""Batch operators: many images, generations and videos in one task instance, a record per item.

Airflow spends about a second on every task instance; a pipeline of hundreds of videos spends
most of its time there when each video takes four (stage, submit, wait, archive). A batch task does
the work of one step for many items, several at once, and still keeps what one task per video
gives: each item's own result, failure, idempotency key and retry (see
:mod:`airflow_video_gen.batches` for the records that travel between the batch tasks).

Each item runs through the per-item code of the single operator, unchanged: a batch operator is a
subclass of its single operator, and each item is a shallow copy of it with the item's values in
place of its parameters (:func:`item_view`). So an item is checked, keyed, started, stored and
described exactly as the single task would do it.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from difflib import get_close_matches
from functools import partial
from typing import Any, TypeVar

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_video_gen.batches import (
    ARCHIVED,
    DEFAULT_MAX_IN_FLIGHT,
    FAILED,
    REUSED,
    STAGED,
    SUBMITTED,
    batch_wait_defaults,
    check_batch_event,
    check_max_in_flight,
    check_records,
    defer_batch,
    end_of_step,
    failed_record,
    failure_lines,
    finish_batch,
    is_failed,
    poll_all,
    raise_transient,
    raise_unexpected,
    record_image,
    retry_hint,
    run_bounded,
    waiting_indices,
)
from airflow_video_gen.hooks.gateway import VideoGatewayHook
from airflow_video_gen.models import InvalidVideoRequest, Issue, VideoRequest
from airflow_video_gen.operators.archive import ArchiveVideoOperator, reused_record
from airflow_video_gen.operators.keywords import COMMON_TEMPLATE_FIELDS, TOP_LEVEL, is_literal
from airflow_video_gen.operators.staging import StageImageOperator, shown_image
from airflow_video_gen.operators.submit import BaseVideoSubmitOperator
from airflow_video_gen.protocol import MissingApiKeyError
from airflow_video_gen.waiting import follow_connection

Op = TypeVar("Op")

#: The keywords an item of a batch submit may give, each in place of the operator's own.
ITEM_KEYWORDS = ("model", "image", "text", *TOP_LEVEL, "provider_options")


def item_view(task: Op, **values: Any) -> Op:
    """``task`` for one item of its batch: a shallow copy with ``values`` in place of its
    parameters, sharing its clients and hooks, with lineage of its own (merged back by the batch)."""
    view = copy.copy(task)
    vars(view).update(values, _lineage_inputs=(), _lineage_outputs=())
    return view


def _merge_lineage(task: Any, views: Sequence[Any]) -> None:
    for view in views:
        task.record_lineage(inputs=view._lineage_inputs, outputs=view._lineage_outputs)


def _transient(exc: Exception) -> bool:
    """Whether an item's exception fails the try (Airflow retries it) rather than the item for good."""
    return not isinstance(exc, AirflowFailException)


class BatchStageImageOperator(StageImageOperator):
    """Stages many images in one task, each as :class:`StageImageOperator` stages one (checked
    against its model, fixed if asked, stored in S3 under its sha256), several at once.

    Returns one record per image, in order: ``{"status": "staged", "s3_uri", "width", "height",
    "media_type", "size", "sha256", "fixes"?, "keywords"}``, where ``keywords`` is the image's entry
    with ``image`` replaced by the staged ``s3_uri``, ready for :class:`BatchSubmitOperator`; or, for
    an image that could not be staged, ``{"status": "failed", "step": "stage", "model", "image",
    "message"}``. No presigned URL is kept (the submit task presigns). The task fails when no image
    could be staged; an S3 or network error that a retry may fix fails the try after every image
    was tried.

    :param images: The images: each an image (a local path, an ``http(s)://`` URL or an ``s3://``
        URI) or a dict with ``image`` and, optionally, ``model`` or ``family`` (whose image rules
        apply to it) and any other :class:`BatchSubmitOperator` item keyword, passed on. Templated.
    :param max_in_flight: Images staged at once (default 4).
    :param model: The model of the images whose entry names none. Templated.
    :param family: A family name instead, for entries that name no model. Templated.

    The other parameters are :class:`StageImageOperator`'s (``dest_s3_uri``, ``fix``, ``max_side``,
    ``pad_color``, ``max_bytes``, ``overwrite``, ``http_timeout``, ``aws_conn_id``).

    .. seealso::
        The batches of the operators page: ``docs/operators.md`` (Batches).
    """

    template_fields: Sequence[str] = ("images", "dest_s3_uri", "model", "family", "aws_conn_id")
    template_fields_renderers = {"images": "json"}

    def __init__(self, *, images: Any, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT, **kwargs: Any) -> None:
        kwargs.setdefault("multiple_outputs", False)
        super().__init__(image=None, **kwargs)
        self.images = images
        self.max_in_flight = check_max_in_flight(max_in_flight)

    def lineage_at_start(self) -> tuple[list[str], list[str]]:
        """The images the entries name (not read)."""
        if not isinstance(self.images, (list, tuple)):
            return [], []
        inputs = []
        for entry in self.images:
            image = entry.get("image") if isinstance(entry, Mapping) else entry
            inputs += StageImageOperator.lineage_at_start(item_view(self, image=image))[0]
        return inputs, []

    def _entry(self, index: int, entry: Any) -> dict[str, Any]:
        if isinstance(entry, str):
            return {"image": entry}
        if isinstance(entry, Mapping) and (is_failed(entry) or "image" in entry):
            return dict(entry)
        raise AirflowFailException(
            f"{type(self).__name__} images[{index}] must be an image (a path, an http(s) URL or an "
            f"s3:// URI) or a dict with 'image'; got {type(entry).__name__}"
        )

    def execute(self, context: Any) -> list[dict[str, Any]]:  # type: ignore[override]
        entries = [self._entry(i, e) for i, e in enumerate(check_records(self.images, "images"))]
        todo = [i for i, entry in enumerate(entries) if not is_failed(entry)]
        if todo:
            self.s3_client  # noqa: B018  (made once, before the threads share it)
        results = run_bounded(
            partial(self._stage_one, context), [entries[i] for i in todo], self.max_in_flight
        )
        raise_unexpected(results)
        records: list[dict[str, Any]] = list(entries)
        transient = []
        for index, result in zip(todo, results, strict=True):
            entry = entries[index]
            if isinstance(result, Exception):
                if _transient(result):
                    transient.append((index, str(result)))
                model = entry.get("model") or self.model
                records[index] = failed_record(
                    "stage", str(result), model=model, image=shown_image(entry["image"])
                )
                continue
            records[index], view = result
            _merge_lineage(self, [view])
        raise_transient(self, context, transient, len(todo), "staging")
        self.log.info("Staged %d of %d image(s)", sum(r["status"] == STAGED for r in records), len(records))
        return end_of_step(self, records, "stage")

    def _stage_one(self, context: Any, entry: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        view = item_view(
            self,
            image=entry["image"],
            model=entry.get("model", self.model),
            family=entry.get("family", self.family),
        )
        staged = view.stage(context, presign=False)
        keywords = {k: v for k, v in entry.items() if k != "family"} | {"image": staged["s3_uri"]}
        return {"status": STAGED, **staged, "keywords": keywords}, view


class BatchSubmitOperator(BaseVideoSubmitOperator):
    """Starts many generations in one task, each as a submit operator starts one, several at once.

    Every request is built and checked first (each ``s3://`` image read from its head and
    presigned, ``skip_if_archived`` looked up), then ``min_balance`` is read once, and only then
    are the generations started. Each has its own idempotency key, derived from the DAG, run,
    task, map index and *its request* (not its position), so a retried or cleared batch re-attaches
    to what it started (nothing billed twice), whatever the order of the items, and starts a new
    generation only for those that ended in error or were cancelled (the key chain of
    ``docs/failures.md``). Two items with the same request share one generation.

    Returns one record per item, in order: the submission a submit operator returns, with
    ``"status": "submitted"`` (``"reused"`` with ``skip_if_archived``); or ``{"status": "failed",
    "step": "submit", "model", "image", "message"}`` for an item refused before its start (an
    invalid request, a refused start). Failed records given are passed on. The task fails when no
    item is left; with ``wait_for_completion``, it waits for all of them in one deferral and returns
    what :class:`~airflow_video_gen.sensors.batch.BatchGenerationSensor` returns, starting a
    generation that ended in error again up to ``max_regenerations`` times.

    :param requests: The items: each a dict of submit keywords (``model``, ``image``, ``text``,
        ``n``, ``duration``, ``resolution``, ``aspect_ratio``, ``fps``, ``seed``,
        ``generate_audio``, ``provider_options``), an image alone, or a record of
        :class:`BatchStageImageOperator` (its ``keywords``). An item's keyword replaces the
        operator's. Templated.
    :param max_in_flight: Items checked or started at once (default 4).

    The other parameters are those of the submit operators (:class:`GatewaySubmitOperator`), the
    defaults of every item; ``model`` may be left out when every item names its own, and a
    family's options go in ``provider_options``.

    .. seealso::
        The batches of the operators page: ``docs/operators.md`` (Batches).
    """

    needs_model = False
    template_fields: Sequence[str] = (*COMMON_TEMPLATE_FIELDS, "requests")
    template_fields_renderers = {"provider_options": "json", "requests": "json"}

    def __init__(self, *, requests: Any, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.requests = requests
        self.max_in_flight = check_max_in_flight(max_in_flight)
        self._check_at_parse_time()

    # ------------------------------------------------------------------------------- the items

    def _keywords(self, index: int, entry: Any) -> dict[str, Any] | None:
        """The submit keywords of an item, ``None`` for a failed record (passed on).

        :raises ValueError: For an entry that is none of the forms ``requests`` takes.
        """
        if isinstance(entry, Mapping) and entry.get("status") is not None:
            if entry["status"] == FAILED:
                return None
            if entry["status"] == STAGED and isinstance(entry.get("keywords"), Mapping):
                entry = entry["keywords"]
            else:
                raise ValueError(
                    f"requests[{index}] is a record with status {entry['status']!r}; give submit keywords "
                    "or the records of a BatchStageImageOperator"
                )
        if isinstance(entry, str):
            return {"image": entry}
        if not isinstance(entry, Mapping):
            raise ValueError(
                f"requests[{index}] must be a dict of submit keywords; got {type(entry).__name__}"
            )
        unknown = [k for k in entry if k not in ITEM_KEYWORDS]
        if unknown:
            hints = []
            for key in unknown:
                close = get_close_matches(str(key), ITEM_KEYWORDS, n=1)
                hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise ValueError(
                f"requests[{index}] has unknown keyword(s) {', '.join(hints)}; an item takes "
                f"{', '.join(ITEM_KEYWORDS)} (a family's options go in provider_options)"
            )
        return dict(entry)

    def _entries(self) -> list[dict[str, Any] | None]:
        try:
            return [self._keywords(i, e) for i, e in enumerate(check_records(self.requests, "requests"))]
        except ValueError as exc:
            raise AirflowFailException(f"{type(self).__name__} {exc}") from exc

    def _view(self, keywords: Mapping[str, Any], *, rendered: bool = True) -> BatchSubmitOperator:
        """The operator for one item. Values that arrive at run time are coerced into the types
        their parameters declare, as templated values are."""
        templated = self._templated | set(keywords) if rendered else self._templated
        return item_view(self, **keywords, _templated=frozenset(templated))

    def _check_at_parse_time(self) -> None:
        """Each literal item, checked while the DAG file is parsed as a submit operator checks its
        values (the base class calls this before ``requests`` is set: nothing to check then)."""
        requests = getattr(self, "requests", None)
        if not isinstance(requests, (list, tuple)):
            return
        for index, entry in enumerate(requests):
            if not is_literal(entry):
                continue
            keywords = self._keywords(index, entry)
            if keywords is None or not (keywords.get("model") or self.model):
                continue
            try:
                BaseVideoSubmitOperator._check_at_parse_time(self._view(keywords, rendered=False))
            except InvalidVideoRequest as exc:
                issues = [Issue(f"requests[{index}].{i.param}", i.message) for i in exc.issues]
                raise InvalidVideoRequest(exc.model, issues) from exc

    # ------------------------------------------------------------------------------- execution

    def execute(self, context: Any) -> list[dict[str, Any]]:  # type: ignore[override]
        entries = self._entries()
        records: list[dict[str, Any]] = list(check_records(self.requests, "requests"))
        todo = [i for i, keywords in enumerate(entries) if keywords is not None]
        if self.skip_if_archived or any(
            str((entries[i] or {}).get("image", self.image)).startswith("s3://") for i in todo
        ):
            self.s3_client  # noqa: B018  (made once, before the threads share it)
        prepared = run_bounded(
            partial(self._prepare, context), [entries[i] or {} for i in todo], self.max_in_flight
        )
        raise_unexpected(prepared)
        transient: list[tuple[int, str]] = []
        to_start: dict[str, list[int]] = {}
        views: dict[int, tuple[BatchSubmitOperator, VideoRequest]] = {}
        for index, result in zip(todo, prepared, strict=True):
            if isinstance(result, Exception):
                records[index] = self._failed(index, entries[index] or {}, result, transient)
                continue
            view, request, reused = result
            views[index] = (view, request)
            if reused is not None:
                records[index] = {**reused, "status": REUSED}
            else:
                to_start.setdefault(request.fingerprint(), []).append(index)
        raise_transient(self, context, transient, len(todo), "checking the requests")
        if to_start:
            self._start_all(context, entries, records, views, list(to_start.values()))
        _merge_lineage(self, [view for view, _ in views.values()])
        records = end_of_step(self, records, "submit")
        if self.wait_for_completion:
            return self._wait_for_all(context, records, [0] * len(records))
        return records

    def _prepare(
        self, context: Any, keywords: dict[str, Any]
    ) -> tuple[BatchSubmitOperator, VideoRequest, dict[str, Any] | None]:
        """An item's request, checked and presigned, and its archived videos (``skip_if_archived``)."""
        view = self._view(keywords)
        if not view.model:
            raise AirflowFailException(
                f"{type(self).__name__}: this item names no model and the operator has none; give the "
                "item a 'model' or the operator model="
            )
        request = view._request_to_send()
        return view, request, view._archived(context, request)

    def _failed(
        self, index: int, keywords: Mapping[str, Any], exc: Exception, transient: list[tuple[int, str]]
    ) -> dict[str, Any]:
        if _transient(exc):
            transient.append((index, str(exc)))
        image = keywords.get("image", self.image)
        return failed_record(
            "submit",
            str(exc),
            model=keywords.get("model") or self.model,
            image=shown_image(image) if image is not None else None,
        )

    def _start_all(
        self,
        context: Any,
        entries: Sequence[Mapping[str, Any] | None],
        records: list[dict[str, Any]],
        views: Mapping[int, tuple[BatchSubmitOperator, VideoRequest]],
        groups: list[list[int]],
    ) -> None:
        """Start (or re-attach to) one generation per distinct request; every check has passed."""
        for group in groups:
            if len(group) > 1:
                self.log.warning(
                    "Items %s are the same request (%s): one generation serves them all",
                    ", ".join(f"[{i}]" for i in group),
                    views[group[0]][1].model,
                )
        hook = VideoGatewayHook(self.gateway_conn_id)
        try:
            try:
                hook.keyed_config()
            except MissingApiKeyError as exc:
                raise AirflowFailException(str(exc)) from exc
            hook.client  # noqa: B018  (made once, before the threads share it)
            balance = self._balance_before(context, hook, views[groups[0][0]][1].model)
            started = run_bounded(
                lambda group: views[group[0]][0]._attach_or_start(
                    context, hook, views[group[0]][1], self._base_key(context, views[group[0]][1])
                ),
                groups,
                self.max_in_flight,
            )
        finally:
            hook.close()
        raise_unexpected(started)
        transient: list[tuple[int, str]] = []
        for group, result in zip(groups, started, strict=True):
            for index in group:
                if isinstance(result, Exception):
                    records[index] = self._failed(index, entries[index] or {}, result, transient)
                    continue
                records[index] = {**result, "status": SUBMITTED}
                if balance is not None:
                    records[index]["balance_before"] = str(balance)
        raise_transient(self, context, transient, sum(len(g) for g in groups), "starting the generations")
        self.log.info(
            "Started or re-attached %d generation(s) for %d item(s)", len(groups), sum(len(g) for g in groups)
        )

    # ------------------------------------------------------------------------------- waiting

    def _wait_for_all(
        self, context: Any, records: list[dict[str, Any]], regenerated: list[int]
    ) -> list[dict[str, Any]]:
        pending = waiting_indices(records)
        if not pending:
            return end_of_step(self, records, "wait")
        # Seen in the UI while the task waits; read back when it resumes.
        context["ti"].xcom_push(key="submissions", value=records)
        interval, timeout = batch_wait_defaults([records[i] for i in pending])
        interval = self.poll_interval if self.poll_interval is not None else interval
        timeout = self.timeout if self.timeout is not None else timeout
        if self.deferrable:
            defer_batch(
                self,
                [records[i] for i in pending],
                timeout=timeout,
                poll_interval=interval,
                gateway_conn_id=self.gateway_conn_id,
                kwargs={"regenerated": regenerated},
            )
        deadline = time.time() + timeout
        outcomes: dict[int, dict[str, Any]] = {}
        hook = VideoGatewayHook(self.gateway_conn_id)
        try:
            while len(outcomes) < len(pending) and time.time() < deadline:
                left = [i for i in pending if i not in outcomes]
                for index, outcome in zip(left, poll_all(hook, [records[i] for i in left]), strict=True):
                    if outcome is not None:
                        outcomes[index] = outcome
                if len(outcomes) < len(pending):
                    time.sleep(max(0.0, min(interval, deadline - time.time())))
        finally:
            hook.close()
        timed_out = {"status": "timeout", "message": f"no result after {timeout:g} s"}
        ended = [outcomes.get(i, timed_out) for i in pending]
        return self._resume(context, records, pending, ended, regenerated)

    def execute_complete(  # type: ignore[override]
        self, context: Any, event: dict[str, Any] | None = None, regenerated: list[int] | None = None
    ) -> list[dict[str, Any]]:
        """Resume when every generation of the batch has ended (``wait_for_completion``)."""
        ti = context["ti"]
        records = ti.xcom_pull(task_ids=ti.task_id, key="submissions", map_indexes=ti.map_index)
        if not isinstance(records, list):
            raise AirflowException("the submissions of this batch were lost; its generations cannot be read")
        pending = waiting_indices(records)
        outcomes = check_batch_event(event, len(pending))
        return self._resume(context, records, pending, outcomes, regenerated or [0] * len(records))

    def _resume(
        self,
        context: Any,
        records: list[dict[str, Any]],
        pending: list[int],
        outcomes: Sequence[Mapping[str, Any]],
        regenerated: list[int],
    ) -> list[dict[str, Any]]:
        """Each item as the one-task submit ends its wait: its result, its failure, or (with
        regenerations left) a new generation, all of which are waited for again together."""
        again = [
            (i, o) for i, o in zip(pending, outcomes, strict=True) if self._regenerates(o, regenerated[i])
        ]
        ended = [(i, o) for i, o in zip(pending, outcomes, strict=True) if i not in dict(again)]
        records = finish_batch(self, records, [i for i, _ in ended], [o for _, o in ended], context)
        if not again:
            return end_of_step(self, records, "wait")
        entries = self._entries()
        fresh = run_bounded(
            lambda pair: self._view(entries[pair[0]] or {})._start_again(
                context, records[pair[0]], pair[1], regenerated[pair[0]]
            ),
            again,
            self.max_in_flight,
        )
        raise_unexpected(fresh)
        transient: list[tuple[int, str]] = []
        for (index, _), result in zip(again, fresh, strict=True):
            if isinstance(result, Exception):
                records[index] = self._failed(index, entries[index] or {}, result, transient)
                continue
            records[index] = {**result, "status": SUBMITTED}
            regenerated[index] += 1
        raise_transient(self, context, transient, len(again), "starting the generations again")
        return self._wait_for_all(context, records, regenerated)


class BatchArchiveVideoOperator(ArchiveVideoOperator):
    """Archives the videos of many generations in one task, each as :class:`ArchiveVideoOperator`
    archives one (streamed into S3 with its sidecar and contact sheet), several at once.

    Returns one record per item, in order: the archive record with ``"status": "archived"`` (or
    ``"reused"`` for videos archived before, with ``skip_if_archived``), or the item's failed
    record. When an item failed, here or at an earlier step, the task fails after archiving the
    others, its message naming each failed item (model, image, the gateway's message); the records
    are kept as the task's XCom all the same, and the videos archived stay in S3 (a retry finds
    them there and stores nothing twice). Asset events are emitted only when the task succeeds.

    :param generations: The records of :class:`~airflow_video_gen.sensors.batch.BatchGenerationSensor`
        (``wait.output``), or of a :class:`BatchSubmitOperator` that waited. Templated.
    :param max_in_flight: Videos archived at once (default 4), each with up to
        ``max_concurrency`` parts in flight.

    The other parameters are :class:`ArchiveVideoOperator`'s.

    .. seealso::
        The batches of the operators page: ``docs/operators.md`` (Batches).
    """

    template_fields: Sequence[str] = ("generations", "dest_s3_uri", "aws_conn_id", "gateway_conn_id")
    template_fields_renderers = {"generations": "json"}

    def __init__(
        self, *, generations: Any, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT, **kwargs: Any
    ) -> None:
        super().__init__(generation=None, **kwargs)
        self.generations = generations
        self.max_in_flight = check_max_in_flight(max_in_flight)

    def lineage_at_start(self) -> tuple[list[str], list[str]]:
        """The images the generations' requests name."""
        if not isinstance(self.generations, (list, tuple)):
            return [], []
        inputs = []
        for record in self.generations:
            inputs += ArchiveVideoOperator.lineage_at_start(item_view(self, generation=record))[0]
        return inputs, []

    def execute(self, context: Any) -> list[dict[str, Any]]:  # type: ignore[override]
        records: list[dict[str, Any]] = list(check_records(self.generations, "generations"))
        out = list(records)
        todo = []
        for index, record in enumerate(records):
            reused = reused_record(record)
            if reused is not None:
                out[index] = {**reused, "status": REUSED}
            elif not is_failed(record):
                todo.append(index)
        hooks = {conn: VideoGatewayHook(conn) for conn in {self._conn_of(records[i]) for i in todo}}
        try:
            if todo:
                self.s3_client  # noqa: B018  (made once, before the threads share it)
            for hook in hooks.values():
                hook.client  # noqa: B018
            results = run_bounded(
                lambda i: self._archive_one(context, records[i], hooks[self._conn_of(records[i])]),
                todo,
                self.max_in_flight,
            )
        finally:
            for hook in hooks.values():
                hook.close()
        raise_unexpected(results)
        transient: list[tuple[int, str]] = []
        archived = []
        for index, result in zip(todo, results, strict=True):
            record = records[index]
            if isinstance(result, Exception):
                if _transient(result):
                    transient.append((index, str(result)))
                out[index] = failed_record(
                    "archive",
                    str(result),
                    model=record.get("model"),
                    image=record_image(record),
                    idempotency_key=record.get("idempotency_key"),
                )
                continue
            result_record, view = result
            out[index] = {**result_record, "status": ARCHIVED}
            archived.append(result_record)
            _merge_lineage(self, [view])
        counts = {s: sum(r.get("status") == s for r in out) for s in (ARCHIVED, REUSED, FAILED)}
        self.log.info(
            "Batch of %d: %d archived, %d reused, %d failed",
            len(out),
            counts[ARCHIVED],
            counts[REUSED],
            counts[FAILED],
        )
        failed = failure_lines(out)
        if failed:
            # The task fails, and its return value is not written: keep the records all the same.
            context["ti"].xcom_push(key="return_value", value=out)
            raise_transient(self, context, transient, len(todo), "archiving")
            raise AirflowFailException(
                f"{len(failed)} of {len(out)} item(s) of this batch have no archived video (the other "
                f"{len(out) - len(failed)} are in S3):\n" + "\n".join(failed) + retry_hint(out)
            )
        self._announce(context, archived)
        return out

    def _conn_of(self, record: Mapping[str, Any]) -> str:
        return follow_connection(self.gateway_conn_id, record)

    def _archive_one(
        self, context: Any, record: Mapping[str, Any], hook: VideoGatewayHook
    ) -> tuple[dict[str, Any], Any]:
        view = item_view(self, generation=record)
        return view.archive(context, hook), view


__all__ = [
    "ITEM_KEYWORDS",
    "BatchArchiveVideoOperator",
    "BatchStageImageOperator",
    "BatchSubmitOperator",
    "item_view",
]
