"""The flagship DAG, as shipped, on two sample images and one model (through its params), run with
``dag.test()`` against the emulator and a moto S3."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from tests.airflow_harness import run_dag_file
from tests.examples.conftest import DAGS, SAMPLES, fitted, read_s3
from tests.media import mean_diff, read_mp4

pytestmark = pytest.mark.slow

DAG_ID = "image_to_video_pipeline"
MODEL = "bytedance/seedance-v1.0-pro-fast"


def items(result: Any, task_id: str) -> list[Any]:
    """The records of a batch task over all its batches (its map indexes), in the plan's order."""
    return [
        record
        for index in range(len(result.xcom("plan")))
        for record in result.xcom(task_id, map_index=index)
    ]


def pairs(result: Any) -> list[dict[str, str]]:
    """The (image, model) pairs of the plan's batches."""
    return [pair for batch in result.xcom("plan") for pair in batch]


def test_flagship_two_images_one_model(
    emulator: EmulatorProcess, example_bucket: str, s3_client: Any
) -> None:
    billed = emulator.stats()["starts_billed"]
    # One image per batch: the four tasks of each image are task instances of their own.
    conf = {
        "pattern": "flower_",
        "models": [MODEL],
        "duration": 2,
        "prompt": "The petals sway",
        "batch_size": 1,
    }
    result = run_dag_file(DAGS / f"{DAG_ID}.py", DAG_ID, conf=conf)
    assert result.state == "success", result.states
    assert emulator.stats()["starts_billed"] - billed == 2

    assert [len(batch) for batch in result.xcom("plan")] == [1, 1]
    assert [(p["image"].rsplit("/", 1)[-1], p["model"]) for p in pairs(result)] == [
        ("flower_dusk.png", MODEL),
        ("flower_open.png", MODEL),
    ]
    for index, name in enumerate(("flower_dusk.png", "flower_open.png")):
        staged = items(result, "stage")[index]
        assert staged["s3_uri"].startswith(f"s3://{example_bucket}/staging/")
        submitted = items(result, "submit")[index]
        assert submitted["request"]["duration"] == 2
        assert submitted["request"]["prompt"]["text"] == "The petals sway"
        (entry,) = items(result, "archive")[index]["videos"]
        assert entry["s3_uri"].startswith(f"s3://{example_bucket}/videos/")
        video = read_mp4(read_s3(s3_client, entry["s3_uri"]))
        assert (video.frames, video.fps, video.width, video.height) == (48, 24, 1280, 720)
        assert mean_diff(video.first, fitted(name, 1280, 720)) < 6.0
        sidecar = json.loads(read_s3(s3_client, entry["sidecar_s3_uri"]))
        assert sidecar["sources"] == [{"param": "prompt.image", "source": staged["s3_uri"]}]


def test_flagship_pays_once_per_image_and_reprocess_pays_again(
    emulator: EmulatorProcess, example_bucket: str, s3_client: Any
) -> None:
    """Run after run over an S3 inbox: what is archived is reused (0 billed), a new image bills 1,
    and ``reprocess`` generates every image again."""
    inbox = f"s3://{example_bucket}/inbox/"
    for name in ("flower_dusk.png", "flower_open.png"):
        s3_client.put_object(Bucket=example_bucket, Key=f"inbox/{name}", Body=(SAMPLES / name).read_bytes())
    conf = {"source": inbox, "models": [MODEL], "duration": 2, "prompt": "The petals sway"}

    def run(**extra: Any) -> tuple[int, Any]:
        billed = emulator.stats()["starts_billed"]
        result = run_dag_file(DAGS / f"{DAG_ID}.py", DAG_ID, conf={**conf, **extra})
        assert result.state == "success", result.states
        return emulator.stats()["starts_billed"] - billed, result

    first_billed, first = run()
    assert first_billed == 2
    assert len(first.xcom("plan")) == 1  # both images in one batch
    first_videos = {record["videos"][0]["s3_uri"] for record in items(first, "archive")}
    assert all(not record.get("reused") for record in items(first, "archive"))

    again_billed, again = run()
    assert again_billed == 0
    for submitted, archived in zip(items(again, "submit"), items(again, "archive"), strict=True):
        assert submitted["reused"] is True
        assert "operation" in submitted
        assert submitted["archived"]["videos"]
        assert archived["reused"] is True
    assert {record["videos"][0]["s3_uri"] for record in items(again, "archive")} == first_videos

    s3_client.put_object(
        Bucket=example_bucket, Key="inbox/landscape.png", Body=(SAMPLES / "landscape.png").read_bytes()
    )
    added_billed, added = run()
    assert added_billed == 1
    fresh = [i for i, record in enumerate(items(added, "archive")) if not record.get("reused")]
    assert [pairs(added)[i]["image"] for i in fresh] == [f"{inbox}landscape.png"]
    new = items(added, "archive")[fresh[0]]
    video = read_mp4(read_s3(s3_client, new["videos"][0]["s3_uri"]))
    assert (video.frames, video.fps) == (48, 24)

    # A deleted video is not reused: that image is generated again, the others still reused.
    bucket, key = new["videos"][0]["s3_uri"][len("s3://") :].split("/", 1)
    s3_client.delete_object(Bucket=bucket, Key=key)
    regenerated_billed, _ = run()
    assert regenerated_billed == 1

    forced_billed, _ = run(reprocess=True)
    assert forced_billed == 3
