"""The request every family shares: images, prompt, settings, provider options and the wire body.

Public API::

    from airflow_video_gen.models import VideoRequest, InvalidVideoRequest

    req = VideoRequest.from_sdk_call("klingai/kling-v2.6-i2v", {"prompt": {"image": b"...", "text": "..."}})
    body = req.to_gateway_body()
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from airflow_video_gen.families.base import Family, ModelSpec
from airflow_video_gen.request.images import ImageSource
from airflow_video_gen.request.checks import SETTINGS, InvalidVideoRequest, Issue, check_call

__all__ = ["InvalidVideoRequest", "Issue", "VideoRequest"]

#: Wire keys the seed's calls never produce; a body carrying them is read, with a warning.
_UNUSED_WIRE_KEYS = ("frameImages", "inputReferences")


def _map_images(value: Any, fn: Callable[[ImageSource], Any]) -> Any:
    if isinstance(value, ImageSource):
        return fn(value)
    if isinstance(value, dict):
        return {k: _map_images(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_images(v, fn) for v in value]
    return value


def _wire_option_image(source: ImageSource) -> str:
    """Images inside provider options go as URL strings or raw base64 (no ``data:`` prefix)."""
    if source.kind == "bytes":
        return source.base64()
    if source.kind == "s3":
        raise ValueError(f"{source.origin} must be presigned before the request is sent")
    assert source.url is not None
    return source.url


def _wire_file(source: ImageSource) -> dict[str, Any]:
    """The top-level image as the protocol's file object."""
    if source.kind == "bytes":
        return {"type": "file", "mediaType": source.media_type, "data": source.base64()}
    if source.kind == "s3":
        raise ValueError(f"{source.origin} must be presigned before the request is sent")
    return {"type": "url", "url": source.url}


