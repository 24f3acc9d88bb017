"""Fixtures of the S3 tests: a moto server on loopback that ``aws_default`` points at, a fresh bucket
per test, loopback file hosts, and generations made by the real submit operator against the
emulator."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.devtools.local_s3 import LocalS3
from airflow_video_gen.hooks.gateway import VideoGatewayHook
from airflow_video_gen.operators.submit import GatewaySubmitOperator
from airflow_video_gen.waiting import generation_result, outcome_of
from tests.conftest import point_connection_at
from tests.s3.servers import FileHost


@pytest.fixture(scope="session")
def moto() -> Iterator[LocalS3]:
    """moto's S3 on loopback; the ``aws_default`` connection points at it."""
    with LocalS3() as server:
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = server.connection_json()
        yield server


@pytest.fixture(scope="session")
def s3(moto: LocalS3) -> Any:
    """A boto3 client of the moto server, to look at what the operators stored."""
    return moto.client()


@pytest.fixture
def bucket(s3: Any) -> str:
    """A new, empty bucket for one test."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def file_host() -> Iterator[FileHost]:
    with FileHost() as host:
        yield host


@pytest.fixture(scope="session")
def emulator_base64(airflow_home: Path) -> Iterator[EmulatorProcess]:
    """An emulator that returns videos inline as base64; connection ``ai_gateway_base64``."""
    with EmulatorProcess(latency=0.3, results="base64") as emu:
        point_connection_at(emu, "AI_GATEWAY_BASE64")
        yield emu


def recorded_sha256(s3: Any, bucket: str, key: str) -> str:
    """The sha256 a streamed object carries in its tags, checked to be bound to its current ETag."""
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
    assert tags["sha256-etag"] == s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"'), tags
    sha256: str = tags["sha256"]
    return sha256


def task_context(task_id: str = "task", **extra: Any) -> dict[str, Any]:
    """The parts of an Airflow task context the operators read, for running ``execute`` directly."""
    from airflow.sdk.execution_time.context import OutletEventAccessors

    ti = SimpleNamespace(
        dag_id="s3_tests", run_id=f"run-{uuid.uuid4().hex[:8]}", task_id=task_id, map_index=-1, try_number=1
    )
    return {"ti": ti, "outlet_events": OutletEventAccessors(), **extra}


Generate = Callable[..., dict[str, Any]]


@pytest.fixture
def generate(airflow_home: Path) -> Generate:
    """Start a generation with the real submit operator and wait for it as the sensor does; returns
    what the sensor would put in XCom."""

    def run(
        model: str, *, gateway_conn_id: str = "ai_gateway_default", timeout: float = 60.0, **params: Any
    ) -> dict[str, Any]:
        submit = GatewaySubmitOperator(
            task_id="submit", model=model, gateway_conn_id=gateway_conn_id, **params
        )
        submission = submit.execute(task_context("submit"))
        hook = VideoGatewayHook(gateway_conn_id)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                event = outcome_of(hook.status(model, submission["operation"]))
                if event is not None:
                    assert event["status"] == "completed", event
                    return generation_result(submission, event)
                time.sleep(0.2)
        finally:
            hook.close()
        raise AssertionError(f"{model} did not complete within {timeout} s")

    return run
