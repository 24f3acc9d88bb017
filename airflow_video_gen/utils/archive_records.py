"""The videos a DAG run archived, read from the XComs of its archive tasks.

:class:`~airflow_video_gen.operators.archive.ArchiveVideoOperator` returns one record per task
instance: ``{"videos": [{"s3_uri", "size", "sha256", "media_type", "sidecar_s3_uri",
"contact_sheet_s3_uri"}], "model", "idempotency_key", "aws_conn_id"}``. This module finds those records in the
metadata database, as Airflow's own CLI commands read it (``create_session``, ``XComModel``), so
it runs only where the database is configured: a scheduler, api-server or admin machine, never in
a task (tasks read XComs through ``ti.xcom_pull``).

A record is recognised by its shape, not by the operator's class name, so subclasses of the
archive operator and tasks that return the same shape are listed too; a batch archive task
(:class:`~airflow_video_gen.operators.batch.BatchArchiveVideoOperator`) returns a list of them, one
per item.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = [
    "ArchivedVideo",
    "NoSuchRunError",
    "RunVideos",
    "archived_videos",
    "human_size",
    "recent_archives",
    "task_videos",
    "videos_of_record",
]

#: Runs named in the message when a run id is not found.
_RUNS_SHOWN = 5


class NoSuchRunError(LookupError):
    """The DAG has no runs, or not the one asked for; the message says which runs exist."""


@dataclass(frozen=True)
class ArchivedVideo:
    """One archived video and where it came from.

    :param task_id: The archive task.
    :param map_index: Its map index (``-1`` when not mapped).
    :param model: The gateway model id that made it.
    :param idempotency_key: The key of the generation.
    :param s3_uri: ``s3://`` URI of the video.
    :param size: Bytes.
    :param sha256: Hex sha256 of the bytes.
    :param media_type: ``video/mp4``...
    :param sidecar_s3_uri: The JSON sidecar (provenance).
    :param contact_sheet_s3_uri: The contact-sheet PNG, or ``None`` when none was made.
    :param aws_conn_id: The AWS connection the archive task wrote it with (``None`` in records
        made before archive tasks recorded it).
    """

    task_id: str
    map_index: int
    model: str
    idempotency_key: str
    s3_uri: str
    size: int
    sha256: str
    media_type: str
    sidecar_s3_uri: str | None
    contact_sheet_s3_uri: str | None
    aws_conn_id: str | None = None

    @property
    def task_label(self) -> str:
        """``archive`` or ``archive[3]`` for a mapped task."""
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"


@dataclass(frozen=True)
class RunVideos:
    """The archived videos of one DAG run.

    :param dag_id: The DAG.
    :param run_id: The run.
    :param state: The run's state (``success``, ``running``...).
    :param videos: Its videos, by task id, map index and position in the generation.
    """

    dag_id: str
    run_id: str
    state: str
    videos: list[ArchivedVideo] = field(default_factory=list)


def human_size(size: int) -> str:
    """``512 B``, ``1.5 KiB``, ``3.2 MiB``, ``1.1 GiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def videos_of_record(value: Any, *, task_id: str = "", map_index: int = -1) -> list[ArchivedVideo]:
    """The videos of an archive record, or ``[]`` when ``value`` is not shaped like one.

    :param value: A deserialized XCom value (a list of records: those of a batch task).
    :param task_id: The task that returned it (default ``""``).
    :param map_index: Its map index (default ``-1``).
    """
    if isinstance(value, list):
        return [v for record in value for v in videos_of_record(record, task_id=task_id, map_index=map_index)]
    if not isinstance(value, Mapping) or not isinstance(value.get("videos"), list):
        return []
    videos = []
    for entry in value["videos"]:
        if not isinstance(entry, Mapping) or not {"s3_uri", "size", "sha256"} <= set(entry):
            return []
        if entry.get("delivered_elsewhere"):  # the gateway delivered it; nothing of it is in S3
            continue
        videos.append(
            ArchivedVideo(
                task_id=task_id,
                map_index=map_index,
                model=str(value.get("model") or ""),
                idempotency_key=str(value.get("idempotency_key") or ""),
                s3_uri=str(entry["s3_uri"]),
                size=int(entry["size"]),
                sha256=str(entry["sha256"]),
                media_type=str(entry.get("media_type") or "video/mp4"),
                sidecar_s3_uri=entry.get("sidecar_s3_uri"),
                contact_sheet_s3_uri=entry.get("contact_sheet_s3_uri"),
                aws_conn_id=value.get("aws_conn_id"),
            )
        )
    return videos


