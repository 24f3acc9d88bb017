"""What a failing task says, in real DAG runs against real emulators: whether Airflow retries it,
a connection without an API key, a refused key, and which gateway was called."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from tests.airflow_harness import run_dag

pytestmark = pytest.mark.slow

MODEL = "klingai/kling-v2.6-i2v"


def _log_of(capfd: pytest.CaptureFixture[str]) -> str:
    out, err = capfd.readouterr()
    return out + err


def _submit_and_wait(dag_id: str, image: str, sensor_conn: str, *, retries: int) -> str:
    """Submit on ``ai_gateway_default`` (healthy), wait on ``sensor_conn`` (named explicitly)."""
    return f"""
    from datetime import timedelta
    from airflow.sdk import DAG
    from airflow_video_gen.operators.submit import KlingSubmitOperator
    from airflow_video_gen.sensors.generation import KlingGenerationSensor

    with DAG({dag_id!r}, schedule=None) as dag:
        submit = KlingSubmitOperator(task_id="submit", image={image!r})
        KlingGenerationSensor(task_id="wait", submission=submit.output, poll_interval=0.2, max_retries=0,
                              gateway_conn_id={sensor_conn!r}, retries={retries},
                              retry_delay=timedelta(seconds=0))
    """


@pytest.mark.emulator(latency=0.3, faults="status.500=1")
def test_each_try_says_whether_airflow_retries_it(
    emulator: EmulatorProcess,
    faulty_emulator: EmulatorProcess,
    image_host: Any,
    capfd: pytest.CaptureFixture[str],
) -> None:
    source = _submit_and_wait("retry_notes", image_host.url("landscape.png"), "ai_gateway_faulty", retries=1)
    capfd.readouterr()
    result = run_dag(source, "retry_notes")
    log = _log_of(capfd)
    assert result.states["wait"] == "failed"
    assert result.tries["wait"] == 2
    key = result.xcom("submit")["idempotency_key"]
    said = (
        f"Gateway unavailable while waiting for {MODEL} ({key}): AI Gateway 500 internal_server_error: "
        f"Internal server error (injected fault) ({faulty_emulator.base_url}, connection ai_gateway_faulty); "
    )
    assert said + "try 1 of 2: Airflow retries it" in log
    assert said + "that was the last try (retries=1): the task fails" in log
    assert "will retry" not in log


def test_a_connection_without_an_api_key_fails_at_once_and_calls_nothing(
    emulator: EmulatorProcess,
    image_host: Any,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As a new user would write it: the host, and no password.
    monkeypatch.setenv(
        "AIRFLOW_CONN_AI_GATEWAY_NO_KEY", json.dumps({"conn_type": "ai_gateway", "host": emulator.base_url})
    )
    source = f"""
    from datetime import timedelta
    from airflow.sdk import DAG
    from airflow_video_gen.operators.submit import KlingSubmitOperator
    from airflow_video_gen.sensors.generation import KlingGenerationSensor

    with DAG("no_api_key", schedule=None,
             default_args={{"retries": 2, "retry_delay": timedelta(seconds=0)}}) as dag:
        KlingSubmitOperator(task_id="submit_no_key", image={image_host.url("landscape.png")!r},
                            gateway_conn_id="ai_gateway_no_key")
        submit = KlingSubmitOperator(task_id="submit", image={image_host.url("landscape.png")!r})
        KlingGenerationSensor(task_id="wait", submission=submit.output, poll_interval=0.2,
                              gateway_conn_id="ai_gateway_no_key")
    """
    before = emulator.stats()
    capfd.readouterr()
    result = run_dag(source, "no_api_key")
    log = _log_of(capfd)
    after = emulator.stats()
    message = (
        "Connection 'ai_gateway_no_key' has no API key: set its password (the \"API key\" field in the "
        'UI, "password" in AIRFLOW_CONN_AI_GATEWAY_NO_KEY), or point the task at another connection '
        "with gateway_conn_id="
    )
    assert (result.states["submit_no_key"], result.tries["submit_no_key"]) == ("failed", 1)
    assert (result.states["wait"], result.tries["wait"]) == ("failed", 1)
    assert log.count(message) >= 2
    assert "Illegal header value" not in log
    assert after["start_calls"] - before["start_calls"] == 1  # the task with a key only
    assert after["polls_served"] - before["polls_served"] == 1  # submit's own status read


@pytest.mark.emulator(api_key="the-only-good-key")
def test_a_refused_key_while_waiting_says_which_connection_to_fix(
    emulator: EmulatorProcess,
    faulty_emulator: EmulatorProcess,
    image_host: Any,
    capfd: pytest.CaptureFixture[str],
) -> None:
    source = _submit_and_wait("refused_key", image_host.url("landscape.png"), "ai_gateway_faulty", retries=2)
    capfd.readouterr()
    result = run_dag(source, "refused_key")
    log = _log_of(capfd)
    assert (result.states["wait"], result.tries["wait"]) == ("failed", 1)
    key = result.xcom("submit")["idempotency_key"]
    assert (
        f"The status call for {MODEL} ({key}) failed: AI Gateway 401 authentication_error: "
        f"Invalid API key ({faulty_emulator.base_url}, connection ai_gateway_faulty); check the API key "
        "(password) of connection ai_gateway_faulty"
    ) in log
    assert f"Using AI Gateway at {faulty_emulator.base_url} (connection ai_gateway_faulty)" in log
    assert f"Using AI Gateway at {emulator.base_url} (connection ai_gateway_default)" in log
