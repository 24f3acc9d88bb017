"""``s3://`` images checked before the billable start, by the same rules as local files.

A submit task presigns its ``s3://`` images for the gateway to fetch, so without a look at them a
generation could be started, and billed, on an image the model refuses (100 px wide, or a text
file named ``.png``). :func:`check_s3_images` reads each object's size from its head and only the
first bytes Pillow needs for the header (a ranged GET of 64 KiB; more only while the header runs
on, at most 4 MiB: never the whole object), then checks the request again with those bytes and
each object's real size: the same checks, the same messages as for an image read from disk.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException
from botocore.exceptions import BotoCoreError, ClientError
from PIL import Image

from airflow_video_gen.failures import s3_failure
from airflow_video_gen.models import InvalidVideoRequest, Issue, VideoRequest
from airflow_video_gen.request.checks import check_parts, start_check
from airflow_video_gen.request.images import ImageInputError, ImageSource
from airflow_video_gen.request.request import map_images
from airflow_video_gen.utils.s3 import head_object, parse_s3_uri, s3_hook

#: Bytes read first from each object: the header of any PNG, JPEG or GIF, and of most WEBPs.
FIRST_READ = 64 * 1024
#: Most bytes read from one object (a JPEG with a large embedded profile, a WEBP Pillow reads whole).
MAX_READ = 4 * 1024 * 1024
_GROWTH = 8


@dataclass(frozen=True)
class S3ImageHead:
    """What was read of one ``s3://`` image.

    :param uri: ``s3://bucket/key``.
    :param size: The object's size in bytes, from its head.
    :param data: Its first bytes (the whole object when it is small).
    :param content_type: Its ``Content-Type`` as S3 holds it.
    :param checkable: Whether ``data`` settles what the image is: Pillow reads its header, or it
        holds the whole object, or its first bytes are no image format's. ``False`` for an image
        whose header does not end within :data:`MAX_READ`.
    """

    uri: str
    size: int
    data: bytes
    content_type: str | None
    checkable: bool


def _header_read(data: bytes) -> bool:
    """Whether Pillow reads an image's format and size from ``data`` (the first bytes of a file)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                img.size  # noqa: B018 - reading it is the point
    except Image.DecompressionBombError:
        return True  # read, and too large: the image checks say so
    except Exception:  # Pillow raises many kinds of errors on a header cut short
        return False
    return True


def _image_signature(data: bytes) -> bool:
    """Whether ``data`` starts like a PNG, JPEG, GIF or WEBP file."""
    return data.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")) or (
        data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    )


def read_image_head(
    client: Any, uri: str, *, first: int = FIRST_READ, cap: int = MAX_READ
) -> S3ImageHead | None:
    """An S3 image's size and first bytes: ``HeadObject``, then ranged GETs of ``first`` bytes,
    eight times more each time Pillow needs more for the header, up to ``cap``. The GETs carry
    the head's ETag (``If-Match``), so the bytes all come from the object the head described.

    :param client: A boto3 S3 client.
    :param uri: ``s3://bucket/key``.
    :param first: Bytes read first (default 64 KiB).
    :param cap: Most bytes read (default 4 MiB).
    :return: What was read, or ``None`` when there is no such object.
    :raises ValueError: For an URI that is no plain ``s3://bucket/key``.
    :raises botocore.exceptions.ClientError: When S3 refuses the head or a read.
    """
    bucket, key = parse_s3_uri(uri)
    head = head_object(client, bucket, key)
    if head is None:
        return None
    size = int(head.get("ContentLength") or 0)
    match = {"IfMatch": head["ETag"]} if head.get("ETag") else {}
    data = b""
    want = min(first, size)
    while len(data) < want:
        answer = client.get_object(Bucket=bucket, Key=key, Range=f"bytes={len(data)}-{want - 1}", **match)
        body = answer["Body"]
        try:
            data += body.read()
        finally:
            body.close()
        if len(data) >= size or _header_read(data) or not _image_signature(data):
            break
        want = min(want * _GROWTH, cap, size)
    whole = len(data) >= size
    checkable = whole or _header_read(data) or not _image_signature(data)
    return S3ImageHead(uri, size, data, head.get("ContentType"), checkable)


