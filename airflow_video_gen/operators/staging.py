"""StageImageOperator: an input image, checked against its model, stored in S3 and presigned.

Wan, Grok and Seedance take image URLs only: staging turns a local file, a URL, an S3 object or
bytes into a checked S3 object and a presigned URL that any family can fetch. Submit operators
presign ``s3://`` images with the same function (:func:`airflow_video_gen.utils.s3.presign_get`).
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import httpx
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from botocore.exceptions import BotoCoreError, ClientError
from PIL import Image, ImageOps

from airflow_video_gen.failures import retry_note, s3_failure
from airflow_video_gen.families import Family, get_family
from airflow_video_gen.families.base import ImageRules
from airflow_video_gen.operators.lineage import LineageMixin, object_named
from airflow_video_gen.request.checks import start_check
from airflow_video_gen.request.errors import InvalidVideoRequest, Issue
from airflow_video_gen.request.image_rules import check_images
from airflow_video_gen.request.images import (
    MAX_IMAGE_BYTES,
    ImageInputError,
    ImageProbe,
    ImageSource,
    parse_image,
)
from airflow_video_gen.utils.redaction import redact_url
from airflow_video_gen.utils.s3 import (
    S3ConflictError,
    is_prefix,
    join_uri,
    parse_s3_uri,
    presign_get,
    put_bytes,
    read_object,
    s3_hook,
)

#: Formats every family's providers read; with ``fix=True`` others become PNG even without rules.
COMMON_FORMATS = frozenset({"PNG", "JPEG", "WEBP"})
#: File extensions of staged objects, by Pillow format.
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}
_DOWNLOAD_CHUNK = 256 * 1024
_PARAM = "image"


def download_image(url: str, *, max_bytes: int, timeout: float = 30.0) -> bytes:
    """Fetch an image over http(s), streamed and capped: a huge answer is refused from its
    ``Content-Length`` before reading, or as soon as it passes ``max_bytes`` while reading.

    :raises ImageInputError: For a non-http(s) URL, an answer of 4xx, or one too large.
    :raises httpx.HTTPError: For transport trouble and 5xx answers (worth retrying).
    """
    if not url.lower().startswith(("https://", "http://")):
        raise ImageInputError(f"only http:// and https:// URLs are fetched, not {redact_url(url)}")
    with (
        httpx.Client(timeout=timeout, follow_redirects=True, max_redirects=5) as client,
        client.stream("GET", url) as answer,
    ):
        if 400 <= answer.status_code < 500:
            raise ImageInputError(f"{redact_url(url)} answered HTTP {answer.status_code}")
        answer.raise_for_status()
        declared = int(answer.headers.get("content-length") or 0)
        if declared > max_bytes:
            raise ImageInputError(
                f"{redact_url(url)} is {declared:,} bytes (Content-Length); "
                f"at most {max_bytes:,} are accepted"
            )
        data = bytearray()
        for chunk in answer.iter_bytes(_DOWNLOAD_CHUNK):
            data += chunk
            if len(data) > max_bytes:
                raise ImageInputError(f"{redact_url(url)} sent more than {max_bytes:,} bytes; refused")
    return bytes(data)


def shown_image(image: Any, *, quote: bool = False) -> str:
    """An image input as messages show it: a path or ``s3://`` URI as given (quoted with
    ``quote``), a URL without its query, or the size of image data (never the data itself)."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        return f"<{len(image):,} bytes>"
    if isinstance(image, str):
        text = image.strip()
        if text.lower().startswith(("http://", "https://")):
            return redact_url(text)
        named = text.startswith(("s3://", "/", "./", "file:")) and "\n" not in text
        if text.startswith("data:") or (len(text) > 80 and not named):
            return f"<{len(text):,} characters of image data>"
        return repr(text) if quote else text
    return type(image).__name__


def held(source: ImageSource) -> tuple[bytes, ImageProbe]:
    """The bytes and probe of an image that has been read."""
    if source.data is None or source.probe is None:
        raise ImageInputError(f"{source.origin} has not been read")
    return source.data, source.probe


def target_family(model: str | None, family: str | None) -> tuple[Family | None, str | None]:
    """The family and model id to check against: from ``model``, else ``family`` and its default."""
    if model:
        fam = start_check(model).family  # refuses a malformed id
        if family and fam.name != family:
            raise InvalidVideoRequest(
                model, [Issue("family", f"{model} is a {fam.name} model, not {family!r}")]
            )
        return fam, model
    if family:
        fam = get_family(family)
        return fam, fam.default_model
    return None, None