@dataclass(frozen=True)
class VideoRequest:
    """A checked image-to-video request for one gateway model.

    Build it with :meth:`from_sdk_call` (or :meth:`from_gateway_body` on the server side); it is
    valid by construction. ``s3://`` images are kept as they are until :meth:`with_presigned_images`.

    :param model: Gateway model id.
    :param family: The model's family.
    :param text: ``prompt.text``, or the plain string prompt.
    :param image: The start frame (``prompt.image``), if any.
    :param plain_prompt: The prompt was a plain string (Seedance multi-reference).
    :param settings: Top-level settings that were given (``n`` always).
    :param options: ``providerOptions.<provider>``, images as :class:`ImageSource`.
    :param other_options: Other keys of ``providerOptions``, passed on verbatim.
    :param warnings: Plausibility warnings found while checking (not errors).
    """

    model: str
    family: Family
    text: str | None
    image: ImageSource | None
    plain_prompt: bool
    settings: Mapping[str, Any]
    options: Mapping[str, Any]
    other_options: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_sdk_call(
        cls, model: str, call: Mapping[str, Any], *, allow_local_paths: bool = True
    ) -> VideoRequest:
        """Check and build a request from the AI SDK's ``experimental_generateVideo`` arguments.

        :param model: Gateway model id, e.g. ``klingai/kling-v2.6-i2v``.
        :param call: The arguments minus ``model``: ``prompt`` (a string or ``{"image", "text"}``),
            ``n``, ``aspectRatio``, ``resolution``, ``duration``, ``fps``, ``seed``, ``generateAudio``,
            ``providerOptions``. Images may be https URLs, ``s3://`` URIs, local paths, bytes, base64
            or data URLs.
        :param allow_local_paths: Whether image strings may name local files (default ``True``).
        :raises InvalidVideoRequest: Listing every problem, each with its parameter, the model and
            what is allowed. Nothing has touched the network.
        """
        view = check_call(
            model, dict(call) if isinstance(call, Mapping) else call, allow_local_paths=allow_local_paths
        )
        if view.errors:
            raise InvalidVideoRequest(model, view.errors)
        return cls(
            model=model,
            family=view.family,
            text=view.text,
            image=view.image,
            plain_prompt=view.plain_prompt,
            settings=dict(view.settings),
            options=dict(view.options),
            other_options=dict(view.other_options),
            warnings=tuple(view.warnings),
        )

    @classmethod
    def from_gateway_body(cls, model: str, body: Mapping[str, Any]) -> VideoRequest:
        """Read a wire body (as :meth:`to_gateway_body` makes it) back into a checked request.

        Local paths and ``s3://`` URIs are refused: a server must never read its own disk.

        :raises InvalidVideoRequest: As :meth:`from_sdk_call`.
        """
        if not isinstance(body, Mapping):
            raise InvalidVideoRequest(model, [Issue("body", "must be a JSON object")])
        call: dict[str, Any] = {k: body[k] for k in (*SETTINGS, "providerOptions") if k in body}
        if body.get("image") is not None:
            call["prompt"] = {"image": body["image"], "text": body.get("prompt")}
        elif "prompt" in body:
            call["prompt"] = body["prompt"]
        unknown = [k for k in body if k not in (*call, "prompt", "image", "callbackUrl", *_UNUSED_WIRE_KEYS)]
        issues = [Issue(k, "unknown field of the start body") for k in unknown]
        if issues:
            raise InvalidVideoRequest(model, issues)
        request = cls.from_sdk_call(model, call, allow_local_paths=False)
        if any(s.kind == "s3" for s in request.image_sources().values()):
            raise InvalidVideoRequest(model, [Issue("image", "s3:// URIs are not fetchable; send a URL")])
        extra = tuple(
            f"{k} is not used by {request.family.label} models" for k in _UNUSED_WIRE_KEYS if body.get(k)
        )
        return replace(request, warnings=request.warnings + extra)

    @property
    def spec(self) -> ModelSpec:
        """The model's spec (durations, resolutions, capabilities)."""
        return self.family.models[self.model]

    @property
    def duration(self) -> int | None:
        """The duration asked for, or the model's default."""
        value = self.settings.get("duration", self.spec.default_duration)
        return int(value) if value is not None else None

    def image_sources(self) -> dict[str, ImageSource]:
        """Every image of the request by parameter path (``prompt.image``, provider option paths)."""
        found: dict[str, ImageSource] = {}
        if self.image is not None:
            found["prompt.image"] = self.image

        def visit(value: Any, path: str) -> None:
            if isinstance(value, ImageSource):
                found[path] = value
            elif isinstance(value, dict):
                for k, v in value.items():
                    visit(v, f"{path}.{k}")
            elif isinstance(value, list):
                for i, v in enumerate(value):
                    visit(v, f"{path}[{i}]")

        visit(dict(self.options), f"providerOptions.{self.family.provider_key}")
        return found

    def s3_uris(self) -> list[str]:
        """The ``s3://`` images still to presign."""
        return [s.origin for s in self.image_sources().values() if s.kind == "s3"]

    def with_presigned_images(self, presign: Callable[[str], str]) -> VideoRequest:
        """The same request with each ``s3://`` image replaced by ``presign(uri)``.

        The images keep their ``s3://`` origin, so :meth:`describe` and :meth:`fingerprint` do not
        change: a retried task that presigns again still derives the same idempotency key.
        """
        cache: dict[str, str] = {}

        def fix(source: ImageSource) -> ImageSource:
            if source.kind != "s3":
                return source
            if source.origin not in cache:
                cache[source.origin] = presign(source.origin)
            return source.presigned(cache[source.origin])

        image = fix(self.image) if self.image is not None else None
        return replace(self, image=image, options=_map_images(dict(self.options), fix))

    def to_gateway_body(self) -> dict[str, Any]:
        """The JSON body of GATEWAY_PROTOCOL.md, as the official AI SDK client sends it.

        Keys in the client's order; ``n`` and ``providerOptions`` always present (the client sends
        ``{}`` for no options, on start as on the synchronous endpoint).

        :raises ValueError: When an ``s3://`` image has not been presigned.
        """
        body: dict[str, Any] = {}
        if self.text is not None:
            body["prompt"] = self.text
        for key in SETTINGS:
            if key in self.settings:
                body[key] = self.settings[key]
        body["providerOptions"] = self.provider_options()
        if self.image is not None:
            body["image"] = _wire_file(self.image)
        return body

    def provider_options(self) -> dict[str, Any]:
        """``providerOptions`` as sent: the family's options (images encoded) and any others verbatim."""
        out: dict[str, Any] = dict(self.other_options)
        if self.options:
            out[self.family.provider_key] = _map_images(dict(self.options), _wire_option_image)
        return out

    def describe(self) -> dict[str, Any]:
        """The call, small and JSON-safe: images by source, size and sha256, never their bytes."""
        prompt: Any
        if self.plain_prompt or self.image is None:
            prompt = self.text
        else:
            prompt = {"image": self.image.describe(), "text": self.text}
        out: dict[str, Any] = {"prompt": prompt, **self.settings}
        options = dict(self.other_options)
        if self.options:
            options[self.family.provider_key] = _map_images(dict(self.options), ImageSource.describe)
        if options:
            out["providerOptions"] = options
        return out

    def fingerprint(self) -> str:
        """A sha256 of the model and :meth:`describe`: equal for equal requests, across processes."""
        canonical = json.dumps({"model": self.model, "call": self.describe()}, sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()