def check_s3_images(
    request: VideoRequest,
    *,
    aws_conn_id: str | None,
    task: BaseOperator,
    context: Mapping[str, Any] | None = None,
    client: Any = None,
) -> None:
    """Check every ``s3://`` image of ``request`` (the start frame and each image option: an end
    frame, masks...) before the billable start: each object must exist and pass the model's image
    rules, read from its head and first bytes (see :func:`read_image_head`).

    :param request: The checked request, its ``s3://`` images not presigned yet.
    :param aws_conn_id: The AWS connection that reads the objects.
    :param task: The running task (its class and retries are named in messages).
    :param context: The task's context (default: the running one).
    :param client: A boto3 S3 client (default: the connection's).
    :raises AirflowFailException: When an object is missing or an image breaks a rule, listing
        every problem with its parameter, its ``s3://`` URI and the limit (the cause is the
        :class:`~airflow_video_gen.models.InvalidVideoRequest`). No retry helps.
    :raises AirflowException: When S3 fails in a way a retry may fix.
    """
    s3_images = {param: s for param, s in request.image_sources().items() if s.kind == "s3"}
    if not s3_images:
        return
    client = client if client is not None else s3_hook(aws_conn_id).get_conn()
    heads: dict[str, S3ImageHead] = {}
    issues: list[Issue] = []
    for param, source in s3_images.items():
        uri = source.origin
        if uri in heads:
            continue
        try:
            head = read_image_head(client, uri)
        except ValueError as exc:
            issues.append(Issue(param, f"{exc} (model {request.model})"))
            continue
        except (ClientError, BotoCoreError) as exc:
            attribute = "image" if param == "prompt.image" else param
            raise s3_failure(task, context, exc, param=attribute, uri=uri) from exc
        if head is None:
            bucket = uri[len("s3://") :].split("/", 1)[0]
            issues.append(
                Issue(
                    param,
                    f"{uri} does not exist (bucket {bucket!r}, connection {aws_conn_id!r}); check the "
                    "bucket and key, or upload the image before this task runs",
                )
            )
            continue
        heads[uri] = head
        if head.checkable:
            task.log.info(
                "Read %s of %s (%s bytes) to check it", _amount(len(head.data)), uri, f"{head.size:,}"
            )
        else:
            task.log.warning(
                "The header of %s does not end within its first %s; its image requirements are left "
                "to the gateway",
                uri,
                _amount(len(head.data)),
            )
    refused = _rule_issues(request, s3_images, heads)
    issues += refused
    if not issues:
        return
    invalid = InvalidVideoRequest(request.model, issues)
    fix = (
        " Replace the objects, or stage the images with StageImageOperator(model=..., fix=True), which "
        "converts, pads and rescales an image to the model's requirements."
        if refused
        else ""
    )
    raise AirflowFailException(
        f"{invalid}\nThe s3:// images were checked before the start: no generation was started.{fix}"
    ) from invalid


def _amount(size: int) -> str:
    return f"{size // 1024:,} KiB" if size >= 1024 else f"{size} bytes"


def _rule_issues(
    request: VideoRequest, s3_images: Mapping[str, ImageSource], heads: Mapping[str, S3ImageHead]
) -> list[Issue]:
    """The request checked again, its ``s3://`` images holding their first bytes: what the image
    rules (and the family's rules on images, such as Kling's masks) say of them."""
    readable = {uri: head for uri, head in heads.items() if head.checkable}
    if not readable:
        return []

    def with_bytes(source: ImageSource) -> ImageSource:
        head = readable.get(source.origin) if source.kind == "s3" else None
        return source.replace(data=head.data) if head is not None else source

    check = start_check(request.model)
    check.sizes = {param: readable[s.origin].size for param, s in s3_images.items() if s.origin in readable}
    options = map_images(request.options.model_dump(by_alias=True, exclude_none=True), with_bytes)
    check_parts(
        check,
        image=with_bytes(request.image) if request.image is not None else None,
        text=request.text,
        settings=request.settings.given(),
        options=options or None,
        other_options=request.other_options,
        paths="refuse",
    )
    issues = []
    for issue in check.errors:
        source = s3_images.get(issue.param)
        head = readable.get(source.origin) if source is not None else None
        if head is None:
            issues.append(issue)
            continue
        message = issue.message
        message = f"{head.uri} {message}" if message.startswith("is ") else f"{head.uri}: {message}"
        if not _decodes(head):
            kind = f"Content-Type {head.content_type!r}" if head.content_type else "no Content-Type"
            message += f"; S3 holds it as {kind}, {head.size:,} bytes"
        issues.append(Issue(issue.param, message))
    return issues


def _decodes(head: S3ImageHead) -> bool:
    try:
        ImageSource(kind="bytes", origin=head.uri, data=head.data).probe  # noqa: B018
    except ImageInputError:
        return False
    return True
