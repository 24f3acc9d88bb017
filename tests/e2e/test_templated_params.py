"""Templated numbers, booleans and nested values work with Airflow's default string rendering:
each is coerced into the type its parameter declares once rendered. A literal of the wrong type is
still refused when the DAG file is parsed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.models import InvalidVideoRequest
from airflow_video_gen.operators.submit import KlingSubmitOperator
from tests.airflow_harness import run_dag

pytestmark = pytest.mark.slow


def test_params_rendered_as_strings_reach_the_wire_in_their_types(
    emulator: EmulatorProcess, image_host: Any, decode_mp4: Any
) -> None:
    landscape = image_host.url("landscape.png")
    source = f"""
    from airflow.sdk import DAG, Param
    from airflow_video_gen.operators.submit import KlingSubmitOperator, VeoSubmitOperator
    from airflow_video_gen.sensors.generation import KlingGenerationSensor, VeoGenerationSensor

    with DAG("templated_params", schedule=None,
             params={{"duration": Param(5, type="integer"), "zoom": Param(3, type="number"),
                      "audio": Param(True, type="boolean"), "veo_seconds": Param(4, type="integer")}}) as dag:
        kling = KlingSubmitOperator(task_id="kling", image={landscape!r}, text="{{{{ params.zoom }}}}x zoom",
                                    duration="{{{{ params.duration }}}}",
                                    camera_control={{"type": "simple", "config": {{"zoom": "{{{{ params.zoom }}}}"}}}})
        veo = VeoSubmitOperator(task_id="veo", image={landscape!r}, text="waves",
                                duration="{{{{ params.veo_seconds }}}}", generate_audio="{{{{ params.audio }}}}")
        kling >> KlingGenerationSensor(task_id="wait_kling", submission=kling.output, poll_interval=0.3)
        veo >> VeoGenerationSensor(task_id="wait_veo", submission=veo.output, poll_interval=0.3)
    """
    result = run_dag(source, "templated_params")
    assert result.state == "success", result.states
    kling = result.xcom("kling")["request"]
    assert kling["duration"] == 5
    assert kling["providerOptions"]["klingai"]["cameraControl"] == {"type": "simple", "config": {"zoom": 3.0}}
    veo = result.xcom("veo")["request"]
    assert veo["duration"] == 4
    assert veo["providerOptions"]["vertex"]["generateAudio"] is True
    (kling_video,) = result.xcom("wait_kling")["videos"]
    assert abs(decode_mp4(httpx.get(kling_video["url"], timeout=30).content).duration - 5) < 0.05
    (veo_video,) = result.xcom("wait_veo")["videos"]
    decoded = decode_mp4(httpx.get(veo_video["url"], timeout=30).content)
    assert abs(decoded.duration - 4) < 0.05
    assert decoded.has_audio


@pytest.mark.parametrize("text", ["a literal prompt", "{{ params.prompt }}"])
def test_a_literal_of_the_wrong_type_is_refused_at_parse_time(text: str) -> None:
    with pytest.raises(InvalidVideoRequest) as refused:
        KlingSubmitOperator(task_id="k", image="https://x.io/a.png", text=text, duration="five")
    assert refused.value.errors == [
        {
            "param": "duration",
            "message": "must be a whole number of seconds for klingai/kling-v2.6-i2v; got 'five'",
        }
    ]


def test_a_templated_value_that_is_no_number_fails_the_task_with_its_message() -> None:
    operator = KlingSubmitOperator(task_id="k", image="https://x.io/a.png", duration="{{ params.d }}")
    operator.duration = "soon"  # as rendered
    with pytest.raises(Exception, match=r"duration: must be a whole number of seconds .* got 'soon'"):
        operator.build_request()
