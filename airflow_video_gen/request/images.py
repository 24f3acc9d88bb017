"""Image inputs: every form a caller may give, read into one :class:`ImageSource`.

Accepted: ``https://`` and ``http://`` URLs, ``s3://`` URIs (presigned later, by the operator),
local paths, ``bytes``, raw base64, ``data:`` URLs, and the wire protocol's own file objects
(``{"type": "url", ...}`` / ``{"type": "file", ...}``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import re
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from PIL import Image, UnidentifiedImageError

from airflow_video_gen.utils.redaction import redact_url

#: Largest image read from a path, bytes or base64 before it is refused (no model takes more).
MAX_IMAGE_BYTES = 50 * 1024 * 1024
#: Largest pixel count decoded; above it an image is treated as a decompression bomb.
MAX_IMAGE_PIXELS = 80_000_000

_MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
_BASE64_RE = re.compile(r"^[A-Za-z0-9+/\s]+={0,2}\s*$")
_DATA_URL_RE = re.compile(r"^data:(?P<mt>[\w.+-]+/[\w.+-]+)?(?:;[^,]*)?;base64,(?P<data>.*)$", re.DOTALL)


class ImageInputError(ValueError):
    """An image input that cannot be used, with the reason in its message."""


@dataclass(frozen=True)
class ImageProbe:
    """What Pillow reads from an image's header."""

    format: str
    media_type: str
    width: int
    height: int


#: How a string that is no URL, URI or encoded image is taken: read as a local file (workers),
#: kept as an unread path (parse time: the file may exist only on the worker) or refused (servers).
PathMode = Literal["read", "defer", "refuse"]


class ImageSource:
    """One image of a request (immutable; a plain class so that pydantic keeps it whole inside an
    options model instead of dumping it as a dataclass).

    :param kind: ``url`` (sent as a URL), ``s3`` (to presign first), ``bytes`` (sent inline) or
        ``path`` (a local file not read yet: only while a DAG file is parsed).
    :param origin: Where it came from, for logs, XCom and hashes: the URL, the ``s3://`` URI,
        ``path:<path>``, ``bytes``, ``base64`` or ``data-url``. Never the image data itself.
    :param url: The URL, for ``url`` and ``s3``.
    :param data: The bytes, for ``bytes``.
    :param declared_media_type: The type a ``data:`` URL declared, if any.
    """

    def __init__(
        self,
        kind: Literal["url", "s3", "bytes", "path"],
        origin: str,
        url: str | None = None,
        data: bytes | None = None,
        declared_media_type: str | None = None,
    ) -> None:
        self.kind = kind
        self.origin = origin
        self.url = url
        self.data = data
        self.declared_media_type = declared_media_type

    def _fields(self) -> tuple[Any, ...]:
        return (self.kind, self.origin, self.url, self.data, self.declared_media_type)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ImageSource) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        size = f", {len(self.data)} bytes" if self.data is not None else ""
        return f"ImageSource({self.kind}, {self.origin!r}{size})"

    def replace(self, **changes: Any) -> ImageSource:
        """A copy with ``changes`` (the same keywords as the constructor)."""
        fields = dict(
            zip(("kind", "origin", "url", "data", "declared_media_type"), self._fields(), strict=True)
        )
        return ImageSource(**{**fields, **changes})

    @cached_property
    def probe(self) -> ImageProbe | None:
        """Format and size, read from the bytes the first time they are asked for (``None``
        without bytes). :raises ImageInputError: When the bytes are no decodable image."""
        return probe_image(self.data) if self.data is not None else None

    @property
    def media_type(self) -> str | None:
        """The media type sent for bytes: a data URL's declared type, else the one sniffed."""
        if self.declared_media_type:
            return self.declared_media_type
        return self.probe.media_type if self.probe else None

    @property
    def sha256(self) -> str | None:
        """Hex digest of the bytes, for bytes."""
        return hashlib.sha256(self.data).hexdigest() if self.data is not None else None

    def describe(self) -> dict[str, Any]:
        """A small JSON-safe description: the source, and size and hash instead of any bytes."""
        if self.data is None:
            return {"source": self.origin}
        out: dict[str, Any] = {"source": self.origin, "size": len(self.data), "sha256": self.sha256}
        probe = self.probe
        if probe:
            out.update(media_type=probe.media_type, width=probe.width, height=probe.height)
        return out

    def base64(self) -> str:
        """The bytes as raw base64 (no ``data:`` prefix)."""
        if self.data is None:
            raise ValueError(f"{self.origin} has no bytes to encode")
        return base64.b64encode(self.data).decode("ascii")

    def presigned(self, url: str) -> ImageSource:
        """The same image, now reachable at ``url`` (the origin stays the ``s3://`` URI)."""
        return ImageSource(kind="url", origin=self.origin, url=url)


