"""Submit, deferred sensor and one-task mode for every family, run by Airflow against the emulator.

DAGs run with ``dag.test()`` (tasks in process, triggers inline); the emulator is a real HTTP
server in another process that renders real MP4s, which the tests download and decode.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.models import InvalidVideoRequest
from airflow_video_gen.operators.submit import KlingSubmitOperator, SeedanceSubmitOperator
from tests.airflow_harness import run_dag
from tests.imaging import make_image

pytestmark = pytest.mark.slow


def _video(emulator: EmulatorProcess, result: dict[str, Any], decode_mp4: Any) -> Any:
    (video,) = result["videos"]
    data = httpx.get(video["url"], timeout=30).content
    return decode_mp4(data)


def test_every_family_submit_sensor_and_one_task_mode(
    emulator: EmulatorProcess, image_host: Any, decode_mp4: Any
) -> None:
    landscape = image_host.url("landscape.png")
    refs = [image_host.url(n) for n in ("ref-red.png", "ref-green.png", "ref-blue.png")]
    source = f"""
    from airflow.sdk import DAG
    from airflow_video_gen.operators.submit import (
        GatewaySubmitOperator, GrokSubmitOperator, KlingSubmitOperator, SeedanceSubmitOperator,
        VeoSubmitOperator, WanSubmitOperator,
    )
    from airflow_video_gen.sensors.generation import (
        GrokGenerationSensor, KlingGenerationSensor, SeedanceGenerationSensor, VeoGenerationSensor,
        VideoGenerationSensor, WanGenerationSensor,
    )
    from tests.sdk_reference.examples import START_PNG, END_PNG

    with DAG("every_family", schedule=None) as dag:
        pairs = [
            (VeoSubmitOperator(task_id="veo", image={landscape!r}, text="pan", duration=4, resize_mode="crop"),
             VeoGenerationSensor),
            (KlingSubmitOperator(task_id="kling_first_last", image=START_PNG, image_tail=END_PNG,
                                 text="Smooth transition", mode="pro"), KlingGenerationSensor),
            (WanSubmitOperator(task_id="wan", image={landscape!r}, text="waves", duration=2,
                               resolution="1280x720"), WanGenerationSensor),
            (GrokSubmitOperator(task_id="grok", image={landscape!r}, text="blink", duration=2,
                                aspect_ratio="1:1"), GrokGenerationSensor),
            (SeedanceSubmitOperator(task_id="seedance_refs", model="bytedance/seedance-v1.0-lite-i2v",
                                    text="[Image 1] and [Image 2] on [Image 3]", reference_images={refs!r},
                                    duration=3, aspect_ratio="16:9", resolution="854x480"),
             SeedanceGenerationSensor),
            (GatewaySubmitOperator(task_id="gateway_any", model="xai/grok-imagine-video", image={landscape!r},
                                   duration=1, provider_options={{"xai": {{"resolution": "480p"}}}}),
             VideoGenerationSensor),
        ]
        for submit, sensor in pairs:
            submit >> sensor(task_id=f"wait_{{submit.task_id}}", submission=submit.output, poll_interval=0.3)
        VeoSubmitOperator(task_id="veo_one_task", image={landscape!r}, text="pan", duration=4,
                          wait_for_completion=True, poll_interval=0.3)
    """
    billed_before = emulator.stats()["starts_billed"]
    result = run_dag(source, "every_family")
    assert result.state == "success", result.states
    assert emulator.stats()["starts_billed"] - billed_before == 7
    expected = {
        "wait_veo": (4, 1280, 720),
        "wait_kling_first_last": (5, None, None),
        "wait_wan": (2, 1280, 720),
        "wait_grok": (2, None, None),
        "wait_seedance_refs": (3, 854, 480),
        "wait_gateway_any": (1, None, None),
        "veo_one_task": (4, 1280, 720),
    }
    for task_id, (seconds, width, height) in expected.items():
        xcom = result.xcom(task_id)
        assert xcom["status"] == "completed", task_id
        assert {
            "model",
            "family",
            "operation",
            "idempotency_key",
            "submitted_at",
            "request",
            "videos",
        } <= set(xcom)
        assert len(json.dumps(xcom)) < 4096, task_id
        video = _video(emulator, xcom, decode_mp4)
        assert abs(video.duration - seconds) <= 1 / 24 + 1e-6, task_id
        assert video.fps == 24
        if width:
            assert (video.width, video.height) == (width, height), task_id
    grok = _video(emulator, result.xcom("wait_grok"), decode_mp4)
    assert grok.width == grok.height  # aspect ratio 1:1 asked
    seedance = result.xcom("wait_seedance_refs")
    assert seedance["request"]["prompt"] == "[Image 1] and [Image 2] on [Image 3]"
    kling = result.xcom("wait_kling_first_last")["request"]
    assert kling["providerOptions"]["klingai"]["imageTail"]["sha256"]
    assert "data" not in json.dumps(kling["prompt"]["image"])


def test_retried_submit_reattaches_to_the_same_generation(emulator: EmulatorProcess, image_host: Any) -> None:
    source = f"""
    from datetime import timedelta
    from airflow.sdk import DAG
    from airflow_video_gen.operators.submit import WanSubmitOperator

    class LostAfterStart(WanSubmitOperator):
        # The worker dies after the start call returned, before XCom is written.
        def execute(self, context):
            result = super().execute(context)
            if context["ti"].try_number == 1:
                raise RuntimeError("worker lost after start")
            return result

    with DAG("retry_after_start", schedule=None) as dag:
        LostAfterStart(task_id="submit", image={image_host.url("landscape.png")!r}, text="sea", duration=2,
                       retries=1, retry_delay=timedelta(seconds=0))
    """
    before = emulator.stats()
    result = run_dag(source, "retry_after_start")
    after = emulator.stats()
    assert result.state == "success", result.states
    assert result.tries["submit"] == 2
    assert after["start_calls"] - before["start_calls"] == 2
    assert after["starts_billed"] - before["starts_billed"] == 1
    assert after["idempotent_replays"] - before["idempotent_replays"] == 1


def test_literal_invalid_parameters_fail_at_parse_time() -> None:
    with pytest.raises(InvalidVideoRequest) as info:
        KlingSubmitOperator(task_id="bad", image="https://example.com/a.png", duration=7, cfg_scale=0.5)
    params = {e["param"] for e in info.value.errors}
    assert params == {"duration", "providerOptions.klingai.cfgScale"}
    with pytest.raises(InvalidVideoRequest, match="URLs only"):
        SeedanceSubmitOperator(task_id="bad2", image=make_image(), text="x")
    # A path the scheduler cannot see is left for the worker to read.
    KlingSubmitOperator(task_id="later", image="/data/only/on/the/worker.png")
    # Templated values are checked at execute time.
    KlingSubmitOperator(task_id="templated", image="https://example.com/a.png", duration="{{ params.d }}")


def _log_of(capfd: pytest.CaptureFixture[str]) -> str:
    out, err = capfd.readouterr()
    return out + err


def _failing_dag(dag_id: str, submit: str, sensor: str = "") -> str:
    return f"""
    from datetime import timedelta
    from airflow.sdk import DAG
    from airflow_video_gen.operators.submit import KlingSubmitOperator, WanSubmitOperator
    from airflow_video_gen.sensors.generation import KlingGenerationSensor, WanGenerationSensor

    with DAG({dag_id!r}, schedule=None, default_args={{"retries": 2, "retry_delay": timedelta(seconds=0)}}) as dag:
        submit = {submit}
        {sensor}
    """


@pytest.mark.emulator(latency=0.3, faults="job.error=1,seed=3")
def test_job_error_fails_without_retry_with_the_gateway_message(
    faulty_emulator: EmulatorProcess, capfd: pytest.CaptureFixture[str]
) -> None:
    source = _failing_dag(
        "job_error",
        'KlingSubmitOperator(task_id="submit", image="https://example.com/a.png", gateway_conn_id="ai_gateway_faulty")',
        'KlingGenerationSensor(task_id="wait", submission=submit.output, poll_interval=0.2, '
        'gateway_conn_id="ai_gateway_faulty")',
    )
    capfd.readouterr()
    result = run_dag(source, "job_error")
    log = _log_of(capfd)
    assert result.states["wait"] == "failed"
    assert result.tries["wait"] == 1
    assert "Video generation error" in log
    assert faulty_emulator.stats()["jobs"]["error"] == 1


@pytest.mark.emulator(latency=0.3, faults="job.cancel=1,seed=3")
def test_cancelled_job_fails_without_retry(
    faulty_emulator: EmulatorProcess, capfd: pytest.CaptureFixture[str]
) -> None:
    source = _failing_dag(
        "job_cancelled",
        'KlingSubmitOperator(task_id="submit", image="https://example.com/a.png", gateway_conn_id="ai_gateway_faulty",'
        " wait_for_completion=True, poll_interval=0.2)",
    )
    capfd.readouterr()
    result = run_dag(source, "job_cancelled")
    assert result.states["submit"] == "failed"
    assert result.tries["submit"] == 1
    assert "Video generation cancelled" in _log_of(capfd)


@pytest.mark.emulator(latency=30)
def test_timeout_raises_the_sensor_timeout(
    faulty_emulator: EmulatorProcess, image_host: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    source = _failing_dag(
        "job_timeout",
        f'KlingSubmitOperator(task_id="submit", image={image_host.url("landscape.png")!r}, '
        'gateway_conn_id="ai_gateway_faulty")',
        'KlingGenerationSensor(task_id="wait", submission=submit.output, poll_interval=0.2, timeout=1.5, '
        'gateway_conn_id="ai_gateway_faulty")',
    )
    capfd.readouterr()
    result = run_dag(source, "job_timeout")
    assert result.states["wait"] == "failed"
    assert result.tries["wait"] == 1
    assert "Video generation timed out" in _log_of(capfd)


@pytest.mark.emulator(latency=0.3, faults="status.503=1,seed=1")
def test_transient_trouble_past_the_budget_fails_the_try_for_airflow_to_retry(
    faulty_emulator: EmulatorProcess, capfd: pytest.CaptureFixture[str]
) -> None:
    source = _failing_dag(
        "transient",
        'KlingSubmitOperator(task_id="submit", image="https://example.com/a.png", gateway_conn_id="ai_gateway_faulty")',
        'KlingGenerationSensor(task_id="wait", submission=submit.output, poll_interval=0.2, max_retries=1, '
        'retries=1, gateway_conn_id="ai_gateway_faulty")',
    )
    capfd.readouterr()
    result = run_dag(source, "transient")
    log = _log_of(capfd)
    assert result.states["wait"] == "failed"
    assert result.tries["wait"] == 2  # Airflow retried it
    assert "Gateway unavailable while waiting for" in log
    assert "try 1 of 2: Airflow retries it" in log
    assert faulty_emulator.stats()["starts_billed"] == 1


def test_invalid_request_at_execute_fails_without_retry_and_bills_nothing(
    emulator: EmulatorProcess, capfd: pytest.CaptureFixture[str]
) -> None:
    source = _failing_dag(
        "invalid_at_execute",
        'KlingSubmitOperator(task_id="submit", image="https://example.com/a.png", text="{{ \'x\' * 3000 }}")',
    )
    before = emulator.stats()["start_calls"]
    capfd.readouterr()
    result = run_dag(source, "invalid_at_execute")
    log = _log_of(capfd)
    assert result.states["submit"] == "failed"
    assert result.tries["submit"] == 1
    assert "prompt.text: is 3000 characters; klingai/kling-v2.6-i2v allows at most 2500" in log
    assert emulator.stats()["start_calls"] == before


@pytest.mark.emulator(api_key="the-only-good-key")
def test_refused_api_key_fails_without_retry(
    faulty_emulator: EmulatorProcess, capfd: pytest.CaptureFixture[str]
) -> None:
    source = _failing_dag(
        "bad_key",
        'WanSubmitOperator(task_id="submit", image="https://example.com/a.png", text="x", gateway_conn_id="ai_gateway_faulty")',
    )
    capfd.readouterr()
    result = run_dag(source, "bad_key")
    log = _log_of(capfd)
    assert result.states["submit"] == "failed"
    assert result.tries["submit"] == 1
    assert "authentication_error" in log
    assert "sk-e2e-test-key" not in log


def test_gateway_and_request_warnings_reach_the_task_log(
    emulator: EmulatorProcess, image_host: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    source = _failing_dag(
        "warnings",
        f'KlingSubmitOperator(task_id="submit", image={image_host.url("landscape.png")!r}, '
        'camera_control={"type": "forward_up", "config": {"zoom": 3}}, wait_for_completion=True, poll_interval=0.2)',
    )
    capfd.readouterr()
    result = run_dag(source, "warnings")
    assert result.states["submit"] == "success"
    assert "cameraControl.config is only read for type 'simple'" in _log_of(capfd)


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
@pytest.mark.emulator(latency=0.5, faults="job.error=1,seed=3")
def test_poke_and_reschedule_modes_share_the_status_logic(
    faulty_emulator: EmulatorProcess, image_host: Any, capfd: pytest.CaptureFixture[str], mode: str
) -> None:
    source = _failing_dag(
        f"job_error_{mode}",
        f'KlingSubmitOperator(task_id="submit", image={image_host.url("landscape.png")!r}, gateway_conn_id="ai_gateway_faulty")',
        f'KlingGenerationSensor(task_id="wait", submission=submit.output, poll_interval=0.2, deferrable=False, '
        f'mode={mode!r}, gateway_conn_id="ai_gateway_faulty")',
    )
    capfd.readouterr()
    result = run_dag(source, f"job_error_{mode}")
    assert result.states["wait"] == "failed"
    assert result.tries["wait"] == 1
    assert "Video generation error" in _log_of(capfd)


def test_poke_mode_completes_with_the_same_xcom(emulator: EmulatorProcess, image_host: Any) -> None:
    source = f"""
    from airflow.sdk import DAG
    from airflow_video_gen.operators.submit import GrokSubmitOperator
    from airflow_video_gen.sensors.generation import GrokGenerationSensor

    with DAG("poke_mode", schedule=None) as dag:
        submit = GrokSubmitOperator(task_id="submit", image={image_host.url("landscape.png")!r}, duration=1)
        GrokGenerationSensor(task_id="wait", submission=submit.output, poll_interval=0.2, deferrable=False)
    """
    result = run_dag(source, "poke_mode")
    assert result.state == "success", result.states
    xcom = result.xcom("wait")
    assert xcom["status"] == "completed"
    assert xcom["operation"] == result.xcom("submit")["operation"]
