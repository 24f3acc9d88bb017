"""The request every family shares: images, prompt, settings, provider options and the wire body.

A keyword set, an AI-SDK-shaped call or a wire body goes once into one checked, typed
:class:`VideoRequest`; the wire body, the XCom description and the fingerprint are dumped from it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from airflow_video_gen.families.base import Family, ModelSpec, ProviderOptions
from airflow_video_gen.request.checks import (
    Check,
    check_call,
    check_parts,
    split_provider_options,
    start_check,
)
from airflow_video_gen.request.errors import InvalidVideoRequest, Issue
from airflow_video_gen.request.images import ImageSource, PathMode
from airflow_video_gen.request.settings import SETTINGS, CallSettings

#: Wire keys the seed's calls never produce; a body carrying them is read, with a warning.
_UNUSED_WIRE_KEYS = ("frameImages", "inputReferences")


def map_images(value: Any, fn: Callable[[ImageSource], Any]) -> Any:
    """A copy of ``value`` with every :class:`ImageSource` inside replaced by ``fn(image)``."""
    if isinstance(value, ImageSource):
        return fn(value)
    if isinstance(value, dict):
        return {k: map_images(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [map_images(v, fn) for v in value]
    return value


def _unsigned(source: ImageSource) -> None:
    if source.kind == "s3":
        raise ValueError(f"{source.origin} must be presigned before the request is sent")
    if source.kind == "path":
        raise ValueError(f"{source.origin} must be read before the request is sent")


def _wire_option_image(source: ImageSource) -> str:
    """Images inside provider options go as URL strings or raw base64 (no ``data:`` prefix)."""
    _unsigned(source)
    if source.kind == "bytes":
        return source.base64()
    assert source.url is not None
    return source.url


def _wire_file(source: ImageSource) -> dict[str, Any]:
    """The top-level image as the protocol's file object."""
    _unsigned(source)
    if source.kind == "bytes":
        return {"type": "file", "mediaType": source.media_type, "data": source.base64()}
    return {"type": "url", "url": source.url}


def callback_url_issue(url: Any) -> Issue | None:
    """What is wrong with a ``callbackUrl``, or ``None``: it must be an absolute http(s) URL. The
    message names its scheme and host only, since a callback URL may carry a token."""
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
    except ValueError:  # an unbalanced IPv6 bracket
        parts = None
    if parts is not None and parts.scheme in ("https", "http") and parts.hostname:
        return None
    got = f"scheme {parts.scheme!r}, host {parts.hostname!r}" if parts else "no URL"
    return Issue(
        "callbackUrl",
        "must be an absolute https URL the gateway can reach, such as "
        f"https://airflow.example.com/video-gen-callbacks/gateway (got {got})",
    )


