"""BatchGenerationSensor: waits for every generation of a batch in one task, a record per item.

Thin, as the single sensors are: each generation is waited for and ended as a single wait does
(:mod:`airflow_video_gen.batches`, :mod:`airflow_video_gen.waiting`); deferrable by default, with
one trigger for the whole batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowFailException

from airflow_video_gen.batches import (
    batch_wait_defaults,
    check_batch_event,
    check_records,
    defer_batch,
    end_of_step,
    finish_batch,
    likely_ended,
    poll_all,
    waiting_indices,
)
from airflow_video_gen.families import GATEWAY
from airflow_video_gen.hooks.gateway import VideoGatewayHook
from airflow_video_gen.protocol import RetryPolicy
from airflow_video_gen.waiting import follow_connection


class BatchGenerationSensor(BaseSensorOperator):
    """Waits for the generations a :class:`~airflow_video_gen.operators.batch.BatchSubmitOperator`
    started, all in one deferral: one trigger polls each of them as a generation sensor would and
    fires one event when all have ended.

    Returns one record per item, in order: what a generation sensor returns for it (``"status":
    "completed"``, its videos, warnings, metadata and elapsed time); for a generation that ended in
    error, was cancelled or timed out, ``{"status": "failed", "step": "wait", "model", "image",
    "message", "idempotency_key", "operation", "attempt"}`` with the message a sensor would fail
    with. Failed and reused records given are passed on. The task fails only when no item is left
    (the archive task names the failed items); a status call that fails for a transient reason
    fails the try, and a retry waits again for the same generations.

    :param submissions: The records of the batch submit task (``submit.output``). Templated.
    :param gateway_conn_id: The ``ai_gateway`` connection. Default ``None``: the one the submit task
        used, else ``ai_gateway_default``. Templated.
    :param poll_interval: Seconds between status calls of each generation; default the shortest of
        the generations' (the request's ``pollIntervalMs``, else the family's: 5 s; Seedance 3 s).
    :param timeout: Seconds before the generations still pending end with a timeout (each then a
        failed record); default the longest of the generations' (600 s; Seedance 300 s).
    :param deferrable: Wait in the triggerer, holding no worker slot (default ``True``). The task
        defers at once, without a status call of its own, unless every generation is past its
        expected time (then it reads their statuses first, and defers only if one is pending).
    :param max_retries: Retries of one status call on transient errors (default 5).

    .. seealso::
        The batches of the operators page: ``docs/operators.md`` (Batches).
    """

    template_fields = ("submissions", "gateway_conn_id")
    template_fields_renderers = {"submissions": "json"}
    ui_color = "#d9ecff"

    def __init__(
        self,
        *,
        submissions: Any,
        gateway_conn_id: str | None = None,
        poll_interval: float | None = None,
        timeout: float | None = None,
        deferrable: bool = True,
        max_retries: int = 5,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            poke_interval=poll_interval if poll_interval is not None else GATEWAY.poll_interval,
            timeout=timeout if timeout is not None else GATEWAY.timeout,
            **kwargs,
        )
        self.submissions = submissions
        self.gateway_conn_id = gateway_conn_id
        self.deferrable = deferrable
        self.max_retries = max_retries
        self._explicit = (poll_interval is not None, timeout is not None)

    def _resolve(self) -> tuple[list[dict[str, Any]], list[int]]:
        """The records, the positions still to wait for, and the defaults read from them."""
        records = check_records(self.submissions, "submissions")
        for index, record in enumerate(records):
            if not isinstance(record, Mapping):
                raise AirflowFailException(
                    f"submissions[{index}] must be a record of a batch submit task; "
                    f"got {type(record).__name__}"
                )
        pending = waiting_indices(records)
        if pending:
            interval, timeout = batch_wait_defaults([records[i] for i in pending])
            if not self._explicit[0]:
                self.poke_interval = interval
            if not self._explicit[1]:
                self.timeout = timeout
        return records, pending

    @cached_property
    def hook(self) -> VideoGatewayHook:
        """The hook of the connection the batch's generations were started with."""
        records, pending = self._resolve()
        first = records[pending[0]] if pending else {}
        conn_id = follow_connection(self.gateway_conn_id, first)
        return VideoGatewayHook(conn_id, retry_policy=RetryPolicy(max_retries=self.max_retries))

    def execute(self, context: Any) -> Any:
        records, pending = self._resolve()
        if not pending:
            return end_of_step(self, records, "wait")
        if not self.deferrable:
            return super().execute(context)
        waiting = [records[i] for i in pending]
        if likely_ended(waiting):
            outcomes = poll_all(self.hook, waiting)
            if all(outcome is not None for outcome in outcomes):
                ended = [o for o in outcomes if o is not None]
                return end_of_step(self, finish_batch(self, records, pending, ended, context), "wait")
        defer_batch(
            self,
            waiting,
            timeout=float(self.timeout),
            poll_interval=float(self.poke_interval),
            gateway_conn_id=self.hook.gateway_conn_id,
            max_retries=self.max_retries,
        )

    def poke(self, context: Any) -> PokeReturnValue | bool:
        records, pending = self._resolve()
        outcomes = poll_all(self.hook, [records[i] for i in pending])
        left = sum(outcome is None for outcome in outcomes)
        if left:
            self.log.info("%d of %d generation(s) still generating", left, len(pending))
            return False
        done = finish_batch(self, records, pending, [o for o in outcomes if o is not None], context)
        return PokeReturnValue(is_done=True, xcom_value=end_of_step(self, done, "wait"))

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Resume when every generation has ended (a missing or foreign event fails the try)."""
        records, pending = self._resolve()
        outcomes = check_batch_event(event, len(pending))
        return end_of_step(self, finish_batch(self, records, pending, outcomes, context), "wait")
