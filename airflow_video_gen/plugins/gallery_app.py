"""The gallery's FastAPI app, mounted on Airflow's api-server by
:class:`~airflow_video_gen.plugins.gallery.VideoGalleryPlugin`.

Routes, under the gallery's prefix; each one needs an Airflow session or token (401 without one,
403 with an invalid one) and all but the first the auth manager's read access to the DAG, checked
as Airflow's own XCom routes check it (403 without it):

- ``/``: the latest runs that archived videos, of the DAGs the user may read.
- ``/dags/{dag_id}/runs/{run_id}``: the videos of a run.
- ``/dags/{dag_id}/runs/{run_id}/tasks/{task_id}``: the videos of a task instance.
- ``/dags/{dag_id}/runs/{run_id}/videos/{sha256}``: a video's bytes, streamed from S3, byte ranges
  served (a ``<video>`` element seeks with them).
- ``/dags/{dag_id}/runs/{run_id}/videos/{sha256}/contact-sheet.png``: its contact sheet.

Only objects that an archive record of that run names are served, never an S3 address taken from
the request; the browser never sees an S3 address that opens without Airflow, so no presigned URL
is made at all.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from botocore.exceptions import BotoCoreError, ClientError
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates

from airflow_video_gen.utils.archive_records import (
    ArchivedVideo,
    NoSuchRunError,
    RunVideos,
    archived_videos,
    human_size,
    recent_archives,
    task_videos,
)
from airflow_video_gen.utils.gallery_links import contact_sheet_path, run_path, task_path, video_path
from airflow_video_gen.utils.s3 import head_object, parse_s3_uri, read_object, s3_hook

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
#: The connection used for records that do not name theirs (made before archive tasks recorded it).
DEFAULT_AWS_CONN_ID = "aws_default"
#: Sidecars are a few KB; a larger object is not read into the api-server.
MAX_SIDECAR_BYTES = 1024 * 1024
#: Bytes per chunk streamed to the browser.
CHUNK_BYTES = 256 * 1024
#: Seconds an S3 client is reused (a changed connection is picked up after this).
CLIENT_TTL_S = 300.0
#: One byte range (``bytes=0-``, ``bytes=100-199``, ``bytes=-500``); anything else gets the whole object.
_RANGE = re.compile(r"bytes=(\d+-\d*|-\d+)")

Sha256 = Annotated[str, PathParam(pattern=r"^[0-9a-f]{64}$")]
#: Airflow's read access to the DAG's XComs, where archive records live (as its XCom routes check it).
READ_ARCHIVES = [Depends(requires_access_dag(method="GET", access_entity=DagAccessEntity.XCOM))]

_clients: dict[str | None, tuple[float, Any]] = {}


def _client(aws_conn_id: str | None) -> Any:
    now = time.monotonic()
    cached = _clients.get(aws_conn_id)
    if cached is not None and now - cached[0] < CLIENT_TTL_S:
        return cached[1]
    client = s3_hook(aws_conn_id).get_conn()
    _clients[aws_conn_id] = (now, client)
    return client


def _conn(video: ArchivedVideo) -> str:
    return video.aws_conn_id or DEFAULT_AWS_CONN_ID


def _root(request: Request) -> str:
    """The gallery's own path on this server (Airflow's base path and the mount prefix)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def _run(dag_id: str, run_id: str, session: Any) -> RunVideos:
    try:
        return archived_videos(dag_id, run_id, session=session)
    except NoSuchRunError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None


# ----------------------------------------------------------------------------------- pages


def _text(warning: Any) -> str:
    if isinstance(warning, Mapping):
        return str(warning.get("message") or json.dumps(warning, default=str))
    return str(warning)


def _cost(credits: Any) -> str | None:
    """What the generation cost, from the balance the submit task read before it and the archive
    task after it (``min_balance``); ``None`` when either is unknown."""
    if not isinstance(credits, Mapping):
        return None
    try:
        spent = Decimal(str(credits["balance_before"])) - Decimal(str(credits["balance_after"]))
    except (KeyError, InvalidOperation):
        return None
    return f"{spent.normalize():f} credits"


