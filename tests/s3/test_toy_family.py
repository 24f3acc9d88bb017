"""A sixth family defined only in a test module (``tests/families/toy.py``) goes through the whole
chain with no edit to the package: checks at parse time, submit, a deferred sensor, the emulator
(which renders what the family's data says: end frame, audio switch, last-frame return) and
archive (which finds the returned last frame through the family's data)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.devtools.local_s3 import LocalS3
from airflow_video_gen.models import InvalidVideoRequest
from tests.airflow_harness import run_dag
from tests.conftest import point_connection_at
from tests.families.toy import TOY_MODEL, TOY_MODEL_QUIET, ToySubmitOperator

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def toy_emulator(airflow_home: Path) -> Iterator[EmulatorProcess]:
    with EmulatorProcess(latency=0.5, extra_args=["--family-module", "tests.families.toy"]) as emu:
        point_connection_at(emu, "AI_GATEWAY_TOY")
        yield emu


def read(s3: Any, uri: str) -> bytes:
    bucket, key = uri[len("s3://") :].split("/", 1)
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def test_the_toy_family_is_checked_from_its_data_when_the_dag_is_parsed() -> None:
    with pytest.raises(InvalidVideoRequest) as refused:
        ToySubmitOperator(
            task_id="t",
            model=TOY_MODEL_QUIET,
            image="https://x.io/a.png",
            ending="https://x.io/b.png",
            duration=7,
            tune="loud",
            sparkle=2,
        )
    errors = {e["param"]: e["message"] for e in refused.value.errors}
    assert errors == {
        "duration": "7 s is not allowed for toyco/toy-v1-quiet; allowed: 2 or 3 s",
        "providerOptions.toyco.tune": "tune is not supported by toyco/toy-v1-quiet; supported by: toyco/toy-v1",
        "providerOptions.toyco.sparkle": "cannot be combined with an ending on toyco/toy-v1-quiet",
    }


def test_submit_deferred_sensor_emulator_and_archive_read_the_toy_family_as_data(
    toy_emulator: EmulatorProcess, moto: LocalS3, s3: Any, bucket: str, image_host: Any, decode_mp4: Any
) -> None:
    start, end = image_host.url("landscape.png"), image_host.url("ref-red.png")
    source = f"""
    from airflow.sdk import DAG
    from airflow_video_gen.operators.archive import ArchiveVideoOperator
    from tests.families.toy import ToyGenerationSensor, ToySubmitOperator

    with DAG("toy_family", schedule=None) as dag:
        submit = ToySubmitOperator(task_id="submit", image={start!r}, ending={end!r}, text="a toy spins",
                                   duration=3, tune="loud", keep_last=True, gateway_conn_id="ai_gateway_toy")
        wait = ToyGenerationSensor(task_id="wait", submission=submit.output, gateway_conn_id="ai_gateway_toy")
        ArchiveVideoOperator(task_id="archive", generation=wait.output, gateway_conn_id="ai_gateway_toy",
                             dest_s3_uri="s3://{bucket}/toys/")
    """
    result = run_dag(source, "toy_family")
    assert result.state == "success", result.states
    assert toy_emulator.stats()["starts_billed"] == 1

    submitted = result.xcom("submit")
    assert submitted["family"] == "toy"
    assert submitted["request"]["providerOptions"]["toyco"] == {
        "ending": {"source": end},
        "tune": "loud",
        "keepLast": True,
    }
    archived = result.xcom("archive")
    (entry,) = archived["videos"]
    video = decode_mp4(read(s3, entry["s3_uri"]), keep=())
    assert abs(video.duration - 3) <= 1 / 24 + 1e-6
    assert (video.width, video.height) == (320, 240)  # the family's default size
    assert video.has_audio  # the toy's audio switch, "loud"
    # The emulator renders the end frame (a red image): the last frame is mostly red.
    red, green, blue = video.last.reshape(-1, 3).mean(axis=0)
    assert red > 120 > green, (red, green, blue)
    assert red > blue
    last = Image.open(io.BytesIO(read(s3, archived["last_frame_s3_uri"])))
    assert last.size == (320, 240)
    sidecar = json.loads(read(s3, entry["sidecar_s3_uri"]))
    assert sidecar["family"] == "toy"
    assert sidecar["model"] == TOY_MODEL