def archived_videos(dag_id: str, run_id: str | None = None, *, session: Session | None = None) -> RunVideos:
    """The videos a DAG run archived, from the ``return_value`` XComs of its tasks.

    :param dag_id: The DAG.
    :param run_id: The run (default ``None``: the DAG's latest run, by ``run_after`` as
        ``airflow dags list-runs`` sorts them).
    :param session: A metadata database session (default ``None``: one is opened and closed).
    :raises NoSuchRunError: When the DAG has no runs, or no run ``run_id``.
    """
    if session is None:
        from airflow.utils.session import create_session

        with create_session() as new_session:
            return archived_videos(dag_id, run_id, session=new_session)

    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    latest = select(DagRun.run_id, DagRun.state).where(DagRun.dag_id == dag_id)
    latest = latest.order_by(DagRun.run_after.desc(), DagRun.id.desc())
    if run_id is None:
        row = session.execute(latest.limit(1)).first()
    else:
        row = session.execute(
            select(DagRun.run_id, DagRun.state).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
        ).first()
    if row is None:
        recent = session.scalars(latest.with_only_columns(DagRun.run_id).limit(_RUNS_SHOWN)).all()
        if not recent:
            raise NoSuchRunError(
                f"DAG {dag_id!r} has no runs in this Airflow's metadata database: check the DAG id "
                "(airflow dags list) and that this runs with the AIRFLOW_HOME and database of your scheduler"
            )
        raise NoSuchRunError(
            f"DAG {dag_id!r} has no run {run_id!r}; its latest runs: {', '.join(recent)} "
            f"(all of them: airflow dags list-runs {dag_id})"
        )
    found_run_id, state = str(row[0]), str(row[1] or "")
    rows = session.scalars(
        select(XComModel)
        .where(
            XComModel.dag_id == dag_id,
            XComModel.run_id == found_run_id,
            XComModel.key == "return_value",
        )
        .order_by(XComModel.task_id, XComModel.map_index)
    ).all()
    videos = [
        video
        for xcom in rows
        for video in videos_of_record(
            XComModel.deserialize_value(xcom), task_id=xcom.task_id, map_index=xcom.map_index
        )
    ]
    return RunVideos(dag_id=dag_id, run_id=found_run_id, state=state, videos=videos)


def task_videos(
    run: RunVideos, task_id: str, map_index: int = -1, *, session: Session
) -> tuple[list[ArchivedVideo], str | None]:
    """The videos of one task instance of ``run``: those it archived itself, else, for a task that
    submitted or waited for a generation, those archived from that generation (same idempotency
    key) by any task of the run.

    :param run: The run's videos (:func:`archived_videos`).
    :param task_id: The task.
    :param map_index: Its map index (default ``-1``).
    :param session: A metadata database session.
    :return: The videos, and the idempotency key of the task's generation when the task did not
        archive them itself (``None`` when it did, or when it has no generation; the first
        generation's for a batch task, whose videos are those of all its generations).
    """
    own = [v for v in run.videos if v.task_id == task_id and v.map_index == map_index]
    if own:
        return own, None
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    xcom = session.scalars(
        select(XComModel).where(
            XComModel.dag_id == run.dag_id,
            XComModel.run_id == run.run_id,
            XComModel.task_id == task_id,
            XComModel.map_index == map_index,
            XComModel.key == "return_value",
        )
    ).first()
    value = XComModel.deserialize_value(xcom) if xcom is not None else None
    records = value if isinstance(value, list) else [value]  # a batch task: a record per item
    keys = [r.get("idempotency_key") for r in records if isinstance(r, Mapping)]
    keys = [k for k in keys if isinstance(k, str) and k]
    if not keys:
        return [], None
    return [v for v in run.videos if v.idempotency_key in keys], keys[0]


def recent_archives(
    dag_ids: Iterable[str], *, session: Session, runs: int = 20, scanned: int = 500
) -> list[RunVideos]:
    """The latest runs of ``dag_ids`` that archived videos, newest first.

    :param dag_ids: The DAGs to look at (those the reader may see).
    :param session: A metadata database session.
    :param runs: How many runs at most (default 20).
    :param scanned: How many of the latest ``return_value`` XComs are read to find them (default 500).
    """
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    wanted = list(dag_ids)
    if not wanted:
        return []
    rows = session.scalars(
        select(XComModel)
        .where(XComModel.key == "return_value", XComModel.dag_id.in_(wanted))
        .order_by(XComModel.timestamp.desc())
        .limit(scanned)
    ).all()
    found: dict[tuple[str, str], RunVideos] = {}
    for xcom in rows:
        videos = videos_of_record(
            XComModel.deserialize_value(xcom), task_id=xcom.task_id, map_index=xcom.map_index
        )
        if not videos:
            continue
        run = found.get((xcom.dag_id, xcom.run_id))
        if run is None:
            if len(found) == runs:
                continue
            run = found[(xcom.dag_id, xcom.run_id)] = RunVideos(
                dag_id=xcom.dag_id, run_id=xcom.run_id, state=""
            )
        run.videos.extend(videos)
    for run in found.values():
        run.videos.sort(key=lambda v: (v.task_id, v.map_index))
    return list(found.values())