def _sidecar(video: ArchivedVideo) -> tuple[dict[str, Any], str | None]:
    """The video's sidecar, or ``{}`` and why it could not be read."""
    if not video.sidecar_s3_uri:
        return {}, "this video has no sidecar"
    try:
        bucket, key = parse_s3_uri(video.sidecar_s3_uri)
        body = read_object(_client(_conn(video)), bucket, key, max_bytes=MAX_SIDECAR_BYTES)
        sidecar = json.loads(body)
    except (ClientError, BotoCoreError, ValueError) as exc:
        log.warning("Could not read the sidecar %s: %s", video.sidecar_s3_uri, exc)
        return {}, f"its sidecar {video.sidecar_s3_uri} could not be read: {exc}"
    return (sidecar if isinstance(sidecar, dict) else {}), None


def _card(video: ArchivedVideo, dag_id: str, run_id: str, root: str) -> dict[str, Any]:
    """What the page shows of one video."""
    sidecar, problem = _sidecar(video)
    facts = sidecar.get("video")
    if not isinstance(facts, Mapping):
        facts = {}
    width, height, fps = facts.get("width"), facts.get("height"), facts.get("fps")
    duration, elapsed = facts.get("duration_s"), sidecar.get("elapsed_s")
    return {
        "video": video,
        "src": root + video_path(dag_id, run_id, video.sha256),
        "contact_sheet": root + contact_sheet_path(dag_id, run_id, video.sha256)
        if video.contact_sheet_s3_uri
        else None,
        "task_page": root + task_path(dag_id, run_id, video.task_id, video.map_index),
        "prompt": sidecar.get("prompt"),
        "duration": f"{duration:g} s" if isinstance(duration, (int, float)) else None,
        "resolution": f"{width}x{height}" if width and height else None,
        "fps": f"{fps:g} fps" if isinstance(fps, (int, float)) else None,
        "size": human_size(video.size),
        "elapsed": f"{elapsed:.1f} s" if isinstance(elapsed, (int, float)) else None,
        "cost": _cost(sidecar.get("credits")),
        "warnings": [_text(w) for w in sidecar.get("warnings") or []],
        "problem": problem,
    }