@dataclass(frozen=True)
class VideoRequest:
    """A checked image-to-video request for one gateway model.

    Build it with :meth:`from_sdk_call`, :meth:`from_parts` (operator keywords) or
    :meth:`from_gateway_body` (the server side); it is valid by construction. ``s3://`` images are
    kept as they are until :meth:`with_presigned_images`.

    :param model: Gateway model id.
    :param family: The model's family (the generic ``gateway`` family for other creators).
    :param spec: The model's spec; a newer id of a known family has an unlisted one.
    :param text: ``prompt.text``, or the plain string prompt.
    :param image: The start frame (``prompt.image``), if any.
    :param plain_prompt: The prompt was a plain string (Seedance multi-reference).
    :param settings: The top-level settings, typed.
    :param options: ``providerOptions.<provider>``, typed by the family's options model; images as
        :class:`ImageSource`.
    :param other_options: Other keys of ``providerOptions``, passed on verbatim.
    :param warnings: Plausibility warnings found while checking (not errors).
    :param callback_url: Sent as ``callbackUrl``: where the gateway notifies the job's end. Not
        part of :meth:`describe` nor :meth:`fingerprint`: it changes no video, so a new one never
        makes a new generation (and a URL may carry a token).
    """

    model: str
    family: Family
    spec: ModelSpec
    text: str | None
    image: ImageSource | None
    plain_prompt: bool
    settings: CallSettings
    options: ProviderOptions
    other_options: Mapping[str, Any]
    warnings: tuple[str, ...] = ()
    callback_url: str | None = None

    # ---------------------------------------------------------------------------------- builders

    @classmethod
    def _from_check(cls, check: Check) -> VideoRequest:
        check.raise_if_invalid()
        return cls(
            model=check.model,
            family=check.family,
            spec=check.spec,
            text=check.text,
            image=check.image,
            plain_prompt=check.plain_prompt,
            settings=check.settings,
            options=check.options,
            other_options=dict(check.other_options),
            warnings=tuple(check.warnings),
        )

    @classmethod
    def from_sdk_call(
        cls,
        model: str,
        call: Mapping[str, Any],
        *,
        allow_local_paths: bool = True,
        strict: bool = False,
    ) -> VideoRequest:
        """Check and build a request from the AI SDK's ``experimental_generateVideo`` arguments.

        :param model: Gateway model id, e.g. ``klingai/kling-v2.6-i2v``. An id missing from this
            package's tables is checked with its family's version-independent rules (or, for a
            creator with no family here, the common checks) and gets a warning.
        :param call: The arguments minus ``model``: ``prompt`` (a string or ``{"image", "text"}``),
            ``n``, ``aspectRatio``, ``resolution``, ``duration``, ``fps``, ``seed``, ``generateAudio``,
            ``providerOptions``. Images may be https URLs, ``s3://`` URIs, local paths, bytes, base64
            or data URLs.
        :param allow_local_paths: Whether image strings may name local files (default ``True``).
        :param strict: Refuse a model id missing from the tables (default ``False``).
        :raises InvalidVideoRequest: Listing every problem, each with its parameter, the model and
            what is allowed. Nothing has touched the network.
        """
        paths: PathMode = "read" if allow_local_paths else "refuse"
        return cls._from_check(check_call(model, call, paths=paths, strict=strict))

    @classmethod
    def from_parts(
        cls,
        model: str,
        *,
        image: Any = None,
        text: Any = None,
        settings: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        provider_options: Mapping[str, Any] | None = None,
        paths: PathMode = "read",
        decode: bool = True,
        strict: bool = False,
        lax: Collection[str] = (),
    ) -> VideoRequest:
        """Check and build a request from its parts, as the operators hold them.

        :param model: Gateway model id.
        :param image: The start frame, in any image form.
        :param text: The prompt text.
        :param settings: Top-level settings by wire name (``aspectRatio``...).
        :param options: The family's provider options by wire name, merged over the family's own
            dict of ``provider_options``.
        :param provider_options: ``providerOptions`` as the seed writes it (other providers' keys
            pass on as given).
        :param paths: What a string naming a local file becomes (parse time defers them).
        :param decode: Read image headers and apply the image rules (not while a DAG is parsed).
        :param strict: Refuse a model id missing from the tables.
        :param lax: Wire names of settings, and ``providerOptions.<provider>.<option>`` paths, whose
            values came from templates as strings and are coerced into their declared types.
        :raises InvalidVideoRequest: Listing every problem.
        """
        check = start_check(model, strict=strict, decode=decode)
        own, others = split_provider_options(check, provider_options)
        merged = {**(own or {}), **(options or {})}
        check_parts(
            check,
            image=image,
            text=text,
            settings={k: v for k, v in (settings or {}).items() if v is not None},
            options=merged or None,
            other_options=others,
            paths=paths,
            lax=lax,
        )
        check.plain_prompt = image is None and text is not None
        return cls._from_check(check)

    @classmethod
    def from_gateway_body(cls, model: str, body: Mapping[str, Any]) -> VideoRequest:
        """Read a wire body (as :meth:`to_gateway_body` makes it) back into a checked request.

        Local paths and ``s3://`` URIs are refused: a server must never read its own disk.

        :raises InvalidVideoRequest: As :meth:`from_sdk_call`.
        """
        if not isinstance(body, Mapping):
            raise InvalidVideoRequest(model, [Issue("body", "must be a JSON object")])
        known = (*SETTINGS, "providerOptions", "prompt", "image", "callbackUrl", *_UNUSED_WIRE_KEYS)
        unknown = [k for k in body if k not in known]
        if unknown:
            raise InvalidVideoRequest(model, [Issue(k, "unknown field of the start body") for k in unknown])
        image = body.get("image")
        text = body.get("prompt")
        check = start_check(model, strict=True)
        own, others = split_provider_options(check, body.get("providerOptions"))
        check_parts(
            check,
            image=image,
            text=text,
            settings={k: body[k] for k in SETTINGS if body.get(k) is not None},
            options=own,
            other_options=others,
            paths="refuse",
        )
        check.plain_prompt = image is None and text is not None
        request = cls._from_check(check)
        if any(s.kind == "s3" for s in request.image_sources().values()):
            raise InvalidVideoRequest(model, [Issue("image", "s3:// URIs are not fetchable; send a URL")])
        extra = tuple(
            f"{k} is not used by {request.family.label} models" for k in _UNUSED_WIRE_KEYS if body.get(k)
        )
        callback = body.get("callbackUrl")
        if callback is not None:
            request = request.with_callback_url(callback)
        return replace(request, warnings=request.warnings + extra)

    def with_callback_url(self, url: Any) -> VideoRequest:
        """The same request, with ``callbackUrl`` set (``None`` or empty: unset).

        :raises InvalidVideoRequest: When ``url`` is not an absolute http(s) URL
            (:func:`callback_url_issue`).
        """
        if url is None or url == "":
            return replace(self, callback_url=None)
        issue = callback_url_issue(url)
        if issue is not None:
            raise InvalidVideoRequest(self.model, [issue])
        return replace(self, callback_url=url)

    # ---------------------------------------------------------------------------------- reading

    @property
    def duration(self) -> int | None:
        """The duration asked for, or the model's default."""
        return self.settings.duration if self.settings.duration is not None else self.spec.default_duration

    def option(self, part: str) -> Any:
        """The value of the option that plays ``part`` (see :class:`~airflow_video_gen.families.base.Plays`),
        or ``None`` when the family has no such option or it is not set."""
        found = self.family.part(part)
        return getattr(self.options, found.name) if found is not None else None

    def option_param(self, part: str) -> str | None:
        """The parameter path of the option that plays ``part``."""
        found = self.family.part(part)
        return f"providerOptions.{self.family.provider_key}.{found.wire}" if found is not None else None

    def _options(self) -> dict[str, Any]:
        return self.options.model_dump(by_alias=True, exclude_none=True)

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

        visit(self._options(), f"providerOptions.{self.family.provider_key}")
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
        options = type(self.options).model_validate(map_images(self._options(), fix))
        return replace(self, image=image, options=options)

    # ---------------------------------------------------------------------------------- dumping

    def to_gateway_body(self) -> dict[str, Any]:
        """The JSON body of GATEWAY_PROTOCOL.md, as the official AI SDK client sends it.

        Keys in the client's order; ``n`` and ``providerOptions`` always present (the client sends
        ``{}`` for no options, on start as on the synchronous endpoint).

        :raises ValueError: When an ``s3://`` image has not been presigned.
        """
        body: dict[str, Any] = {}
        if self.text is not None:
            body["prompt"] = self.text
        body.update(self.settings.given())
        body["providerOptions"] = self.provider_options()
        if self.image is not None:
            body["image"] = _wire_file(self.image)
        if self.callback_url:
            body["callbackUrl"] = self.callback_url
        return body

    def provider_options(self) -> dict[str, Any]:
        """``providerOptions`` as sent: the family's options (images encoded) and any others verbatim."""
        out: dict[str, Any] = dict(self.other_options)
        options = self._options()
        if options:
            out[self.family.provider_key] = map_images(options, _wire_option_image)
        return out

    def describe(self) -> dict[str, Any]:
        """The call, small and JSON-safe: images by source, size and sha256, never their bytes."""
        prompt: Any
        if self.plain_prompt or self.image is None:
            prompt = self.text
        else:
            prompt = {"image": self.image.describe(), "text": self.text}
        out: dict[str, Any] = {"prompt": prompt, **self.settings.given()}
        options = dict(self.other_options)
        own = self._options()
        if own:
            options[self.family.provider_key] = map_images(own, ImageSource.describe)
        if options:
            out["providerOptions"] = options
        return out

    def fingerprint(self) -> str:
        """A sha256 of the model and :meth:`describe`: equal for equal requests, across processes."""
        canonical = json.dumps({"model": self.model, "call": self.describe()}, sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()
