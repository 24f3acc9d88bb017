"""Submit operators: one checked, idempotent, billable start per task; optionally wait for the video.

The logic lives once in :class:`BaseVideoSubmitOperator`; a family's operator only binds its
family and names its options as keywords (so they are templated, documented and mappable).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import partial
from typing import Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_video_gen.families import FAMILIES, GROK, KLING, SEEDANCE, VEO, WAN, Family, family_for_model
from airflow_video_gen.hooks.gateway import VideoGatewayHook
from airflow_video_gen.models import InvalidVideoRequest, VideoRequest
from airflow_video_gen.protocol import GatewayError, derive_idempotency_key
from airflow_video_gen.utils.s3 import presign_get
from airflow_video_gen.sensors.generation import finish_generation, wait_defaults
from airflow_video_gen.triggers.generation import VideoGenerationTrigger, poll_once
from airflow_video_gen.request.checks import Issue, unknown_model

#: Snake_case keywords that map to the call's top-level settings.
TOP_LEVEL = {
    "n": "n",
    "duration": "duration",
    "resolution": "resolution",
    "aspect_ratio": "aspectRatio",
    "fps": "fps",
    "seed": "seed",
    "generate_audio": "generateAudio",
}
COMMON_TEMPLATE_FIELDS = (
    "model",
    "image",
    "text",
    *TOP_LEVEL,
    "provider_options",
    "gateway_conn_id",
    "aws_conn_id",
)
#: Options the operator's ``poll_interval`` / ``timeout`` stand for; still accepted in provider_options.
_WAIT_OPTIONS = ("poll_interval_ms", "poll_timeout_ms")
_PROVIDER_KEYS = frozenset({f.provider_key for f in FAMILIES.values()} | {"gateway"})
_PATH_LIKE = "not a URL, s3:// URI,"


def option_names(family: Family) -> tuple[str, ...]:
    """The snake_case keywords of a family's provider options (its operator's extra keywords)."""
    return tuple(n for n in family.options_model.model_fields if n not in _WAIT_OPTIONS)


def submit_template_fields(family: Family | None) -> tuple[str, ...]:
    """Template fields of a submit operator: the common ones plus the family's options."""
    return COMMON_TEMPLATE_FIELDS + (
        tuple(n for n in option_names(family) if n not in TOP_LEVEL) if family else ()
    )


def family_keywords(family: Family, scope: Mapping[str, Any]) -> dict[str, Any]:
    """The family's option keywords picked from an ``__init__``'s ``locals()``."""
    return {name: scope[name] for name in option_names(family) if name in scope}