def create_app() -> FastAPI:
    """The gallery's app (built once per api-server worker, on its first request)."""
    app = FastAPI(
        title="Video gallery",
        description="Archived videos of airflow-video-gen, in Airflow's UI",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    templates = Jinja2Templates(directory=str(TEMPLATES))

    def page(request: Request, name: str, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {"root": _root(request), **context})

    def videos_page(
        request: Request,
        run: RunVideos,
        videos: list[ArchivedVideo],
        task: str | None,
        generation: str | None,
    ) -> HTMLResponse:
        root = _root(request)
        return page(
            request,
            "videos.html",
            run=run,
            run_href=root + run_path(run.dag_id, run.run_id),
            task=task,
            generation=generation,
            cards=[_card(v, run.dag_id, run.run_id, root) for v in videos],
        )

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request, user: GetUserDep, session: SessionDep) -> HTMLResponse:
        """The latest runs that archived videos, of the DAGs the user may read."""
        readable = get_auth_manager().get_authorized_dag_ids(user=user, method="GET")
        runs = recent_archives(readable, session=session)
        root = _root(request)
        entries = [
            {
                "run": run,
                "href": root + run_path(run.dag_id, run.run_id),
                "thumbnails": [
                    root + contact_sheet_path(run.dag_id, run.run_id, v.sha256)
                    for v in run.videos
                    if v.contact_sheet_s3_uri
                ],
            }
            for run in runs
        ]
        return page(request, "index.html", entries=entries)

    @app.get("/dags/{dag_id}/runs/{run_id}", response_class=HTMLResponse, dependencies=READ_ARCHIVES)
    def run_videos(request: Request, dag_id: str, run_id: str, session: SessionDep) -> HTMLResponse:
        """Every video the run archived."""
        run = _run(dag_id, run_id, session)
        return videos_page(request, run, run.videos, None, None)

    @app.get(
        "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}",
        response_class=HTMLResponse,
        dependencies=READ_ARCHIVES,
    )
    def task_instance_videos(
        request: Request, dag_id: str, run_id: str, task_id: str, session: SessionDep, map_index: str = "-1"
    ) -> HTMLResponse:
        """The videos of a task instance: archived by it, or from the generation it started or
        waited for. ``map_index`` is not a number for a task that is not mapped (Airflow's UI
        leaves its ``{MAP_INDEX}`` placeholder then)."""
        index = int(map_index) if re.fullmatch(r"-?\d+", map_index) else -1
        run = _run(dag_id, run_id, session)
        videos, generation = task_videos(run, task_id, index, session=session)
        task = task_id if index < 0 else f"{task_id}[{index}]"
        return videos_page(request, run, videos, task, generation)

    @app.get("/dags/{dag_id}/runs/{run_id}/videos/{sha256}", dependencies=READ_ARCHIVES)
    def video(request: Request, dag_id: str, run_id: str, sha256: Sha256, session: SessionDep) -> Response:
        """A video's bytes, from S3, one byte range at a time when the browser asks for one."""
        found = _find(dag_id, run_id, sha256, session)
        return _stream(found, found.s3_uri, found.media_type, request.headers.get("range"))

    @app.get("/dags/{dag_id}/runs/{run_id}/videos/{sha256}/contact-sheet.png", dependencies=READ_ARCHIVES)
    def contact_sheet(dag_id: str, run_id: str, sha256: Sha256, session: SessionDep) -> Response:
        """A video's contact sheet."""
        found = _find(dag_id, run_id, sha256, session)
        if not found.contact_sheet_s3_uri:
            raise HTTPException(status_code=404, detail=f"the video {found.s3_uri} has no contact sheet")
        return _stream(found, found.contact_sheet_s3_uri, "image/png", None)

    return app


# ----------------------------------------------------------------------------------- bytes


def _find(dag_id: str, run_id: str, sha256: str, session: Any) -> ArchivedVideo:
    for video in _run(dag_id, run_id, session).videos:
        if video.sha256 == sha256:
            return video
    raise HTTPException(
        status_code=404, detail=f"run {run_id!r} of DAG {dag_id!r} archived no video with sha256 {sha256}"
    )


def _chunks(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK_BYTES)
    finally:
        body.close()


def _stream(video: ArchivedVideo, uri: str, media_type: str, byte_range: str | None) -> Response:
    """An archived object streamed from S3; a single byte range is passed on to S3 (206)."""
    client = _client(_conn(video))
    bucket, key = parse_s3_uri(uri)
    wanted = byte_range.strip() if byte_range else ""
    extra = {"Range": wanted} if _RANGE.fullmatch(wanted) else {}
    try:
        answer = client.get_object(Bucket=bucket, Key=key, **extra)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code == "InvalidRange":
            head = head_object(client, bucket, key) or {}
            size = head.get("ContentLength", "*")
            return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
        if code in ("404", "NoSuchKey", "NotFound"):
            raise HTTPException(status_code=404, detail=f"{uri} is no longer in S3") from None
        log.warning("S3 refused to read %s: %s", uri, exc)
        raise HTTPException(status_code=502, detail=f"S3 refused to read {uri} ({code})") from None
    except BotoCoreError as exc:
        log.warning("Could not read %s from S3: %s", uri, exc)
        raise HTTPException(status_code=502, detail=f"could not read {uri} from S3: {exc}") from None
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(answer["ContentLength"]),
        # Content-addressed (the sha256 is in the address): the same address never changes bytes.
        "Cache-Control": "private, max-age=3600",
    }
    if answer.get("ContentRange"):
        headers["Content-Range"] = answer["ContentRange"]
    return StreamingResponse(
        _chunks(answer["Body"]),
        status_code=206 if answer.get("ContentRange") else 200,
        media_type=media_type,
        headers=headers,
    )
