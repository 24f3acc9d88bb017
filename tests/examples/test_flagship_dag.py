"""The flagship DAG, as shipped, on two sample images and one model (through its params), run with
``dag.test()`` against the emulator and a moto S3."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from tests.airflow_harness import run_dag_file
from tests.examples.conftest import DAGS, fitted, read_s3
from tests.media import mean_diff, read_mp4

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("airflow")]

DAG_ID = "image_to_video_pipeline"
MODEL = "bytedance/seedance-v1.0-pro-fast"


def test_flagship_two_images_one_model(
    emulator: EmulatorProcess, example_bucket: str, s3_client: Any
) -> None:
    billed = emulator.stats()["starts_billed"]
    conf = {"pattern": "flower_", "models": [MODEL], "duration": 2, "prompt": "The petals sway"}
    result = run_dag_file(DAGS / f"{DAG_ID}.py", DAG_ID, conf=conf)
    assert result.state == "success", result.states
    assert emulator.stats()["starts_billed"] - billed == 2

    pairs = result.xcom("plan")
    assert [(p["image"].rsplit("/", 1)[-1], p["model"]) for p in pairs] == [
        ("flower_dusk.png", MODEL),
        ("flower_open.png", MODEL),
    ]
    for index, name in enumerate(("flower_dusk.png", "flower_open.png")):
        staged = result.xcom("stage", map_index=index)
        assert staged["s3_uri"].startswith(f"s3://{example_bucket}/staging/")
        submitted = result.xcom("submit", map_index=index)
        assert submitted["request"]["duration"] == 2
        assert submitted["request"]["prompt"]["text"] == "The petals sway"
        (entry,) = result.xcom("archive", map_index=index)["videos"]
        assert entry["s3_uri"].startswith(f"s3://{example_bucket}/videos/")
        video = read_mp4(read_s3(s3_client, entry["s3_uri"]))
        assert (video.frames, video.fps, video.width, video.height) == (48, 24, 1280, 720)
        assert mean_diff(video.first, fitted(name, 1280, 720)) < 6.0
        sidecar = json.loads(read_s3(s3_client, entry["sidecar_s3_uri"]))
        assert sidecar["sources"] == [{"param": "prompt.image", "source": staged["s3_uri"]}]
