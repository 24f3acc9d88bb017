"""S3 shared by submit, staging and archive: URIs checked, objects presigned, stored and read.

Every object this package writes carries the sha256 of its bytes, so a re-run can tell "the same
bytes are already there" (left alone) from "different bytes are there" (a conflict, unless
replacing is allowed). Small objects (:func:`put_bytes`) carry it in their metadata
(``x-amz-meta-sha256``). Streamed objects (:func:`upload_stream`) learn it only after their last
part, when their metadata can no longer change without copying the object, so they carry it in two
object tags written right after the upload completes: ``sha256`` and ``sha256-etag``, the ETag of
the object it was computed for (a tag is trusted only while the object still has that ETag).
Streamed objects stored before, by a server-side copy, carry it in their metadata and still compare.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

log = logging.getLogger(__name__)

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


def parse_s3_uri(uri: str, *, key_required: bool = True) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into bucket and key, refusing keys that climb out of a prefix.

    :raises ValueError: For anything but a plain ``s3://bucket/key`` (``..`` segments, empty
        segments, backslashes or control characters in the key are refused).
    """
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise ValueError(f"expected an s3://bucket/key URI, got {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not _BUCKET_RE.match(bucket):
        raise ValueError(f"{uri!r} does not name a valid S3 bucket")
    if key_required and not key:
        raise ValueError(f"{uri!r} has no object key")
    parts = key.split("/")
    if any(p in (".", "..") for p in parts) or "\\" in key or any(ord(c) < 32 for c in key):
        raise ValueError(f"{uri!r} has an unsafe key (path traversal or control characters)")
    return bucket, key


def s3_hook(aws_conn_id: str | None) -> S3Hook:
    """The amazon provider's S3Hook for a connection."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=aws_conn_id)


def presign_get(
    uri: str,
    *,
    aws_conn_id: str | None = "aws_default",
    expires_in: int = 3600,
    must_exist: bool = True,
    client: Any = None,
) -> str:
    """A presigned HTTPS GET URL for an S3 object.

    :param uri: ``s3://bucket/key``.
    :param aws_conn_id: The AWS connection (default ``aws_default``).
    :param expires_in: Seconds the URL stays valid (default 3600).
    :param must_exist: Check the object exists first (default ``True``), so a mistyped URI is
        refused before a billed start rather than failing the generation after it.
    :param client: A boto3 S3 client to sign with instead of a new one of ``aws_conn_id`` (making
        a client costs far more than signing: a task that presigns many objects shares one).
    :raises FileNotFoundError: When ``must_exist`` and there is no such object.
    """
    bucket, key = parse_s3_uri(uri)
    client = client if client is not None else s3_hook(aws_conn_id).get_conn()
    if must_exist and head_object(client, bucket, key) is None:
        raise FileNotFoundError(f"{uri} does not exist (checked before presigning)")
    url = client.generate_presigned_url(
        ClientMethod="get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
    )
    if not url:
        raise ValueError(f"could not presign {uri}")
    return url


# ------------------------------------------------------------------------------------ addressing


def is_prefix(uri: str) -> bool:
    """Whether ``uri`` names a prefix (``s3://bucket/`` or ``s3://bucket/dir/``) rather than an object."""
    _, key = parse_s3_uri(uri, key_required=False)
    return key == "" or key.endswith("/")


def join_uri(prefix: str, *parts: str) -> str:
    """``prefix`` (an ``s3://bucket/dir/`` prefix) joined with key segments, checked as a whole.

    :raises ValueError: When ``prefix`` is not a prefix, or the result is not a safe object URI.
    """
    if not is_prefix(prefix):
        raise ValueError(f"{prefix!r} is not an s3:// prefix (it must end with '/')")
    uri = prefix + "/".join(parts)
    parse_s3_uri(uri)
    return uri


# ------------------------------------------------------------------------------------ objects

#: Object metadata key holding the hex sha256 of the object's bytes (:func:`put_bytes`, and streamed
#: objects stored by earlier versions).
SHA256_METADATA = "sha256"
#: Object tags of a streamed object: the hex sha256 of its bytes, and the ETag it was computed for.
SHA256_TAG = "sha256"
SHA256_ETAG_TAG = "sha256-etag"
#: Smallest and largest multipart part S3 takes (the last part may be smaller).
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_SIZE = 5 * 1024**3
MAX_PARTS = 10_000
DEFAULT_PART_SIZE = 8 * 1024 * 1024
#: Parts of one streamed upload sent at once, by default and at most.
DEFAULT_MAX_CONCURRENCY = 4
MAX_CONCURRENCY = 16
_READ_CHUNK = 1024 * 1024


class S3ConflictError(Exception):
    """An object already holds different bytes and replacing it was not allowed."""


class S3TooLargeError(ValueError):
    """An object larger than the caller's cap."""


@dataclass(frozen=True)
class StoreResult:
    """What storing one object did.

    :param uri: ``s3://bucket/key``.
    :param outcome: ``created``, ``replaced`` or ``unchanged`` (the same bytes were already there).
    :param size: Bytes.
    :param sha256: Hex digest of the bytes.
    :param etag: The object's ETag after the call.
    :param start: The object's first bytes (its first part) when an upload has just sent them:
        :class:`S3ObjectReader` reads them from here instead of S3.
    """

    uri: str
    outcome: str
    size: int
    sha256: str
    etag: str | None = None
    start: bytes = field(default=b"", repr=False, compare=False)


def _is_missing(exc: Exception) -> bool:
    if not isinstance(exc, ClientError):
        return False
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


def head_object(client: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """``HeadObject``, or ``None`` when there is no such object."""
    try:
        head: dict[str, Any] = client.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if _is_missing(exc):
            return None
        raise
    return head


def iter_object(client: Any, bucket: str, key: str, chunk_size: int = _READ_CHUNK) -> Iterator[bytes]:
    """An object's bytes in chunks, never whole."""
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        yield from body.iter_chunks(chunk_size)
    finally:
        body.close()


def read_object(client: Any, bucket: str, key: str, *, max_bytes: int) -> bytes:
    """A small object's bytes, refused early when larger than ``max_bytes``.

    :raises S3TooLargeError: From the object's size, before reading it, or while reading.
    :raises ValueError: When there is no such object.
    """
    head = head_object(client, bucket, key)
    if head is None:
        raise ValueError(f"s3://{bucket}/{key} does not exist")
    if int(head.get("ContentLength") or 0) > max_bytes:
        raise S3TooLargeError(
            f"s3://{bucket}/{key} is {int(head['ContentLength']):,} bytes; at most {max_bytes:,} are accepted"
        )
    out = bytearray()
    for chunk in iter_object(client, bucket, key):
        out += chunk
        if len(out) > max_bytes:
            raise S3TooLargeError(f"s3://{bucket}/{key} is more than {max_bytes:,} bytes")
    return bytes(out)


def stored_sha256(client: Any, bucket: str, key: str, head: Mapping[str, Any]) -> str:
    """The sha256 of an existing object: from its metadata, else from its tags (when they were
    written for the object's current ETag), else computed by streaming the object."""
    known = (head.get("Metadata") or {}).get(SHA256_METADATA)
    if isinstance(known, str) and len(known) == 64:
        return known.lower()
    tagged = _tagged_sha256(client, bucket, key, head)
    if tagged is not None:
        return tagged
    digest = hashlib.sha256()
    for chunk in iter_object(client, bucket, key):
        digest.update(chunk)
    return digest.hexdigest()


def _tagged_sha256(client: Any, bucket: str, key: str, head: Mapping[str, Any]) -> str | None:
    try:
        answer = client.get_object_tagging(Bucket=bucket, Key=key)
    except ClientError as exc:  # no tagging permission, or a store without tags: hash the object
        log.info("could not read the tags of s3://%s/%s (%s); hashing the object instead", bucket, key, exc)
        return None
    tags = {t.get("Key"): t.get("Value") for t in answer.get("TagSet") or []}
    sha256, etag = tags.get(SHA256_TAG), tags.get(SHA256_ETAG_TAG)
    if not isinstance(sha256, str) or len(sha256) != 64 or etag != _bare_etag(head.get("ETag")):
        return None
    return sha256.lower()


def _bare_etag(etag: Any) -> str:
    return str(etag or "").strip('"')


def _record_sha256(client: Any, bucket: str, key: str, sha256: str, etag: str | None) -> None:
    """Tag a completed object with its ``sha256`` and the ``etag`` it was computed for.

    Tagging replaces no byte and copies nothing. Where it is refused (no ``s3:PutObjectTagging``
    permission, a store without tags) the object stays as stored and a later comparison hashes it.
    """
    tags = [{"Key": SHA256_TAG, "Value": sha256}, {"Key": SHA256_ETAG_TAG, "Value": _bare_etag(etag)}]
    try:
        client.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": tags})
    except ClientError as exc:
        log.warning(
            "s3://%s/%s is stored, but its sha256 could not be recorded in its tags (%s); "
            "a re-run will hash the stored object to compare it",
            bucket,
            key,
            exc,
        )


def put_bytes(
    client: Any, uri: str, data: bytes, *, content_type: str, overwrite: bool = False
) -> StoreResult:
    """Store a small object with its sha256 in metadata; the same bytes already there are left alone.

    :raises S3ConflictError: When different bytes are there and ``overwrite`` is false.
    """
    bucket, key = parse_s3_uri(uri)
    sha256 = hashlib.sha256(data).hexdigest()
    head = head_object(client, bucket, key)
    if head is not None:
        if stored_sha256(client, bucket, key, head) == sha256:
            return StoreResult(uri, "unchanged", len(data), sha256, head.get("ETag"))
        if not overwrite:
            raise S3ConflictError(_conflict_message(uri, sha256))
    answer = client.put_object(
        Bucket=bucket, Key=key, Body=data, ContentType=content_type, Metadata={SHA256_METADATA: sha256}
    )
    outcome = "replaced" if head is not None else "created"
    return StoreResult(uri, outcome, len(data), sha256, answer.get("ETag"))


def _conflict_message(uri: str, sha256: str) -> str:
    return (
        f"{uri} already exists with different bytes (new sha256 {sha256[:12]}...); it is left as it is. "
        "Set overwrite=True to replace it."
    )


def abort_pending_uploads(client: Any, bucket: str, key: str) -> int:
    """Abort multipart uploads of exactly ``key`` left behind by killed tries; returns how many."""
    answer = client.list_multipart_uploads(Bucket=bucket, Prefix=key)
    aborted = 0
    for upload in answer.get("Uploads") or []:
        if upload.get("Key") == key:
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
            aborted += 1
    return aborted


def check_part_size(part_size: int, max_bytes: int) -> None:
    """Refuse part sizes S3 does not take, or too small for ``max_bytes`` in 10,000 parts."""
    if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
        raise ValueError(f"part_size must be {MIN_PART_SIZE:,} to {MAX_PART_SIZE:,} bytes, got {part_size:,}")
    if max_bytes > part_size * MAX_PARTS:
        raise ValueError(
            f"part_size {part_size:,} is too small for objects of up to {max_bytes:,} bytes "
            f"(S3 takes at most {MAX_PARTS:,} parts)"
        )


def check_max_concurrency(max_concurrency: int) -> None:
    """Refuse a number of parts in flight outside 1 to :data:`MAX_CONCURRENCY`."""
    if (
        isinstance(max_concurrency, bool)
        or not isinstance(max_concurrency, int)
        or not 1 <= max_concurrency <= MAX_CONCURRENCY
    ):
        raise ValueError(
            f"max_concurrency (parts uploaded at once) must be an int from 1 to {MAX_CONCURRENCY}, "
            f"got {max_concurrency!r}"
        )


def _parts(chunks: Iterable[bytes], part_size: int, buffer: Callable[[], bytearray]) -> Iterator[bytearray]:
    """``chunks`` regrouped into parts of ``part_size`` bytes, each filled into a ``buffer()`` of
    that size (the last part shorter; one empty part for an empty stream)."""
    part, filled, parts = buffer(), 0, 0
    for chunk in chunks:
        with memoryview(chunk) as view:
            start = 0
            while start < len(view):
                count = min(len(view) - start, part_size - filled)
                part[filled : filled + count] = view[start : start + count]
                filled, start = filled + count, start + count
                if filled == part_size:
                    parts += 1
                    yield part
                    part, filled = buffer(), 0
    if filled or not parts:
        del part[filled:]
        yield part


def upload_stream(
    client: Any,
    uri: str,
    chunks: Iterable[bytes],
    *,
    content_type: str,
    part_size: int = DEFAULT_PART_SIZE,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    keep: Callable[[int, str], bool] | None = None,
    if_none_match: bool = False,
) -> StoreResult:
    """Stream chunks into a multipart upload, parts sent concurrently, hashing on the way.

    The chunks are read in the calling thread while one thread hashes the parts in order and up
    to ``max_concurrency`` parts are sent by a pool of threads, so memory holds at most
    ``max_concurrency + 1`` parts: ``part_size * (max_concurrency + 1)`` bytes and a constant.
    A part's buffer is filled again only once it is both sent and hashed.
    The object appears only when the upload completes. Any error, and any interruption (a task
    killed by Airflow raises in the task), aborts the upload once the parts in flight have ended:
    no half object and no pending upload are left behind. The sha256 is then recorded in the
    object's tags, bound to its ETag (no server-side copy).

    :param uri: ``s3://bucket/key``.
    :param chunks: The bytes, in chunks of any size.
    :param content_type: The object's ``Content-Type``.
    :param part_size: Bytes per part (default 8 MiB; at least 5 MiB).
    :param max_concurrency: Parts sent at once (default 4; 1 to 16). The S3 client's connection
        pool (``max_pool_connections``, 10 unless the connection's ``config_kwargs`` say otherwise)
        caps it.
    :param keep: Called with (size, sha256) once every byte is uploaded, before completing;
        returning ``False`` aborts the upload, leaving the object as it was (outcome ``unchanged``).
    :param if_none_match: Complete only if no object has appeared at ``key`` meanwhile.
    :raises S3ConflictError: When ``if_none_match`` and an object appeared during the upload.
    """
    bucket, key = parse_s3_uri(uri)
    if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
        raise ValueError(f"part_size must be {MIN_PART_SIZE:,} to {MAX_PART_SIZE:,} bytes, got {part_size:,}")
    check_max_concurrency(max_concurrency)
    workers = min(max_concurrency, client.meta.config.max_pool_connections or max_concurrency)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="s3-part")
    # Hashing in a thread of its own keeps the download, which has to be read in turn, from waiting
    # for it: on a busy machine the reading thread is what every part waits for.
    hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3-sha256")
    in_flight: set[Future[None]] = set()
    parts: dict[int, dict[str, Any]] = {}
    digest, size = hashlib.sha256(), 0
    start = b""
    # Buffers of sent parts are filled again: a new 8 MiB buffer costs more (its pages faulted
    # in) than copying the bytes into it.
    free: list[bytearray] = []
    # S3 checks each part against its CRC32 and keeps a checksum of the object made of them (type
    # COMPOSITE), as boto3's managed uploads ask.
    upload_id = client.create_multipart_upload(
        Bucket=bucket, Key=key, ContentType=content_type, ChecksumAlgorithm="CRC32"
    )["UploadId"]

    def buffer() -> bytearray:
        return free.pop() if free else bytearray(part_size)

    def send(number: int, data: bytearray, hashed: Future[None]) -> None:
        answer = client.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
            ChecksumAlgorithm="CRC32",
        )
        parts[number] = {"PartNumber": number, "ETag": answer["ETag"]}
        if answer.get("ChecksumCRC32"):
            parts[number]["ChecksumCRC32"] = answer["ChecksumCRC32"]
        hashed.result()
        free.append(data)

    def settle(until: int) -> None:
        """Wait until at most ``until`` parts are in flight; raise the first part's error."""
        nonlocal in_flight
        while len(in_flight) > until:
            done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()

    try:
        for number, part in enumerate(_parts(chunks, part_size, buffer), start=1):
            if number > MAX_PARTS:
                raise ValueError(f"{uri}: more than {MAX_PARTS:,} parts of {part_size:,} bytes")
            size += len(part)
            if number == 1:
                start = bytes(part)  # kept for a reader of the object's head (its index, its probe)
            settle(workers - 1)
            in_flight.add(pool.submit(send, number, part, hasher.submit(digest.update, part)))
            del part
        settle(0)
        pool.shutdown()
        hasher.shutdown()
        sha256 = digest.hexdigest()
        if keep is not None and not keep(size, sha256):
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            return StoreResult(uri, "unchanged", size, sha256)
        conditions = {"IfNoneMatch": "*"} if if_none_match else {}
        try:
            completed = client.complete_multipart_upload(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [parts[n] for n in sorted(parts)]},
                **conditions,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "PreconditionFailed":
                raise S3ConflictError(f"{uri} was written by someone else during this upload") from None
            raise
    except BaseException:
        # Errors, Airflow's task-kill exceptions and KeyboardInterrupt alike: never leave a half upload.
        # Parts still being sent are waited for, since a part that lands after the abort would stay.
        pool.shutdown(wait=True, cancel_futures=True)
        hasher.shutdown(wait=True, cancel_futures=True)
        try:
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except Exception as abort_error:  # the original error is the one to raise
            log.warning("could not abort the multipart upload of %s: %s", uri, abort_error)
        raise
    head = head_object(client, bucket, key)
    stored = int(head.get("ContentLength") or -1) if head else -1
    if stored != size:
        raise OSError(f"{uri}: S3 holds {stored:,} bytes after the upload, {size:,} were sent")
    etag: str | None = completed.get("ETag") or (head.get("ETag") if head else None)
    _record_sha256(client, bucket, key, sha256, etag)
    return StoreResult(uri, "created", size, sha256, etag, start)


def store_stream(
    client: Any,
    uri: str,
    open_chunks: Callable[[], AbstractContextManager[Iterable[bytes]]],
    *,
    content_type: str,
    overwrite: bool = False,
    part_size: int = DEFAULT_PART_SIZE,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
) -> StoreResult:
    """Store a stream at ``uri`` unless the same bytes are already there; never a half object.

    - No object yet: streamed into a multipart upload (:func:`upload_stream`); pending uploads
      of the key left by killed tries are aborted first.
    - An object with the same sha256: left alone (``unchanged``). Without ``overwrite`` this is
      found by hashing the stream without uploading it.
    - An object with different bytes: :class:`S3ConflictError`, or with ``overwrite`` replaced.

    :param open_chunks: Opens the stream; called once on every path.
    :param overwrite: Replace an object holding different bytes (default ``False``).
    :param part_size: Bytes per part (:func:`upload_stream`).
    :param max_concurrency: Parts sent at once (:func:`upload_stream`).
    """
    bucket, key = parse_s3_uri(uri)
    head = head_object(client, bucket, key)
    stored: str | None = None
    if head is not None:
        stored = stored_sha256(client, bucket, key, head)
        if not overwrite:
            digest, size = hashlib.sha256(), 0
            with open_chunks() as chunks:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
            if digest.hexdigest() != stored:
                raise S3ConflictError(_conflict_message(uri, digest.hexdigest()))
            return StoreResult(uri, "unchanged", size, stored, head.get("ETag"))
    if abort_pending_uploads(client, bucket, key):
        log.warning("aborted multipart upload(s) of %s left by an earlier try", uri)
    with open_chunks() as chunks:
        result = upload_stream(
            client,
            uri,
            chunks,
            content_type=content_type,
            part_size=part_size,
            max_concurrency=max_concurrency,
            keep=(lambda size, sha256: sha256 != stored) if stored is not None else None,
            if_none_match=head is None,
        )
    if head is not None and result.outcome == "unchanged":
        return replace(result, etag=head.get("ETag"))
    return replace(result, outcome="replaced") if head is not None else result


class S3ObjectReader(io.RawIOBase):
    """A read-only, seekable file over an S3 object, read with ranged GETs a block at a time.

    For decoders that need to seek (PyAV reading an MP4's index): memory stays at one block.

    :param client: A boto3 S3 client.
    :param uri: ``s3://bucket/key``.
    :param block_size: Bytes per ranged GET (default 4 MiB).
    :param start: The object's first bytes when the caller still holds them
        (:attr:`StoreResult.start`): reads inside them make no GET.
    """

    def __init__(
        self, client: Any, uri: str, *, block_size: int = 4 * 1024 * 1024, start: bytes = b""
    ) -> None:
        super().__init__()
        self._client = client
        self.bucket, self.key = parse_s3_uri(uri)
        head = head_object(client, self.bucket, self.key)
        if head is None:
            raise ValueError(f"{uri} does not exist")
        self.size = int(head.get("ContentLength") or 0)
        self._etag = head.get("ETag")
        self._block_size = block_size
        self._pos = 0
        self._block_start = -1
        self._block = b""
        self._start = start[: self.size]
        self.requests = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self.size:
            return 0
        if self._pos < len(self._start):
            count = min(len(buffer), len(self._start) - self._pos)
            buffer[:count] = self._start[self._pos : self._pos + count]
            self._pos += count
            return count
        inside = self._block_start <= self._pos < self._block_start + len(self._block)
        if not inside:
            end = min(self.size, self._pos + max(self._block_size, len(buffer))) - 1
            extra = {"IfMatch": self._etag} if self._etag else {}
            answer = self._client.get_object(
                Bucket=self.bucket, Key=self.key, Range=f"bytes={self._pos}-{end}", **extra
            )
            self._block = answer["Body"].read()
            self._block_start = self._pos
            self.requests += 1
        offset = self._pos - self._block_start
        count = min(len(buffer), len(self._block) - offset)
        buffer[:count] = self._block[offset : offset + count]
        self._pos += count
        return count
