"""Submit operators: one checked, idempotent, billable start per task; optionally wait for the video.

The logic lives once in :class:`BaseVideoSubmitOperator`. A family's operator only names its
family: its option keywords (templated, documented, mappable) are made from the family's options
model when the class is defined.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Sequence
from functools import partial
from typing import Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

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
from airflow_video_gen.protocol import GatewayError, derive_idempotency_key
from airflow_video_gen.request.checks import check_given_values
from airflow_video_gen.triggers.generation import VideoGenerationTrigger
from airflow_video_gen.utils.s3 import presign_get
from airflow_video_gen.waiting import (
    check_resumed_event,
    defer_until_done,
    finish_generation,
    poll_once,
    wait_defaults,
)


class BaseVideoSubmitOperator(BaseOperator):
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
    ``wait_for_completion``, what a generation sensor returns.

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
    :param poll_interval: When waiting, seconds between status calls (default per family).
    :param timeout: When waiting, seconds before giving up (default per family).
    :param strict_models: Refuse a model id missing from this package's tables (default ``False``).
    :param family_options: Family option keywords, collected by the family's operator.
    """

    family: ClassVar[Family | None] = None
    template_fields: Sequence[str] = COMMON_TEMPLATE_FIELDS
    template_fields_renderers = {"provider_options": "json"}
    ui_color = "#ffe9d6"

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
        family_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        refuse_unknown_keywords(type(self), kwargs)
        super().__init__(**kwargs)
        self.model = model or (self.family.default_model if self.family else None)
        if not self.model:
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
        request = self.build_request()
        for note in request.warnings:
            self.log.warning("%s: %s", request.model, note)
        ti = context["ti"]
        key = derive_idempotency_key(ti.dag_id, ti.run_id, ti.task_id, ti.map_index, request.fingerprint())
        if request.s3_uris():
            self.log.info(
                "Presigning %d s3:// image(s) for %d s", len(request.s3_uris()), self.presign_expires
            )
            try:
                request = request.with_presigned_images(
                    partial(presign_get, aws_conn_id=self.aws_conn_id, expires_in=self.presign_expires)
                )
            except (FileNotFoundError, ValueError) as exc:
                raise AirflowFailException(f"Cannot use an s3:// image of {request.model}: {exc}") from exc
        hook = VideoGatewayHook(self.gateway_conn_id)
        try:
            started = hook.start(request.model, request.to_gateway_body(), key)
        except GatewayError as exc:
            if exc.retryable:
                raise AirflowException(
                    f"Could not start the generation (the try will be retried): {exc}"
                ) from exc
            raise AirflowFailException(f"The gateway refused the request for {request.model}: {exc}") from exc
        finally:
            hook.close()
        for warning in started.warnings:
            self.log.warning("Gateway warning for %s: %s", request.model, warning.get("message") or warning)
        submission = {
            "model": request.model,
            "family": request.family.name,
            "operation": started.operation,
            "idempotency_key": key,
            "submitted_at": time.time(),
            "request": request.describe(),
            "warnings": [{"type": "other", "message": w} for w in request.warnings] + started.warnings,
        }
        self.log.info("Started %s: %s (key %s)", request.model, started.job_status or "started", key)
        if not self.wait_for_completion:
            return submission
        # Seen downstream and in the UI while the task waits; read back on resume if needed.
        context["ti"].xcom_push(key="submission", value=submission)
        return self._wait(submission, request.family)

    def _wait(self, submission: dict[str, Any], family: Family) -> dict[str, Any]:
        interval, timeout = wait_defaults(submission, family)
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
                kwargs={"submission": submission},
            )
        hook = VideoGatewayHook(self.gateway_conn_id)
        try:
            while time.time() < deadline:
                event = poll_once(hook, submission["model"], submission["operation"])
                if event is not None:
                    return finish_generation(self, submission, event)
                time.sleep(max(0.0, min(interval, deadline - time.time())))
        finally:
            hook.close()
        return finish_generation(
            self, submission, {"status": "timeout", "message": f"no result after {timeout:g} s"}
        )

    def execute_complete(
        self, context: Any, event: dict[str, Any] | None = None, submission: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Resume after the trigger fired (``wait_for_completion`` in the triggerer)."""
        event = check_resumed_event(event)
        if submission is None:
            ti = context["ti"]
            submission = ti.xcom_pull(task_ids=ti.task_id, key="submission", map_indexes=ti.map_index)
        if not isinstance(submission, dict):
            raise AirflowException("the submission of this task was lost; its generation cannot be read")
        return finish_generation(self, submission, event)


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
