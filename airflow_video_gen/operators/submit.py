"""Submit operators: one checked, idempotent, billable start per task; optionally wait for the video.

The logic lives once in :class:`BaseVideoSubmitOperator`. A family's operator only names its
family: its option keywords (templated, documented, mappable) are made from the family's options
model when the class is defined.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from functools import cached_property, partial
from typing import Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from airflow.sdk.log import mask_secret
from botocore.exceptions import BotoCoreError, ClientError

from airflow_video_gen.failures import gateway_failure, s3_failure
from airflow_video_gen.families import (
    GATEWAY,
    GROK,
    KLING,
    SEEDANCE,
    VEO,
    WAN,
    Family,
    resolve_model,
)
from airflow_video_gen.hooks.gateway import VideoGatewayHook
from airflow_video_gen.models import InvalidVideoRequest, Issue, VideoRequest
from airflow_video_gen.operators.archive_index import find_archived
from airflow_video_gen.operators.keywords import (
    COMMON_TEMPLATE_FIELDS,
    TOP_LEVEL,
    family_init,
    is_literal,
    option_doc,
    refuse_unknown_keywords,
    split_provider_options,
    submit_template_fields,
)
from airflow_video_gen.operators.lineage import LineageMixin
from airflow_video_gen.operators.s3_images import check_s3_images
from airflow_video_gen.protocol import (
    GatewayError,
    MissingApiKeyError,
    derive_idempotency_key,
    generation_key,
)
from airflow_video_gen.request.checks import check_given_values
from airflow_video_gen.request.request import callback_url_issue
from airflow_video_gen.triggers import callbacks
from airflow_video_gen.triggers.generation import VideoGenerationTrigger
from airflow_video_gen.utils.gallery_links import VideoGalleryLink
from airflow_video_gen.utils.s3 import join_uri, presign_get, s3_hook
from airflow_video_gen.waiting import (
    JOB_REASONS,
    check_resumed_event,
    defer_until_done,
    finish_generation,
    poll_once,
    wait_defaults,
)

#: Generations one task and request may go through in a row before the task stops starting more.
MAX_GENERATIONS = 20


class BaseVideoSubmitOperator(LineageMixin, BaseOperator):
    """Starts one image-to-video generation through AI Gateway, idempotently.

    The request is checked against the model's documented limits before any call: at parse time
    every literal value (the whole request when nothing is templated; images are not read then),
    and the whole request again once templates are rendered. Values rendered from templates as
    strings (Airflow's default) are coerced into the type each parameter declares (``"5"`` for
    ``duration``, ``"true"`` for a boolean). ``s3://`` images are presigned. The start carries an
    idempotency key derived from the DAG, run, task, map index and request, so a retried task gets
    the same generation back instead of paying for a second one.

    Returns ``{"model", "family", "operation", "idempotency_key", "submitted_at", "request",
    "warnings"}`` (``request`` describes images by source, size and sha256), or, with
    ``wait_for_completion``, what a generation sensor returns. Its ``Video`` extra link opens the
    videos archived from the generation in the gallery of Airflow's UI, once they are.

    :param model: Gateway model id (default: the family's default model). An id missing from this
        package's tables is checked with its family's version-independent rules and sent with a
        warning, unless ``strict_models``. Templated.
    :param image: The start frame (``prompt.image``): https URL, ``s3://`` URI, local path (on the
        worker; relative paths resolve against its working directory), bytes, base64 or data URL.
        Templated.
    :param text: The prompt text (``prompt.text``); with no ``image``, a plain string prompt.
        Templated.
    :param n: Number of videos (default 1). Templated.
    :param duration: Seconds. Templated.
    :param resolution: Resolution, as the family documents it. Templated.
    :param aspect_ratio: Aspect ratio (``16:9``...). Templated.
    :param fps: Frames per second. Templated.
    :param seed: Seed. Templated.
    :param generate_audio: Top-level ``generateAudio``. Templated.
    :param provider_options: The seed's camelCase options: either the whole ``providerOptions``
        (``{"klingai": {...}}``) or the family's own dict. Keywords given as snake_case win only
        if they agree. Templated.
    :param gateway_conn_id: The ``ai_gateway`` connection (default ``ai_gateway_default``). Templated.
    :param aws_conn_id: AWS connection for presigning ``s3://`` images (default ``aws_default``).
        Templated.
    :param presign_expires: Seconds a presigned image URL stays valid (default 3600).
    :param wait_for_completion: Wait for the video in this task (default ``False``).
    :param deferrable: When waiting, wait in the triggerer (default ``True``).
    :param poll_interval: When waiting, seconds between status calls once the generation is past
        its expected time (its model's typical minimum, corrected by the completions the triggerer
        has seen), and the most a video done after that time waits to be found; before it, calls
        are sparse (see :mod:`airflow_video_gen.polling`); a wait in the worker
        (``deferrable=False``) calls every ``poll_interval``. Default the request's
        ``pollIntervalMs`` (then called at that interval from the start, as asked), else the
        family's.
    :param timeout: When waiting, seconds before giving up (default per family).
    :param strict_models: Refuse a model id missing from this package's tables (default ``False``).
    :param max_regenerations: When waiting, a generation that ends in ``error`` is started again as a
        new generation (billed) up to this many times within the same try, each logged with the
        gateway's message (default 0). A refused request (4xx) is never started again.
    :param regenerate_cancelled: With ``max_regenerations``, a cancelled generation is started
        again too (default ``False``).
    :param min_balance: Before starting, read the team's credits (``GET /v1/credits``) and fail,
        without retry and without starting, when the balance is below this amount; the submission
        then records ``balance_before``. Default ``None``: the credits are not read.
    :param skip_if_archived: An ``ArchiveVideoOperator`` ``dest_s3_uri``. Before starting, look
        there for videos already archived for the same request (same model, parameters and image
        sources, whatever the DAG, run or task); when they are all still in S3, start nothing and
        return ``{"reused": True, "archived": <the archive's record>, ...}``, which the generation
        sensors and ``ArchiveVideoOperator`` pass through. One GET and a HEAD per video. Default
        ``None`` (or empty): always generate. Templated.
    :param callback_url: Sent as ``callbackUrl``: the gateway POSTs the job's end there, signed
        with a secret its start answer returns; the secret is never written to XCom or logs.
        Default: ``[video_gen] callback_url``, the provider's own endpoint on the api-server, when
        set; a wait for a generation whose callback goes there ends when the callback comes, with
        polling as the fallback (see ``docs/scale.md``). Another URL is sent as given and the
        secret is dropped. Templated.
    :param family_options: Family option keywords, collected by the family's operator.
    """

    family: ClassVar[Family | None] = None
    #: Whether the operator needs ``model`` (``False`` where each item of a batch names its own).
    needs_model: ClassVar[bool] = True
    template_fields: Sequence[str] = COMMON_TEMPLATE_FIELDS
    template_fields_renderers = {"provider_options": "json"}
    ui_color = "#ffe9d6"
    operator_extra_links = (VideoGalleryLink(),)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        family = cls.__dict__.get("family")
        if family is None:
            return
        cls.template_fields = submit_template_fields(family)
        if "__init__" not in cls.__dict__:
            cls.__init__ = family_init(family, BaseVideoSubmitOperator.__init__)  # type: ignore[method-assign]
        cls.__doc__ = f"{inspect.cleandoc(cls.__doc__ or '')}\n\n{option_doc(family)}\n"

    def __init__(
        self,
        *,
        model: str | None = None,
        image: Any = None,
        text: str | None = None,
        n: int | None = None,
        duration: int | None = None,
        resolution: str | None = None,
        aspect_ratio: str | None = None,
        fps: int | None = None,
        seed: int | None = None,
        generate_audio: bool | None = None,
        provider_options: dict[str, Any] | None = None,
        gateway_conn_id: str = VideoGatewayHook.default_conn_name,
        aws_conn_id: str | None = "aws_default",
        presign_expires: int = 3600,
        wait_for_completion: bool = False,
        deferrable: bool = True,
        poll_interval: float | None = None,
        timeout: float | None = None,
        strict_models: bool = False,
        max_regenerations: int = 0,
        regenerate_cancelled: bool = False,
        min_balance: Decimal | float | str | None = None,
        skip_if_archived: str | None = None,
        callback_url: str | None = None,
        family_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        refuse_unknown_keywords(type(self), kwargs)
        super().__init__(**kwargs)
        self.model = model or (self.family.default_model if self.family else None)
        if not self.model and self.needs_model:
            raise ValueError(f"{type(self).__name__} needs a model id (e.g. 'klingai/kling-v2.6-i2v')")
        self.image = image
        self.text = text
        self.n = n
        self.duration = duration
        self.resolution = resolution
        self.aspect_ratio = aspect_ratio
        self.fps = fps
        self.seed = seed
        self.generate_audio = generate_audio
        self.provider_options = provider_options
        self.gateway_conn_id = gateway_conn_id
        self.aws_conn_id = aws_conn_id
        self.presign_expires = presign_expires
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.strict_models = strict_models
        if max_regenerations < 0:
            raise ValueError(f"max_regenerations must be 0 or more, got {max_regenerations}")
        self.max_regenerations = max_regenerations
        self.regenerate_cancelled = regenerate_cancelled
        self.min_balance = _amount_or_none(min_balance)
        if isinstance(skip_if_archived, str) and skip_if_archived and is_literal(skip_if_archived):
            try:
                join_uri(skip_if_archived, "check")
            except ValueError as exc:
                raise ValueError(
                    f"{type(self).__name__} skip_if_archived: {exc}; give the dest_s3_uri of the "
                    "ArchiveVideoOperator that stores these videos"
                ) from exc
        self.skip_if_archived = skip_if_archived
        self.callback_url = callback_url
        if is_literal(callback_url) and callback_url and (issue := callback_url_issue(callback_url)):
            raise InvalidVideoRequest(str(self.model), [issue])
        self._option_names = tuple(family_options or ())
        for name, value in (family_options or {}).items():
            setattr(self, name, value)
        #: Parameters holding a template or an XCom reference: coerced into their types once rendered.
        self._templated = frozenset(
            name
            for name in (*TOP_LEVEL, *self._option_names, "provider_options")
            if not is_literal(getattr(self, name))
        )
        self._check_at_parse_time()

    # ------------------------------------------------------------------------------- the request

    def _family_of(self, model: str) -> Family:
        family, _ = resolve_model(model)
        if self.family is not None and family is not self.family:
            listed = ", ".join(self.family.models)
            instead = "GatewaySubmitOperator" if family is GATEWAY else f"the {family.label} operator"
            raise InvalidVideoRequest(
                model,
                [
                    Issue(
                        "model",
                        f"{type(self).__name__} takes {self.family.label} models: {listed}; "
                        f"for {model} use {instead}",
                    )
                ],
            )
        return family

    def _parts(self) -> tuple[Family, dict[str, Any], dict[str, Any], dict[str, Any]]:
        """The family, the settings and the family's options (by wire name) and the other
        ``providerOptions``, as this operator's parameters hold them."""
        family = self._family_of(str(self.model))
        settings = {
            wire: getattr(self, keyword)
            for keyword, wire in TOP_LEVEL.items()
            if keyword not in self._option_names and getattr(self, keyword) is not None
        }
        provider_options, own = split_provider_options(self.provider_options, family)
        fields = family.options_model.model_fields
        for name in self._option_names:
            value = getattr(self, name)
            if value is None:
                continue
            wire = fields[name].alias or name
            if wire in own and own[wire] != value:
                raise InvalidVideoRequest(
                    str(self.model),
                    [
                        Issue(
                            f"providerOptions.{family.provider_key}.{wire}",
                            f"given twice with different values ({name}= and provider_options) "
                            f"for {self.model}",
                        )
                    ],
                )
            own[wire] = value
        return family, settings, own, provider_options

    def _lax(self, family: Family) -> set[str]:
        """Wire paths of the templated parameters (see :func:`~airflow_video_gen.request.checks.coerce`)."""
        lax = {
            TOP_LEVEL[name]
            for name in self._templated
            if name in TOP_LEVEL and name not in self._option_names
        }
        fields = family.options_model.model_fields
        options = (
            fields if "provider_options" in self._templated else self._templated & set(self._option_names)
        )
        lax |= {
            f"providerOptions.{family.provider_key}.{fields[n].alias or n}" for n in options if n in fields
        }
        return lax

    def _request(self, *, parsing: bool) -> VideoRequest:
        """The request of this operator's parameters: while the DAG file is parsed, local paths
        are not read and no image is decoded; once rendered, templated values are coerced."""
        family, settings, own, others = self._parts()
        return VideoRequest.from_parts(
            str(self.model),
            image=self.image,
            text=self.text,
            settings=settings,
            options=own,
            provider_options=others,
            paths="defer" if parsing else "read",
            decode=not parsing,
            strict=self.strict_models,
            lax=() if parsing else self._lax(family),
        )

    def build_request(self) -> VideoRequest:
        """The checked request. :raises AirflowFailException: When it is invalid (no retry helps)."""
        try:
            return self._request(parsing=False)
        except InvalidVideoRequest as exc:
            raise AirflowFailException(str(exc)) from exc

    def _check_at_parse_time(self) -> None:
        """Every literal value, checked while the DAG file is parsed; no image is read."""
        if not is_literal(self.model):
            return
        if not self._templated and is_literal(self.image) and is_literal(self.text):
            self._request(parsing=True)
            return
        _, settings, own, _ = self._parts()
        literal_settings = {k: v for k, v in settings.items() if is_literal(v)}
        literal_options = (
            {k: v for k, v in own.items() if is_literal(v)}
            if "provider_options" not in self._templated
            else {}
        )
        issues = check_given_values(
            str(self.model), settings=literal_settings, options=literal_options, strict=self.strict_models
        )
        if issues:
            raise InvalidVideoRequest(str(self.model), issues)

    # ------------------------------------------------------------------------------- execution

    def execute(self, context: Any) -> dict[str, Any]:
        request = self._request_to_send()
        reused = self._archived(context, request)
        if reused is not None:
            return reused
        hook = VideoGatewayHook(self.gateway_conn_id)
        try:
            balance = self._balance_before(context, hook, request.model)
            submission = self._attach_or_start(context, hook, request, self._base_key(context, request))
        finally:
            hook.close()
        if balance is not None:
            submission["balance_before"] = str(balance)
        if not self.wait_for_completion:
            return submission
        return self._wait(context, submission, regenerated=0)

    def _request_to_send(self) -> VideoRequest:
        """The checked request, its ``s3://`` images checked from their first bytes and presigned."""
        request = self.build_request()
        try:
            request = request.with_callback_url(self.callback_url or callbacks.callback_url())
        except InvalidVideoRequest as exc:
            raise AirflowFailException(str(exc)) from exc
        for note in request.warnings:
            self.log.warning("%s: %s", request.model, note)
        if not request.s3_uris():
            return request
        check_s3_images(request, aws_conn_id=self.aws_conn_id, task=self, client=self.s3_client)
        self.log.info("Presigning %d s3:// image(s) for %d s", len(request.s3_uris()), self.presign_expires)
        try:
            request = request.with_presigned_images(
                partial(presign_get, expires_in=self.presign_expires, client=self.s3_client)
            )
        except (FileNotFoundError, ValueError) as exc:
            raise AirflowFailException(f"Cannot use an s3:// image of {request.model}: {exc}") from exc
        return request

    @cached_property
    def s3_client(self) -> Any:
        """The boto3 S3 client of ``aws_conn_id``, made once per task (a batch shares it)."""
        return s3_hook(self.aws_conn_id).get_conn()

    def _archived(self, context: Any, request: VideoRequest) -> dict[str, Any] | None:
        """With ``skip_if_archived``: the videos already archived for this request, or ``None``."""
        dest = str(self.skip_if_archived or "").strip()
        if not dest or dest == "None":
            return None
        fingerprint = request.fingerprint()
        try:
            record, why = find_archived(self.s3_client, dest, request.model, fingerprint)
        except ValueError as exc:
            raise AirflowFailException(f"{type(self).__name__} skip_if_archived: {exc}") from exc
        except (ClientError, BotoCoreError) as exc:
            raise s3_failure(self, context, exc, param="skip_if_archived", uri=dest) from exc
        if record is None:
            self.log.info("%s: generating (%s)", request.model, why)
            return None
        self.log.info(
            "%s: not started; this request's videos are archived (%s): %s",
            request.model,
            why,
            ", ".join(str(v.get("s3_uri")) for v in record["videos"]),
        )
        return {
            "model": request.model,
            "family": request.family.name,
            "operation": record.get("operation"),
            "idempotency_key": record.get("idempotency_key"),
            "fingerprint": fingerprint,
            "gateway_conn_id": self.gateway_conn_id,
            "request": request.describe(),
            "reused": True,
            "archived": record,
            "warnings": [],
        }

    @staticmethod
    def _base_key(context: Any, request: VideoRequest) -> str:
        ti = context["ti"]
        return derive_idempotency_key(ti.dag_id, ti.run_id, ti.task_id, ti.map_index, request.fingerprint())

    def _attach_or_start(
        self,
        context: Any,
        hook: VideoGatewayHook,
        request: VideoRequest,
        base_key: str,
        *,
        first: int = 1,
        failed: Sequence[Mapping[str, Any]] = (),
    ) -> dict[str, Any]:
        """The generation of this task and request: re-attached when it is pending, running or
        completed (no new bill), a new one when the one before ended in error or was cancelled.

        Each generation has its own key in a chain derived from ``base_key`` (see
        :func:`~airflow_video_gen.protocol.generation_key`). Starting again with a key already used
        returns its generation without billing, and a status call is free, so the chain is walked
        from ``first`` with no state a clear could delete.
        """
        earlier = [dict(f) for f in failed]
        for attempt in range(first, first + MAX_GENERATIONS):
            key = generation_key(base_key, attempt)
            started = self._start(context, hook, request, key)
            if self._called_back(request, started) and attempt == 1 and context["ti"].try_number == 1:
                # A key never used before cannot name an earlier generation, and the callback's
                # one status call is all a wait needs.
                status = None
            else:
                status = self._status_now(hook, request.model, started.operation)
            if status is None or status.status not in ("error", "cancelled"):
                return self._submission(request, started, key, attempt, earlier)
            message = status.error or f"the generation was {status.status}"
            earlier.append(
                {"attempt": attempt, "idempotency_key": key, "status": status.status, "message": message}
            )
            self.log.warning(
                "Generation %d of %s (key %s) ended %s: %s. Starting generation %d.",
                attempt,
                request.model,
                key,
                status.status,
                message,
                attempt + 1,
            )
        raise AirflowFailException(
            f"{MAX_GENERATIONS} generations of {request.model} for this task in a row ended in error; "
            "look at the gateway's messages above before starting more"
        )

    def _balance_before(self, context: Any, hook: VideoGatewayHook, model: str) -> Decimal | None:
        """The team's balance, refused below ``min_balance``; ``None`` when ``min_balance`` is not set."""
        if self.min_balance is None:
            return None
        try:
            balance = hook.credits().balance
        except GatewayError as exc:
            if exc.retryable or isinstance(exc, MissingApiKeyError):
                what = f"Reading the credits before starting {model}"
                raise gateway_failure(self, context, exc, what) from exc
            raise AirflowFailException(
                f"Cannot read the credits of connection {self.gateway_conn_id} to check "
                f"min_balance={self.min_balance} before starting {model}: {exc}; "
                "set min_balance=None to start without reading them"
            ) from exc
        if balance < self.min_balance:
            raise AirflowFailException(
                f"AI Gateway balance {balance} is below min_balance={self.min_balance} "
                f"(connection {self.gateway_conn_id}); top up the team's credits or lower min_balance"
            )
        self.log.info("AI Gateway balance %s (min_balance=%s)", balance, self.min_balance)
        return balance

    def _start(self, context: Any, hook: VideoGatewayHook, request: VideoRequest, key: str) -> Any:
        try:
            started = hook.start(request.model, request.to_gateway_body(), key)
        except GatewayError as exc:
            if exc.retryable or isinstance(exc, MissingApiKeyError):
                raise gateway_failure(
                    self, context, exc, f"Starting the generation of {request.model}"
                ) from exc
            raise AirflowFailException(f"The gateway refused the request for {request.model}: {exc}") from exc
        for warning in started.warnings:
            self.log.warning("Gateway warning for %s: %s", request.model, warning.get("message") or warning)
        if started.webhook_signing_secret:
            mask_secret(started.webhook_signing_secret)
        if self._called_back(request, started):
            callbacks.keep_secret(str(started.job_id), str(started.webhook_signing_secret))
        elif request.callback_url and request.callback_url == callbacks.callback_url():
            self.log.warning(
                "The gateway returned no webhook signing secret for %s; waiting for it by polling",
                request.model,
            )
        return started

    @staticmethod
    def _called_back(request: VideoRequest, started: Any) -> bool:
        """Whether the generation calls back this deployment's endpoint, which can check the
        callback's signature: then its wait ends when the callback comes."""
        return bool(
            request.callback_url
            and request.callback_url == callbacks.callback_url()
            and started.webhook_signing_secret
            and started.job_id
        )

    def _status_now(self, hook: VideoGatewayHook, model: str, operation: Any) -> Any:
        """The generation's status right after its start, or ``None`` when it cannot be read: the
        read only tells a generation that failed before (to start the next one) from the others,
        and the wait that follows reads the status again."""
        try:
            return hook.status(model, operation)
        except GatewayError as exc:
            self.log.warning(
                "Could not read the status of %s after its start (%s); attaching to it", model, exc
            )
            return None

    def _submission(
        self,
        request: VideoRequest,
        started: Any,
        key: str,
        attempt: int,
        failed: list[dict[str, Any]],
    ) -> dict[str, Any]:
        submission = {
            "model": request.model,
            "family": request.family.name,
            "operation": started.operation,
            "idempotency_key": key,
            "fingerprint": request.fingerprint(),
            "gateway_conn_id": self.gateway_conn_id,
            "attempt": attempt,
            "failed_attempts": failed,
            "submitted_at": time.time(),
            "request": request.describe(),
            "warnings": [{"type": "other", "message": w} for w in request.warnings] + started.warnings,
        }
        if self._called_back(request, started):
            submission["callback_job"] = started.job_id
        self.log.info(
            "Generation %d of %s: %s (key %s)", attempt, request.model, started.job_status or "started", key
        )
        self.record_images(submission["request"])
        return submission

    # ------------------------------------------------------------------------------- waiting

    def _wait(self, context: Any, submission: dict[str, Any], *, regenerated: int) -> dict[str, Any]:
        # Seen downstream and in the UI while the task waits; read back on resume if needed.
        context["ti"].xcom_push(key="submission", value=submission)
        interval, timeout = wait_defaults(submission, self.family)
        interval = self.poll_interval if self.poll_interval is not None else interval
        timeout = self.timeout if self.timeout is not None else timeout
        deadline = submission["submitted_at"] + timeout
        if self.deferrable:
            defer_until_done(
                self,
                VideoGenerationTrigger,
                submission,
                deadline=deadline,
                poll_interval=interval,
                gateway_conn_id=self.gateway_conn_id,
                kwargs={"submission": submission, "regenerated": regenerated},
            )
        hook = VideoGatewayHook(self.gateway_conn_id)
        try:
            while time.time() < deadline:
                event = poll_once(hook, submission["model"], submission["operation"])
                if event is not None:
                    return self._finish(context, submission, event, regenerated)
                time.sleep(max(0.0, min(interval, deadline - time.time())))
        finally:
            hook.close()
        timed_out = {"status": "timeout", "message": f"no result after {timeout:g} s"}
        return self._finish(context, submission, timed_out, regenerated)

    def execute_complete(
        self,
        context: Any,
        event: dict[str, Any] | None = None,
        submission: dict[str, Any] | None = None,
        regenerated: int = 0,
    ) -> dict[str, Any]:
        """Resume after the trigger fired (``wait_for_completion`` in the triggerer)."""
        event = check_resumed_event(event)
        if submission is None:
            ti = context["ti"]
            submission = ti.xcom_pull(task_ids=ti.task_id, key="submission", map_indexes=ti.map_index)
        if not isinstance(submission, dict):
            raise AirflowException("the submission of this task was lost; its generation cannot be read")
        self.record_images(submission.get("request"))
        return self._finish(context, submission, event, regenerated)

    def _finish(
        self, context: Any, submission: dict[str, Any], event: Mapping[str, Any], regenerated: int
    ) -> dict[str, Any]:
        """The result; or, for a generation that failed with regenerations left, a new one."""
        if not self._regenerates(event, regenerated):
            return finish_generation(self, submission, event, context)
        fresh = self._start_again(context, submission, event, regenerated)
        return self._wait(context, fresh, regenerated=regenerated + 1)

    def _regenerates(self, event: Mapping[str, Any], regenerated: int) -> bool:
        """Whether a generation that ended as ``event`` says is started again, after
        ``regenerated`` regenerations in this try (``max_regenerations``, ``regenerate_cancelled``)."""
        status = event.get("status")
        ended = event.get("reason") in JOB_REASONS  # not a status call that failed for good
        again = ended and (status == "error" or (status == "cancelled" and self.regenerate_cancelled))
        return bool(again) and regenerated < self.max_regenerations

    def _start_again(
        self, context: Any, submission: Mapping[str, Any], event: Mapping[str, Any], regenerated: int
    ) -> dict[str, Any]:
        """The next generation of the key chain after ``submission``'s ended as ``event`` says (a
        new one, billed), with the failed attempts before it."""
        status = event.get("status")
        self.log.warning(
            "Generation %d of %s ended %s: %s. Regenerating (%d of max_regenerations=%d).",
            submission.get("attempt", 1),
            submission["model"],
            status,
            event.get("message"),
            regenerated + 1,
            self.max_regenerations,
        )
        request = self._request_to_send()
        attempt = int(submission.get("attempt", 1))
        failed = [
            *submission.get("failed_attempts", []),
            {
                "attempt": attempt,
                "idempotency_key": submission["idempotency_key"],
                "status": status,
                "message": event.get("message"),
            },
        ]
        hook = VideoGatewayHook(self.gateway_conn_id)
        try:
            base = self._base_key(context, request)
            fresh = self._attach_or_start(context, hook, request, base, first=attempt + 1, failed=failed)
        finally:
            hook.close()
        if "balance_before" in submission:
            fresh["balance_before"] = submission["balance_before"]
        return fresh


def _amount_or_none(value: Decimal | float | str | None) -> Decimal | None:
    """``min_balance`` as a decimal (a float through its text, so 0.1 stays 0.1)."""
    if value is None:
        return None
    try:
        amount: Decimal | None = Decimal(str(value).strip())
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or isinstance(value, bool):
        raise ValueError(f"min_balance must be an amount of credits such as 5 or 12.50, got {value!r}")
    return amount


class GatewaySubmitOperator(BaseVideoSubmitOperator):
    """Starts a generation for any model id; options go in ``provider_options``."""


class VeoSubmitOperator(BaseVideoSubmitOperator):
    """Starts a Google Veo image-to-video generation."""

    family = VEO


class KlingSubmitOperator(BaseVideoSubmitOperator):
    """Starts a KlingAI image-to-video generation (first/last frame, camera control, motion brush,
    voices, multi-shot)."""

    family = KLING


class WanSubmitOperator(BaseVideoSubmitOperator):
    """Starts a Wan image-to-video generation (image URLs only; ``text`` required)."""

    family = WAN


class GrokSubmitOperator(BaseVideoSubmitOperator):
    """Starts a Grok Imagine Video generation (image URLs only)."""

    family = GROK


class SeedanceSubmitOperator(BaseVideoSubmitOperator):
    """Starts a ByteDance Seedance generation (image URLs only; 24 fps)."""

    family = SEEDANCE