def rule_issues(family: Family, model: str, source: ImageSource) -> list[Issue]:
    """What the family's documented image requirements say about an image (its bytes at hand).

    The image is judged as it will reach the gateway: as a URL (staged), so URL-only families
    do not object to it; the checks and their messages are those of the request validation.
    """
    check = start_check(model)
    check.images[f"prompt.{_PARAM}"] = source.replace(kind="url", url="s3://staged")
    check_images(check)
    return check.errors


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        image = image.convert("RGB") if image.mode != "RGB" else image
        image.save(out, format="JPEG", quality=92, optimize=True)
    elif fmt == "PNG":
        image.save(out, format="PNG", optimize=True)
    else:
        image.save(out, format=fmt)
    return out.getvalue()


def fix_image(
    source: ImageSource,
    rules: ImageRules | None,
    *,
    max_side: int | None = None,
    pad_color: str = "black",
) -> tuple[bytes, list[str]]:
    """Convert, pad, rescale and re-encode an image until it meets ``rules`` and ``max_side``.

    :return: The new bytes (the old ones when nothing was needed) and what was done, in words.
    """
    original, probe = held(source)
    fixes: list[str] = []
    fmt = probe.format
    allowed = rules.formats if rules else COMMON_FORMATS
    if fmt not in allowed:
        fmt = "PNG" if "PNG" in allowed else sorted(allowed)[0]
        fixes.append(f"converted {probe.format} to {fmt}")
    with Image.open(io.BytesIO(original)) as opened:
        opened.load()
        image: Image.Image = opened.copy()
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    if rules is not None:
        aspect = image.width / image.height
        if not rules.min_aspect <= aspect <= rules.max_aspect:
            if aspect > rules.max_aspect:
                size = (image.width, math.ceil(image.width / rules.max_aspect))
            else:
                size = (math.ceil(image.height * rules.min_aspect), image.height)
            image = ImageOps.pad(image, size, color=pad_color)
            fixes.append(
                f"padded {probe.width}x{probe.height} to {size[0]}x{size[1]} (aspect {aspect:.2f} -> "
                f"{size[0] / size[1]:.2f})"
            )
        if min(image.size) < rules.min_side:
            before = image.size
            scale = rules.min_side / min(image.size)
            image = image.resize(
                (round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS
            )
            fixes.append(f"upscaled {before[0]}x{before[1]} to {image.width}x{image.height}")
    if max_side and max(image.size) > max_side:
        before = image.size
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        fixes.append(f"downscaled {before[0]}x{before[1]} to {image.width}x{image.height}")
    if not fixes and (rules is None or len(original) <= rules.max_bytes):
        return original, []
    data = original if not fixes else _encode(image, fmt)
    if rules is not None and len(data) > rules.max_bytes:
        if fmt != "JPEG" and "JPEG" in rules.formats and image.mode in ("RGB", "L"):
            fixes.append(f"re-encoded {fmt} as JPEG to fit {rules.max_bytes:,} bytes")
            fmt = "JPEG"
            data = _encode(image, fmt)
        for _ in range(8):
            if len(data) <= rules.max_bytes:
                break
            before = image.size
            factor = max(0.5, min(0.95, (rules.max_bytes / len(data)) ** 0.5 * 0.95))
            factor = max(factor, rules.min_side / min(image.size))
            if factor >= 1:
                break
            smaller = (round(image.width * factor), round(image.height * factor))
            image = image.resize(smaller, Image.Resampling.LANCZOS)
            data = _encode(image, fmt)
            fixes.append(f"downscaled {before[0]}x{before[1]} to {image.width}x{image.height} to fit")
    return data, fixes


class StageImageOperator(LineageMixin, BaseOperator):
    """Checks an input image against a model's requirements, stores it in S3 and presigns it.

    Re-staging the same image is a no-op: by default the object key is the sha256 of the bytes,
    and an object already holding them is not written again.

    Returns ``{"s3_uri", "url", "width", "height", "media_type", "size", "sha256"}`` (plus
    ``"fixes"``, a list of what ``fix=True`` changed, when it changed anything). ``url`` is a
    presigned HTTPS GET URL; pass ``s3_uri`` to a submit operator, which presigns it itself. Each
    key is also pushed as its own XCom (``multiple_outputs`` defaults to true), so
    ``image=stage.output["s3_uri"]`` works.

    :param image: A local path, an ``http(s)://`` URL, an ``s3://`` URI, bytes, base64 or a data
        URL (XCom cannot carry bytes in Airflow 3: pass base64 text, or better, a path or URI).
        Templated.
    :param dest_s3_uri: Where to store it: a prefix ending in ``/`` (the key is
        ``<prefix><sha256>.<ext>``) or a full object URI. Templated.
    :param model: The gateway model id the image is for; its family's documented image
        requirements apply (KlingAI: jpg/png, at most 10 MB, at least 300 px, aspect 1:2.5 to
        2.5:1). Default ``None``. Templated.
    :param family: A family name (``kling``...) instead of a model. Default ``None``. Templated.
    :param fix: Convert, pad or rescale an image that breaks a requirement instead of failing
        (default ``False``); what was done is logged and listed under ``fixes``.
    :param max_side: Largest width or height accepted, in pixels (default ``None``: no limit);
        with ``fix`` larger images are downscaled.
    :param pad_color: Colour of the bars that ``fix`` adds to reach an allowed aspect ratio
        (default ``"black"``).
    :param max_bytes: Largest image read from a URL, S3 or a file, in bytes (default 50 MiB).
    :param overwrite: Replace an object at a full ``dest_s3_uri`` that holds different bytes
        (default ``False``: the task fails instead).
    :param presign_expires: Seconds the presigned URL stays valid (default 3600).
    :param http_timeout: Seconds to wait for an image URL's server (default 30).
    :param aws_conn_id: The AWS connection (default ``aws_default``). Templated.
    """

    template_fields: Sequence[str] = ("image", "dest_s3_uri", "model", "family", "aws_conn_id")
    ui_color = "#e8f4e8"

    def __init__(
        self,
        *,
        image: Any,
        dest_s3_uri: str,
        model: str | None = None,
        family: str | None = None,
        fix: bool = False,
        max_side: int | None = None,
        pad_color: str = "black",
        max_bytes: int = MAX_IMAGE_BYTES,
        overwrite: bool = False,
        presign_expires: int = 3600,
        http_timeout: float = 30.0,
        aws_conn_id: str | None = "aws_default",
        **kwargs: Any,
    ) -> None:
        # Each key is also its own XCom, so ``stage.output["s3_uri"]`` reads as it looks.
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(**kwargs)
        self.image = image
        self.dest_s3_uri = dest_s3_uri
        self.model = model
        self.family = family
        self.fix = fix
        self.max_side = max_side
        self.pad_color = pad_color
        self.max_bytes = max_bytes
        self.overwrite = overwrite
        self.presign_expires = presign_expires
        self.http_timeout = http_timeout
        self.aws_conn_id = aws_conn_id
        if max_side is not None and max_side < 1:
            raise ValueError(f"max_side must be at least 1 pixel, got {max_side}")
        if isinstance(dest_s3_uri, str) and "{{" not in dest_s3_uri:
            parse_s3_uri(dest_s3_uri, key_required=False)
        literal = [v for v in (model, family) if isinstance(v, str) and "{{" not in v]
        if len(literal) == len([v for v in (model, family) if v]):
            target_family(model, family)

    # ------------------------------------------------------------------------------------- input

    def _fail(self, message: str, target: str | None) -> AirflowFailException:
        for_what = f" for {target}" if target else ""
        return AirflowFailException(f"{type(self).__name__} {_PARAM}={self._shown()}{for_what}: {message}")

    def _shown(self) -> str:
        return shown_image(self.image, quote=True)

    @cached_property
    def s3_client(self) -> Any:
        """The boto3 S3 client of ``aws_conn_id``, made once per task (a batch shares it)."""
        return s3_hook(self.aws_conn_id).get_conn()

    def read_image(self, target: str | None, context: Any = None) -> ImageSource:
        """The input as bytes with its probe, from whichever form it came in.

        :param target: The model and family checked against, for messages.
        :param context: The task's context, for the retry note of transient failures.
        """
        try:
            source = parse_image(self.image)
            if source.kind == "url" and source.url:
                url = source.url
                data = download_image(url, max_bytes=self.max_bytes, timeout=self.http_timeout)
                source = parse_image(data).replace(origin=redact_url(url))
            elif source.kind == "s3":
                bucket, key = parse_s3_uri(source.origin)
                data = read_object(self.s3_client, bucket, key, max_bytes=self.max_bytes)
                source = parse_image(data).replace(origin=source.origin)
            held(source)
        except ValueError as exc:  # unusable images, too large, a missing S3 object, a bad URI
            raise self._fail(str(exc), target) from None
        except httpx.HTTPError as exc:
            raise AirflowException(
                f"Could not fetch {_PARAM}={self._shown()}: {type(exc).__name__}; {retry_note(self, context)}"
            ) from exc
        except (ClientError, BotoCoreError) as exc:
            raise s3_failure(self, context, exc, param=_PARAM, uri=str(self.image)) from exc
        size = len(held(source)[0])
        if size > self.max_bytes:
            raise self._fail(f"is {size:,} bytes; at most {self.max_bytes:,} are accepted", target)
        return source

    # ------------------------------------------------------------------------------------- checks

    def _issues(self, family: Family | None, model: str | None, source: ImageSource) -> list[Issue]:
        issues = rule_issues(family, model, source) if family is not None and model is not None else []
        probe = held(source)[1]
        if self.max_side and max(probe.width, probe.height) > self.max_side:
            message = f"is {probe.width}x{probe.height} px; max_side allows {self.max_side} px"
            issues.append(Issue(f"prompt.{_PARAM}", message))
        return issues

    def _refuse(self, issues: list[Issue], target: str | None, hint: str) -> AirflowFailException:
        lines = "\n".join(f"  - {i.message}" for i in issues)
        return self._fail(f"{len(issues)} requirement(s) not met:\n{lines}\n{hint}", target)

    # ------------------------------------------------------------------------------------- run

    def lineage_at_start(self) -> tuple[list[str], list[str]]:
        """The image named by ``image`` (not read), and ``dest_s3_uri`` when it names the object."""
        try:
            inputs = [parse_image(self.image, paths="defer").origin]
        except ValueError:
            inputs = []  # refused with its message when the task runs
        return inputs, object_named(self.dest_s3_uri)

    def execute(self, context: Any) -> dict[str, Any]:
        return self.stage(context)

    def stage(self, context: Any, *, presign: bool = True) -> dict[str, Any]:
        """Read, check (and fix) ``image``, store it and presign it: what the task does, for one
        image (a batch stages each of its images with it).

        :param presign: Add the presigned ``url`` (default ``True``).
        """
        try:
            family, model = target_family(self.model, self.family)
        except ValueError as exc:
            raise AirflowFailException(f"{type(self).__name__}: {exc}") from exc
        target = f"{model} ({family.label})" if family and model else None
        source = self.read_image(target, context)
        self.record_lineage(inputs=[source.origin])
        data, probe = held(source)
        where = source.origin[5:] if source.origin.startswith("path:") else source.origin
        self.log.info(
            "Read %s: %s %dx%d, %s bytes", where, probe.format, probe.width, probe.height, len(data)
        )
        fixes: list[str] = []
        issues = self._issues(family, model, source)
        ruled = family is not None and family.image_rules is not None
        if issues or (self.fix and probe.format not in COMMON_FORMATS and not ruled):
            if not self.fix:
                raise self._refuse(issues, target, "Set fix=True to convert, pad or rescale it.")
            rules = family.image_rules if family else None
            data, fixes = fix_image(source, rules, max_side=self.max_side, pad_color=self.pad_color)
            for note in fixes:
                self.log.info("Fixed: %s", note)
            source = parse_image(data).replace(origin=source.origin)
            left = self._issues(family, model, source)
            if left:
                raise self._refuse(left, target, "fix=True could not repair it; supply another image.")
        result = self._store(source, fixes, context, presign=presign)
        self.record_lineage(outputs=[result["s3_uri"]])
        return result

    def _destination(self, data: bytes, probe: ImageProbe) -> str:
        dest = str(self.dest_s3_uri)
        try:
            if is_prefix(dest):
                ext = EXTENSIONS.get(probe.format, probe.format.lower())
                return join_uri(dest, f"{hashlib.sha256(data).hexdigest()}.{ext}")
            parse_s3_uri(dest)
        except ValueError as exc:
            raise AirflowFailException(f"{type(self).__name__} dest_s3_uri: {exc}") from exc
        return dest

    def _store(
        self, source: ImageSource, fixes: list[str], context: Any = None, *, presign: bool = True
    ) -> dict[str, Any]:
        data, probe = held(source)
        dest = self._destination(data, probe)
        try:
            stored = put_bytes(
                self.s3_client, dest, data, content_type=probe.media_type, overwrite=self.overwrite
            )
        except S3ConflictError as exc:
            raise AirflowFailException(f"{type(self).__name__} dest_s3_uri: {exc}") from exc
        except (ClientError, BotoCoreError) as exc:
            raise s3_failure(self, context, exc, param="dest_s3_uri", uri=dest) from exc
        if stored.outcome == "unchanged":
            self.log.info("%s already holds this image (sha256 %s); not written again", dest, stored.sha256)
        else:
            self.log.info("Stored %s (%s, %d bytes)", dest, stored.outcome, stored.size)
        result: dict[str, Any] = {"s3_uri": dest}
        if presign:
            result["url"] = presign_get(dest, expires_in=self.presign_expires, client=self.s3_client)
            self.log.info("Presigned for %d s: %s", self.presign_expires, redact_url(result["url"]))
        result |= {
            "width": probe.width,
            "height": probe.height,
            "media_type": probe.media_type,
            "size": stored.size,
            "sha256": stored.sha256,
        }
        if fixes:
            result["fixes"] = fixes
        return result