def _is_literal(value: Any) -> bool:
    """Known at parse time: no Jinja template and no XCom reference anywhere inside."""
    if isinstance(value, str):
        return "{{" not in value and "{%" not in value
    if isinstance(value, Mapping):
        return all(_is_literal(k) and _is_literal(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_is_literal(v) for v in value)
    return not (hasattr(value, "resolve") and hasattr(value, "iter_references"))


class BaseVideoSubmitOperator(BaseOperator):
    """Starts one image-to-video generation through AI Gateway, idempotently.

    The request is checked against the model's documented limits before any call (at parse time
    when every value is literal). ``s3://`` images are presigned. The start carries an
    idempotency key derived from the DAG, run, task, map index and request, so a retried task gets
    the same generation back instead of paying for a second one.

    Returns ``{"model", "family", "operation", "idempotency_key", "submitted_at", "request",
    "warnings"}`` (``request`` describes images by source, size and sha256), or, with
    ``wait_for_completion``, what a generation sensor returns.

    :param model: Gateway model id (default: the family's default model). Templated.
    :param image: The start frame (``prompt.image``): https URL, ``s3://`` URI, local path, bytes,
        base64 or data URL. Templated.
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
    :param family_options: Family option keywords, collected by the family's operator.
    """

    family: ClassVar[Family | None] = None
    template_fields: Sequence[str] = COMMON_TEMPLATE_FIELDS
    template_fields_renderers = {"provider_options": "json"}
    ui_color = "#ffe9d6"

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
        family_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
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
        self._option_names = tuple(family_options or ())
        for name, value in (family_options or {}).items():
            setattr(self, name, value)
        self._check_at_parse_time()

    # ------------------------------------------------------------------------------- the request

    def _family_of(self, model: str) -> Family:
        family = family_for_model(model)
        if self.family is not None and family is not None and family is not self.family:
            raise InvalidVideoRequest(
                model,
                [
                    Issue(
                        "model",
                        f"{type(self).__name__} takes {self.family.label} models: "
                        f"{', '.join(self.family.models)}",
                    )
                ],
            )
        if family is None:
            raise unknown_model(model)
        return family

    def build_call(self) -> tuple[str, dict[str, Any]]:
        """The model id and the AI SDK call made of this operator's (rendered) parameters."""
        model = str(self.model)
        family = self._family_of(model)
        call: dict[str, Any] = {}
        if self.image is not None:
            call["prompt"] = {"image": self.image} | ({"text": self.text} if self.text is not None else {})
        elif self.text is not None:
            call["prompt"] = self.text
        for name, camel in TOP_LEVEL.items():
            value = getattr(self, name)
            if value is not None and name not in self._option_names:
                call[camel] = value
        provider_options, own = _split_provider_options(self.provider_options, family)
        fields = family.options_model.model_fields
        for name in self._option_names:
            value = getattr(self, name)
            if value is None:
                continue
            wire = fields[name].alias or name
            if wire in own and own[wire] != value:
                raise InvalidVideoRequest(
                    model,
                    [
                        Issue(
                            f"providerOptions.{family.provider_key}.{wire}",
                            f"given twice with different values ({name}= and provider_options) for {model}",
                        )
                    ],
                )
            own[wire] = value
        if own:
            provider_options[family.provider_key] = own
        if provider_options:
            call["providerOptions"] = provider_options
        return model, call

    def build_request(self) -> VideoRequest:
        """The checked request. :raises AirflowFailException: When it is invalid (no retry helps)."""
        try:
            model, call = self.build_call()
            return VideoRequest.from_sdk_call(model, call)
        except InvalidVideoRequest as exc:
            raise AirflowFailException(str(exc)) from exc

    def _check_at_parse_time(self) -> None:
        values = [getattr(self, n) for n in (*COMMON_TEMPLATE_FIELDS[:-2], *self._option_names)]
        if not all(_is_literal(v) for v in values):
            return
        try:
            model, call = self.build_call()
            VideoRequest.from_sdk_call(model, call, allow_local_paths=False)
        except InvalidVideoRequest as exc:
            # A string that is no URL may be a local path that only the worker has: checked at execute.
            issues = [i for i in exc.issues if _PATH_LIKE not in i.message]
            if issues:
                raise InvalidVideoRequest(exc.model, issues) from None

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
            trigger = VideoGenerationTrigger(
                model=submission["model"],
                operation=submission["operation"],
                deadline=deadline,
                poll_interval=interval,
                gateway_conn_id=self.gateway_conn_id,
                started_at=submission["submitted_at"],
                wait_first=True,
            )
            self.defer(
                trigger=trigger,
                method_name="execute_complete",
                kwargs={"submission": submission},
                timeout=timedelta(seconds=timeout + 120),
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
        self, context: Any, event: dict[str, Any], submission: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Resume after the trigger fired (``wait_for_completion`` in the triggerer)."""
        if submission is None:
            ti = context["ti"]
            submission = ti.xcom_pull(task_ids=ti.task_id, key="submission", map_indexes=ti.map_index)
        if not isinstance(submission, dict):
            raise AirflowException("the submission of this task was lost; its generation cannot be read")
        return finish_generation(self, submission, event)


def _split_provider_options(raw: Any, family: Family) -> tuple[dict[str, Any], dict[str, Any]]:
    """``provider_options`` as (all providerOptions, a copy of the family's own dict)."""
    if raw is None:
        return {}, {}
    if not isinstance(raw, Mapping):
        raise InvalidVideoRequest(
            family.default_model,
            [Issue("providerOptions", f"provider_options must be a dict, got {type(raw).__name__}")],
        )
    if raw and all(k in _PROVIDER_KEYS for k in raw):
        everything = dict(raw)
        own = everything.get(family.provider_key) or {}
        return everything, dict(own) if isinstance(own, Mapping) else own
    return {}, dict(raw)


class GatewaySubmitOperator(BaseVideoSubmitOperator):
    """Starts a generation for any model id; options go in ``provider_options``."""


class VeoSubmitOperator(BaseVideoSubmitOperator):
    """Starts a Google Veo image-to-video generation.

    :param generate_audio: ``providerOptions.vertex.generateAudio``: audio alongside the video.
    :param resize_mode: ``'pad'`` (default) or ``'crop'``: how the image fits the video.
    :param enhance_prompt: Let Gemini enhance the prompt (default true).
    :param negative_prompt: What to discourage in the video.
    :param person_generation: ``'dont_allow'``, ``'allow_adult'`` (default) or ``'allow_all'``.
    """

    family = VEO
    template_fields = submit_template_fields(VEO)

    def __init__(
        self,
        *,
        generate_audio: bool | None = None,
        resize_mode: str | None = None,
        enhance_prompt: bool | None = None,
        negative_prompt: str | None = None,
        person_generation: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(family_options=family_keywords(VEO, locals()), **kwargs)


class KlingSubmitOperator(BaseVideoSubmitOperator):
    """Starts a KlingAI image-to-video generation.

    :param mode: ``'std'`` (default) or ``'pro'``.
    :param negative_prompt: What to avoid (at most 2500 characters).
    :param cfg_scale: Prompt adherence 0-1 (v3.0 only).
    :param sound: ``'on'`` or ``'off'`` (v2.6+).
    :param voice_list: Up to 2 ``{"voiceId"}`` (with ``sound='on'``; not with ``element_list``).
    :param multi_shot: Multi-shot generation (v3.0).
    :param shot_type: ``'customize'`` for custom shot durations.
    :param multi_prompt: Shots ``{"index", "prompt", "duration"}`` (with ``multi_shot``).
    :param element_list: Up to 3 reference elements (v3.0; not with ``voice_list``).
    :param watermark_info: ``{"enabled": True}`` for a watermarked result.
    :param image_tail: The last frame, in any image form (not with masks or camera control).
    :param camera_control: ``{"type", "config"}`` camera move (not with image tail or masks).
    :param static_mask: Mask image of the areas that stay still.
    :param dynamic_masks: Up to 6 ``{"mask", "trajectories"}`` (motion brush).
    """

    family = KLING
    template_fields = submit_template_fields(KLING)

    def __init__(
        self,
        *,
        mode: str | None = None,
        negative_prompt: str | None = None,
        cfg_scale: float | None = None,
        sound: str | None = None,
        voice_list: list[dict[str, Any]] | None = None,
        multi_shot: bool | None = None,
        shot_type: str | None = None,
        multi_prompt: list[dict[str, Any]] | None = None,
        element_list: list[dict[str, Any]] | None = None,
        watermark_info: dict[str, Any] | None = None,
        image_tail: Any = None,
        camera_control: dict[str, Any] | None = None,
        static_mask: Any = None,
        dynamic_masks: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(family_options=family_keywords(KLING, locals()), **kwargs)


class WanSubmitOperator(BaseVideoSubmitOperator):
    """Starts a Wan image-to-video generation (image URLs only; ``text`` required).

    :param audio: Generate audio (standard models default to true, flash to false).
    :param negative_prompt: What to avoid (at most 500 characters).
    :param audio_url: URL of a WAV/MP3 (3-30 s, at most 15 MB) to sync the video to.
    :param watermark: Add a watermark (default false).
    """

    family = WAN
    template_fields = submit_template_fields(WAN)

    def __init__(
        self,
        *,
        audio: bool | None = None,
        negative_prompt: str | None = None,
        audio_url: str | None = None,
        watermark: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(family_options=family_keywords(WAN, locals()), **kwargs)


class GrokSubmitOperator(BaseVideoSubmitOperator):
    """Starts a Grok Imagine Video generation (image URLs only).

    :param resolution: ``providerOptions.xai.resolution``: ``'480p'`` (default) or ``'720p'``.
    """

    family = GROK
    template_fields = submit_template_fields(GROK)

    def __init__(self, *, resolution: str | None = None, **kwargs: Any) -> None:
        super().__init__(family_options=family_keywords(GROK, locals()), **kwargs)


class SeedanceSubmitOperator(BaseVideoSubmitOperator):
    """Starts a ByteDance Seedance generation (image URLs only; 24 fps).

    :param last_frame_image: The last frame (first+last frame mode; not on Pro Fast).
    :param reference_images: 1-4 reference image URLs (Lite I2V only; ``image`` may then be omitted).
    :param generate_audio: ``providerOptions.bytedance.generateAudio`` (v1.5 Pro only).
    :param watermark: Add a watermark.
    :param camera_fixed: Keep the camera still.
    :param return_last_frame: Also return the video's last frame (for chaining clips).
    :param service_tier: ``'default'`` or ``'flex'`` (half price, slower).
    """

    family = SEEDANCE
    template_fields = submit_template_fields(SEEDANCE)

    def __init__(
        self,
        *,
        last_frame_image: Any = None,
        reference_images: list[Any] | None = None,
        generate_audio: bool | None = None,
        watermark: bool | None = None,
        camera_fixed: bool | None = None,
        return_last_frame: bool | None = None,
        service_tier: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(family_options=family_keywords(SEEDANCE, locals()), **kwargs)
