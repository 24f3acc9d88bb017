"""Sensors that wait for a submitted generation: deferrable by default, poke and reschedule too.

Thin: every mode waits through :mod:`airflow_video_gen.waiting` (the same status logic, the same
end through :func:`~airflow_video_gen.waiting.finish_generation`).
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import Any, ClassVar

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_video_gen.families import GATEWAY, GROK, KLING, SEEDANCE, VEO, WAN, Family
from airflow_video_gen.hooks.gateway import VideoGatewayHook
from airflow_video_gen.protocol import RetryPolicy
from airflow_video_gen.triggers.generation import VideoGenerationTrigger
from airflow_video_gen.utils.gallery_links import VideoGalleryLink
from airflow_video_gen.waiting import (
    check_resumed_event,
    check_submission,
    defer_until_done,
    finish_generation,
    follow_connection,
    poll_once,
    wait_defaults,
)


class BaseVideoGenerationSensor(BaseSensorOperator):
    """Waits for a generation started by a submit operator.

    Its ``Video`` extra link opens the videos archived from the generation in the gallery of
    Airflow's UI, once an archive task has stored them.

    :param submission: The submit task's XCom (``submit.output``). Templated.
    :param gateway_conn_id: The ``ai_gateway`` connection. Default ``None``: the one the submit
        task used (the submission's ``gateway_conn_id``), else ``ai_gateway_default``. Templated.
    :param poll_interval: Seconds between status calls once the generation is past its expected
        time (its model's typical minimum, corrected by the completions the triggerer has seen):
        the most a video done after that time waits to be found. Before it, calls are sparse: none
        unless the expected time is far off (see :mod:`airflow_video_gen.polling`); in poke and
        reschedule modes, every ``poll_interval``. Default the request's ``pollIntervalMs`` (then
        the wait calls at that interval from the start, as asked), else the family's (5 s;
        Seedance 3 s).
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
    operator_extra_links = (VideoGalleryLink(),)

    def __init__(
        self,
        *,
        submission: Any,
        gateway_conn_id: str | None = None,
        poll_interval: float | None = None,
        timeout: float | None = None,
        deferrable: bool = True,
        max_retries: int = 5,
        **kwargs: Any,
    ) -> None:
        family = self.family or GATEWAY
        super().__init__(
            poke_interval=poll_interval if poll_interval is not None else family.poll_interval,
            timeout=timeout if timeout is not None else family.timeout,
            **kwargs,
        )
        self.submission = submission
        self.gateway_conn_id = gateway_conn_id
        self.deferrable = deferrable
        self.max_retries = max_retries
        self._explicit = (poll_interval is not None, timeout is not None)

    @cached_property
    def hook(self) -> VideoGatewayHook:
        """The hook of the connection this sensor follows (:meth:`conn_id`)."""
        return VideoGatewayHook(self.conn_id(), retry_policy=RetryPolicy(max_retries=self.max_retries))

    def conn_id(self) -> str:
        """The connection polled: ``gateway_conn_id``, else the submit task's, else the default."""
        return follow_connection(self.gateway_conn_id, check_submission(self.submission))

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
        if submission.get("reused"):
            return self._reused(submission)
        if not self.deferrable:
            return super().execute(context)
        # A generation that is already over is read here, without a round trip through the triggerer.
        event = poll_once(self.hook, submission["model"], submission["operation"])
        if event is not None:
            return finish_generation(self, submission, event, context)
        defer_until_done(
            self,
            VideoGenerationTrigger,
            submission,
            deadline=time.time() + float(self.timeout),
            poll_interval=float(self.poke_interval),
            gateway_conn_id=self.hook.gateway_conn_id,
            max_retries=self.max_retries,
        )

    def poke(self, context: Any) -> PokeReturnValue | bool:
        submission = self._resolve()
        if submission.get("reused"):
            return PokeReturnValue(is_done=True, xcom_value=self._reused(submission))
        event = poll_once(self.hook, submission["model"], submission["operation"])
        if event is None:
            self.log.info("%s: still generating", submission["model"])
            return False
        return PokeReturnValue(is_done=True, xcom_value=finish_generation(self, submission, event, context))

    def _reused(self, submission: dict[str, Any]) -> dict[str, Any]:
        """A submission that found its videos archived (``skip_if_archived``): nothing to wait for."""
        self.log.info(
            "%s: nothing was started; the videos archived for this request are reused", submission["model"]
        )
        return submission

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger fired (a missing or unknown event fails the try clearly)."""
        event = check_resumed_event(event)
        return finish_generation(self, check_submission(self.submission), event, context)


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
