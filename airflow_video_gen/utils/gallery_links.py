"""Where archived videos are seen: the gallery's addresses and the extra links of the tasks.

The gallery (:mod:`airflow_video_gen.plugins.gallery`) is served on Airflow's api-server under
:data:`GALLERY_PREFIX`; its addresses are built here, once, for the gallery's own pages, its tabs
in Airflow's UI and the extra links of the submit, sensor and archive tasks.

Airflow computes an extra link on the worker when the task ends and stores it as an XCom (the
api-server only shows it), so the links here are plain strings made from the task instance: no
presigned URL, no credential.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from airflow.sdk import BaseOperatorLink

from airflow_video_gen.utils.s3 import parse_s3_uri, s3_hook

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

log = logging.getLogger(__name__)

#: Where the gallery's FastAPI app is mounted on the api-server.
GALLERY_PREFIX = "/video-gallery"
#: The AWS console's page of an object (``?prefix=<key>``), and of a folder of a bucket.
CONSOLE_OBJECT = "https://s3.console.aws.amazon.com/s3/object/{bucket}?prefix={key}"
CONSOLE_FOLDER = "https://s3.console.aws.amazon.com/s3/buckets/{bucket}?prefix={key}"


def _segment(value: str) -> str:
    return quote(str(value), safe="")


def run_path(dag_id: str, run_id: str) -> str:
    """The gallery page of a DAG run, relative to the gallery: ``/dags/<dag>/runs/<run>``."""
    return f"/dags/{_segment(dag_id)}/runs/{_segment(run_id)}"


def task_path(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    """The gallery page of a task instance, relative to the gallery: the videos it archived, or
    those archived from the generation it submitted or waited for."""
    path = f"{run_path(dag_id, run_id)}/tasks/{_segment(task_id)}"
    return f"{path}?map_index={map_index}" if map_index >= 0 else path


def video_path(dag_id: str, run_id: str, sha256: str) -> str:
    """An archived video, streamed by the gallery (byte ranges served), relative to the gallery."""
    return f"{run_path(dag_id, run_id)}/videos/{sha256}"


def contact_sheet_path(dag_id: str, run_id: str, sha256: str) -> str:
    """The contact sheet of an archived video, relative to the gallery."""
    return f"{video_path(dag_id, run_id, sha256)}/contact-sheet.png"


def base_path() -> str:
    """The path Airflow's UI is served under (``[api] base_url``; ``""`` at the root)."""
    return urlsplit(_base_url()).path.rstrip("/")


def _base_url() -> str:
    from airflow.configuration import conf

    return str(conf.get("api", "base_url", fallback="") or "")


def gallery_url(path: str) -> str:
    """A gallery page as a link: ``[api] base_url`` + :data:`GALLERY_PREFIX` + ``path`` (a path
    from the root of the api-server when ``base_url`` is not set)."""
    return f"{_base_url().rstrip('/')}{GALLERY_PREFIX}{path}"


def s3_browse_url(uris: Sequence[str], *, endpoint_url: str | None = None, region: str | None = None) -> str:
    """Where a person looks at archived objects: the AWS console's page of the object (of their
    folder when there are several), or, for an S3-compatible endpoint (``endpoint_url`` of the
    connection), the object's address on that endpoint (the folder's listing when several).

    :param uris: ``s3://`` URIs of one generation's objects (``[]``: ``""``).
    :param endpoint_url: The connection's endpoint; ``None`` for AWS.
    :param region: The bucket's region, added to console links when known.
    """
    if not uris:
        return ""
    located = [parse_s3_uri(uri) for uri in uris]
    bucket = located[0][0]
    if len(located) == 1:
        key, folder = located[0][1], False
    else:
        key, folder = located[0][1].rsplit("/", 1)[0] + "/", True
    if endpoint_url:
        base = f"{endpoint_url.rstrip('/')}/{_segment(bucket)}"
        return f"{base}?prefix={quote(key, safe='/')}" if folder else f"{base}/{quote(key, safe='/')}"
    url = (CONSOLE_FOLDER if folder else CONSOLE_OBJECT).format(
        bucket=_segment(bucket), key=quote(key, safe="/")
    )
    return f"{url}&region={_segment(region)}" if region else url


class VideoGalleryLink(BaseOperatorLink):
    """``Video``: the task instance's page in the gallery, with the videos it archived or, for a
    submit or sensor task, the videos archived from its generation (once they are)."""

    name = "Video"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        path = task_path(ti_key.dag_id, ti_key.run_id, ti_key.task_id, ti_key.map_index)
        return gallery_url(path)


class ArchivedVideosS3Link(BaseOperatorLink):
    """``S3``: the archived video in the AWS console, or on the connection's own S3 endpoint
    (``endpoint_url`` in its extra) when it has one; empty until the task has archived something."""

    name = "S3"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        record = XCom.get_value(ti_key=ti_key, key="return_value")
        videos = record.get("videos") if isinstance(record, Mapping) else None
        uris = [v["s3_uri"] for v in videos or [] if isinstance(v, Mapping) and v.get("s3_uri")]
        if not uris:
            return ""
        endpoint_url, region = _endpoint(getattr(operator, "aws_conn_id", "aws_default"))
        return s3_browse_url(uris, endpoint_url=endpoint_url, region=region)


def _endpoint(aws_conn_id: str | None) -> tuple[str | None, str | None]:
    """The connection's S3 endpoint (``None`` for AWS) and region, as the S3 hook reads them."""
    try:
        config: Any = s3_hook(aws_conn_id).conn_config
        return config.endpoint_url, config.region_name
    except Exception as exc:  # a link is never worth failing the task for
        log.warning("Could not read the connection %r for the S3 link: %s", aws_conn_id, exc)
        return None, None