def probe_image(data: bytes) -> ImageProbe:
    """Read format and size from image bytes, refusing what cannot be decoded or is a bomb.

    :param data: The encoded image.
    :raises ImageInputError: When Pillow cannot identify the image, or it has too many pixels.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                fmt = img.format or "UNKNOWN"
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageInputError("image has too many pixels to decode safely (decompression bomb?)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageInputError(f"bytes are not a decodable image ({type(exc).__name__})") from None
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageInputError(
            f"image is {width}x{height} pixels, more than the {MAX_IMAGE_PIXELS:,} decoded safely"
        )
    return ImageProbe(fmt, _MEDIA_TYPES.get(fmt, f"image/{fmt.lower()}"), width, height)


def _from_bytes(data: bytes, origin: str) -> ImageSource:
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageInputError(f"image is {len(data):,} bytes; at most {MAX_IMAGE_BYTES:,} are accepted")
    return ImageSource(kind="bytes", origin=origin, data=data)


def _decode_base64(text: str) -> bytes | None:
    if len(text) < 16 or not _BASE64_RE.match(text):
        return None
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def _is_file(text: str) -> bool:
    if len(text) > 4096 or "\x00" in text:
        return False
    try:
        return os.path.isfile(text)
    except OSError:
        return False


def parse_image(value: Any, *, paths: PathMode = "read", allow_s3: bool = True) -> ImageSource:
    """Read an image input of any accepted form. Nothing is decoded: the bytes are probed the
    first time :attr:`ImageSource.probe` is read.

    :param value: The input (see the module docstring for the forms).
    :param paths: What a string naming a local file becomes (see :data:`PathMode`); servers refuse
        them, so a request can never make them read their own disk.
    :param allow_s3: Whether ``s3://`` URIs are accepted (they must be presigned before sending).
    :raises ImageInputError: With the reason, when the input is none of the accepted forms.
    """
    allow_local_paths = paths != "refuse"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _from_bytes(bytes(value), "bytes")
    if isinstance(value, Path):
        if not allow_local_paths:
            raise ImageInputError("local paths are not accepted here")
        return _local(value, paths)
    if isinstance(value, dict):
        return _from_file_object(value)
    if not isinstance(value, str):
        raise ImageInputError(
            f"expected a URL, s3:// URI, local path, bytes, base64 or data URL, got {type(value).__name__}"
        )
    text = value.strip()
    lowered = text[:16].lower()
    if lowered.startswith(("https://", "http://")):
        return ImageSource(kind="url", origin=redact_url(text, only_signed=True), url=text)
    if lowered.startswith("s3://"):
        if not allow_s3:
            raise ImageInputError("s3:// URIs must be presigned before they are sent")
        if not re.match(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/.+", text):
            raise ImageInputError(f"{text!r} is not an s3://bucket/key URI")
        return ImageSource(kind="s3", origin=text, url=text)
    if lowered.startswith("data:"):
        match = _DATA_URL_RE.match(text)
        data = _decode_base64(match.group("data")) if match else None
        if match is None or data is None:
            raise ImageInputError("data URL is not base64-encoded image data")
        source = _from_bytes(data, "data-url")
        # A data URL's declared type is sent as declared, as the official client does.
        declared = match.group("mt")
        return source.replace(declared_media_type=declared) if declared else source
    if lowered.startswith("file://"):
        if not allow_local_paths:
            raise ImageInputError("local paths are not accepted here")
        return _local(Path(text[len("file://") :]), paths)
    if re.match(r"^[a-z][a-z0-9+.\-]*://", lowered):
        scheme = lowered.split("://", 1)[0]
        raise ImageInputError(f"URL scheme {scheme!r} is not supported; use https://, http:// or s3://")
    if paths == "read" and _is_file(text):
        return _read_path(Path(text))
    data = _decode_base64(text)
    if data is not None:
        return _from_bytes(data, "base64")
    if paths == "defer" and len(text) <= 4096 and "\x00" not in text:
        return ImageSource(kind="path", origin=f"path:{text}")
    if text.startswith("{") and "s3_uri" in text:
        raise ImageInputError(_WHOLE_STAGE_XCOM)
    if paths == "read" and _looks_like_path(text):
        raise ImageInputError(_no_such_file(text))
    where = "an existing local file, " if allow_local_paths else ""
    raise ImageInputError(f"not a URL, s3:// URI, {where}data URL or base64 image: {text[:60]!r}")


def _local(path: Path, paths: PathMode) -> ImageSource:
    return _read_path(path) if paths == "read" else ImageSource(kind="path", origin=f"path:{path}")


#: A path-like string: a separator, a leading ``~`` or ``.``, or an image file extension.
_PATH_LIKE_RE = re.compile(r"[/\\]|^[~.]|\.(png|jpe?g|webp|gif|bmp|tiff?|heic|avif)$", re.IGNORECASE)
_WHOLE_STAGE_XCOM = (
    "is the whole XCom of StageImageOperator (a dict with s3_uri, url, width...); pass "
    'stage.output["s3_uri"] instead, and the submit task presigns it'
)


def _looks_like_path(text: str) -> bool:
    return len(text) <= 4096 and "\n" not in text and "\x00" not in text and bool(_PATH_LIKE_RE.search(text))


def _no_such_file(text: str) -> str:
    """Why a local path was not found, where it was looked for, and what to do instead."""
    path = Path(text)
    if text.startswith("~"):
        where = "~ is not expanded; write the whole path"
    elif path.is_absolute():
        where = "absolute path"
    else:
        where = f"relative paths resolve against the worker's working directory, now {os.getcwd()}"
    return (
        f"no such file on this worker: {text[:200]!r} ({where}). Give an absolute path that exists "
        "on every worker, or stage the image to S3 with StageImageOperator and pass its s3_uri"
    )


def _read_path(path: Path) -> ImageSource:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageInputError(_no_such_file(str(path))) from None
    except OSError as exc:
        raise ImageInputError(f"cannot read {path}: {exc.strerror}") from None
    if not path.is_file():
        raise ImageInputError(f"{path} is not a file (a directory?); give the path of an image file")
    if size > MAX_IMAGE_BYTES:
        raise ImageInputError(f"{path} is {size:,} bytes; at most {MAX_IMAGE_BYTES:,} are accepted")
    return _from_bytes(path.read_bytes(), f"path:{path}")


def _from_file_object(value: dict[str, Any]) -> ImageSource:
    if "s3_uri" in value:
        raise ImageInputError(_WHOLE_STAGE_XCOM)
    kind = value.get("type")
    if kind == "url" and isinstance(value.get("url"), str):
        return parse_image(value["url"], paths="refuse", allow_s3=False)
    if kind == "file" and isinstance(value.get("data"), str):
        data = _decode_base64(value["data"])
        if data is None:
            raise ImageInputError("file object's data is not base64")
        return _from_bytes(data, "base64")
    raise ImageInputError('expected {"type": "url", "url": ...} or {"type": "file", "data": ...}')
