"""Fixtures of the reliability tests: a local S3 for the ``dag.test()`` tests, the real Airflow stack
for the crash and secrets tests, and the figures each test reports.

Connection ids here are the suite's own (``aws_reliability``, ``ai_gateway_rel_*``), so the
fixtures of other test packages running in the same process keep theirs.
"""

from __future__ import annotations

import atexit
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.devtools.local_s3 import LocalS3
from tests.conftest import point_connection_at
from tests.reliability.stack import Stack

AWS_CONN = "aws_reliability"
#: Where :func:`report` appends its figures (JSON lines) when set; they always go to stdout too.
FIGURES_ENV = "RELIABILITY_FIGURES"


def report(test: str, **figures: Any) -> None:
    """Record the figures of a run (counts, seconds, retries) for docs/reliability.md."""
    line = json.dumps({"test": test, **figures}, sort_keys=True, default=str)
    print(f"RELIABILITY {line}")
    path = os.environ.get(FIGURES_ENV)
    if path:
        with open(path, "a") as out:
            out.write(line + "\n")


def retries_by_task(dag_id: str) -> dict[str, int]:
    """Retries of the last ``dag.test()`` run of ``dag_id``, per task id: tries beyond the first of
    every task instance (mapped ones included), read from this process's metadata database."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run_id = session.scalars(
            select(DagRun.run_id).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).limit(1)
        ).one()
        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.try_number).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id
            )
        ).all()
    out: dict[str, int] = {}
    for task_id, number in rows:
        out[task_id] = out.get(task_id, 0) + max(0, number - 1)
    return out


def use_gateway(emulator: EmulatorProcess, conn_id: str) -> str:
    """Point connection ``conn_id`` at an emulator; returns the connection id. Plain HTTP on
    loopback, so TLS verification is off: a hook then loads no CA bundle (25 ms each)."""
    return point_connection_at(emulator, conn_id, verify=False)


@pytest.fixture(scope="session")
def rel_s3(airflow_home: Path) -> Iterator[LocalS3]:
    """moto's S3 in its own process; connection ``aws_reliability``."""
    with LocalS3(subprocess=True) as server:
        os.environ[f"AIRFLOW_CONN_{AWS_CONN.upper()}"] = server.connection_json()
        yield server


@pytest.fixture
def rel_bucket(rel_s3: LocalS3) -> str:
    """A new, empty bucket for one test."""
    name = f"rel-{uuid.uuid4().hex[:12]}"
    rel_s3.create_bucket(name)
    return name


def leftovers(s3: LocalS3, bucket: str, prefix: str = "") -> tuple[list[str], list[str]]:
    """Objects and pending multipart uploads under ``prefix``: what a failure must not leave."""
    client = s3.client()
    objects = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    uploads = [
        u["Key"] for u in client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])
    ]
    return objects, uploads


# ------------------------------------------------------------------------------------ real stack


# Package scope: the stack stops once the tests of this package are done (their xdist group runs
# them together) instead of idling, and taking CPU, until the worker's last test.
@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The real Airflow stack (:class:`~tests.reliability.stack.Stack`), shared by the tests that
    need it: they run one after another on one worker (``xdist_group("reliability")``), which is
    the whole reason to share it (it takes half a minute to start)."""
    running = Stack(tmp_path_factory.mktemp("stack")).start()
    # Its components run in sessions of their own: stop them even if the session is cut short.
    atexit.register(running.stop)
    try:
        yield running
    finally:
        running.stop()
