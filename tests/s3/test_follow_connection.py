"""Sensors and archive follow the connection the submit task used: a pipeline on a second gateway
(``ai_gateway_team_b``) never calls the default one, in a real DAG run with two emulators."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.operators.archive import ArchiveVideoOperator
from airflow_video_gen.sensors.generation import KlingGenerationSensor
from tests.airflow_harness import run_dag
from tests.conftest import point_connection_at

pytestmark = pytest.mark.slow

SUBMISSION = {"model": "klingai/kling-v2.6-i2v", "operation": {"gatewayJobId": "job-1"}}
CALLS = ("start_calls", "polls_served", "files_served", "config_calls", "generate_calls")


@pytest.fixture
def team_b(airflow_home: Path) -> Iterator[EmulatorProcess]:
    """A second gateway, behind the ``ai_gateway_team_b`` connection."""
    with EmulatorProcess(latency=0.3) as emu:
        point_connection_at(emu, "AI_GATEWAY_TEAM_B")
        yield emu


def test_sensor_and_archive_follow_the_submit_tasks_connection(
    emulator: EmulatorProcess,
    team_b: EmulatorProcess,
    image_host: Any,
    bucket: str,
    s3: Any,
    capfd: pytest.CaptureFixture[str],
) -> None:
    source = f"""
    from airflow.sdk import DAG
    from airflow_video_gen.operators.archive import ArchiveVideoOperator
    from airflow_video_gen.operators.submit import GrokSubmitOperator
    from airflow_video_gen.sensors.generation import GrokGenerationSensor

    with DAG("follow_connection", schedule=None) as dag:
        submit = GrokSubmitOperator(task_id="submit", image={image_host.url("landscape.png")!r}, duration=1,
                                    gateway_conn_id="ai_gateway_team_b")
        wait = GrokGenerationSensor(task_id="wait", submission=submit.output, poll_interval=0.2)
        ArchiveVideoOperator(task_id="archive", generation=wait.output, dest_s3_uri="s3://{bucket}/videos/",
                             contact_sheet_tiles=0)
    """
    default_before = {k: emulator.stats()[k] for k in CALLS}
    capfd.readouterr()
    result = run_dag(source, "follow_connection")
    out, err = capfd.readouterr()
    assert result.state == "success", result.states
    assert result.xcom("submit")["gateway_conn_id"] == "ai_gateway_team_b"
    # Every call landed on team B's gateway; the default one heard nothing.
    stats = team_b.stats()
    assert stats["start_calls"] == 1
    assert stats["polls_served"] >= 2  # submit's own read, then the sensor's
    assert stats["files_served"] == 1  # archive's download
    assert {k: emulator.stats()[k] for k in CALLS} == default_before
    (video,) = result.xcom("archive")["videos"]
    assert (
        s3.head_object(Bucket=bucket, Key=video["s3_uri"].split("/", 3)[3])["ContentLength"] == video["size"]
    )
    using = f"Using AI Gateway at {team_b.base_url} (connection ai_gateway_team_b)"
    assert (out + err).count(using) >= 3  # submit, sensor, archive
    assert "connection ai_gateway_default)" not in out + err


def test_an_explicit_connection_wins_and_none_means_the_submissions() -> None:
    followed = {**SUBMISSION, "gateway_conn_id": "ai_gateway_team_b"}
    sensor = KlingGenerationSensor(task_id="wait", submission=followed)
    assert sensor.conn_id() == "ai_gateway_team_b"
    assert sensor.hook.gateway_conn_id == "ai_gateway_team_b"
    assert (
        KlingGenerationSensor(task_id="w2", submission=followed, gateway_conn_id="mine").conn_id() == "mine"
    )
    # A submission from before the connection was recorded: the default connection.
    assert KlingGenerationSensor(task_id="w3", submission=SUBMISSION).conn_id() == "ai_gateway_default"
    # Still a template field, so a Jinja value works as before.
    assert "gateway_conn_id" in KlingGenerationSensor.template_fields
    assert "gateway_conn_id" in ArchiveVideoOperator.template_fields
