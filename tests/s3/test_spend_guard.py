"""What a generation costs, seen from real DAG runs: the balance read through the connection before
and after, and ``min_balance`` refusing to start when the team's credits run low.

The emulator starts with a balance of 2.00 and bills 0.05 per second of video.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from tests.airflow_harness import run_dag
from tests.conftest import point_connection_at

pytestmark = pytest.mark.slow

CONN = "ai_gateway_spend"


@pytest.fixture(scope="module")
def priced(airflow_home: Path) -> Iterator[EmulatorProcess]:
    extra = ["--credits", "2.00", "--price-per-second", "0.05"]
    with EmulatorProcess(latency=0.3, extra_args=extra) as emu:
        point_connection_at(emu, CONN.upper())
        yield emu


@pytest.fixture
def gateway(priced: EmulatorProcess) -> EmulatorProcess:
    priced.reset()  # the balance is full again
    return priced


def test_a_ten_second_video_draws_half_a_credit(gateway: EmulatorProcess, image_host: Any) -> None:
    source = f"""
    from airflow.sdk import DAG, task
    from airflow_video_gen.hooks.gateway import VideoGatewayHook
    from airflow_video_gen.operators.submit import KlingSubmitOperator

    @task
    def balance():
        return {{"balance": str(VideoGatewayHook({CONN!r}).credits().balance)}}

    with DAG("spend_seen", schedule=None) as dag:
        submit = KlingSubmitOperator(task_id="submit", image={image_host.url("landscape.png")!r},
                                     duration=10, gateway_conn_id={CONN!r}, wait_for_completion=True,
                                     deferrable=False, poll_interval=0.2)
        balance.override(task_id="before")() >> submit >> balance.override(task_id="after")()
    """
    result = run_dag(source, "spend_seen")
    assert result.states == {"before": "success", "submit": "success", "after": "success"}
    assert result.xcom("before") == {"balance": "2.00"}
    assert result.xcom("after") == {"balance": "1.50"}
    assert gateway.stats()["seconds_billed"] == 10


def _guarded(dag_id: str, image: str, min_balance: float) -> str:
    return f"""
    from datetime import timedelta
    from airflow.sdk import DAG
    from airflow_video_gen.operators.submit import KlingSubmitOperator

    with DAG({dag_id!r}, schedule=None) as dag:
        KlingSubmitOperator(task_id="submit", image={image!r}, gateway_conn_id={CONN!r},
                            min_balance={min_balance!r}, retries=2, retry_delay=timedelta(seconds=0))
    """


def test_min_balance_refuses_to_start_and_says_what_to_do(
    gateway: EmulatorProcess, image_host: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    result = run_dag(_guarded("spend_refused", image_host.url("landscape.png"), 5.0), "spend_refused")
    out, err = capfd.readouterr()
    assert result.states["submit"] == "failed"
    assert result.tries["submit"] == 1  # permanent: no retry
    assert (
        f"AI Gateway balance 2.00 is below min_balance=5.0 (connection {CONN}); "
        "top up the team's credits or lower min_balance"
    ) in out + err
    assert gateway.stats()["starts_billed"] == 0


def test_min_balance_met_records_the_balance_before(gateway: EmulatorProcess, image_host: Any) -> None:
    result = run_dag(_guarded("spend_allowed", image_host.url("landscape.png"), 1.0), "spend_allowed")
    assert result.states["submit"] == "success"
    assert result.xcom("submit")["balance_before"] == "2.00"
    assert gateway.stats()["starts_billed"] == 1


def test_the_sidecar_records_the_balance_before_and_after(
    gateway: EmulatorProcess,
    image_host: Any,
    bucket: str,
    s3: Any,
) -> None:
    source = f"""
    from airflow.sdk import DAG
    from airflow_video_gen.operators.archive import ArchiveVideoOperator
    from airflow_video_gen.operators.submit import KlingSubmitOperator
    from airflow_video_gen.sensors.generation import KlingGenerationSensor

    with DAG("spend_archived", schedule=None) as dag:
        submit = KlingSubmitOperator(task_id="submit", image={image_host.url("landscape.png")!r},
                                     duration=5, gateway_conn_id={CONN!r}, min_balance=1)
        wait = KlingGenerationSensor(task_id="wait", submission=submit.output, poll_interval=0.2)
        ArchiveVideoOperator(task_id="archive", generation=wait.output, dest_s3_uri="s3://{bucket}/videos/")
    """
    result = run_dag(source, "spend_archived")
    assert result.states == {"submit": "success", "wait": "success", "archive": "success"}
    sidecar_uri = result.xcom("archive")["videos"][0]["sidecar_s3_uri"]
    key = sidecar_uri.removeprefix(f"s3://{bucket}/")
    sidecar = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert sidecar["credits"] == {"balance_before": "2.00", "balance_after": "1.75"}
