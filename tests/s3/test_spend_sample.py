"""The scheduled DAG of docs/spend.md that processes only new images, run as the page shows it (its
bucket renamed) by a real Airflow against the emulator and moto: each image is paid for once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.devtools.local_s3 import LocalS3
from tests.airflow_harness import run_dag
from tests.imaging import make_image

pytestmark = pytest.mark.slow

PAGE = Path(__file__).resolve().parents[2] / "docs" / "spend.md"
DAG_ID = "new_images_hourly"


def _sample(bucket: str) -> str:
    """The page's Python block that defines the DAG, with the test's bucket."""
    blocks = re.findall(r"^```python\n(.*?)^```$", PAGE.read_text(encoding="utf-8"), re.S | re.M)
    (source,) = [b for b in blocks if f'dag_id="{DAG_ID}"' in b]
    assert 'BUCKET = "my-bucket"' in source
    return source.replace('BUCKET = "my-bucket"', f"BUCKET = {bucket!r}")


def _billed(emulator: EmulatorProcess) -> int:
    return int(emulator.stats()["starts_billed"])


def test_each_image_is_generated_once_over_scheduled_runs(
    emulator: EmulatorProcess, moto: LocalS3, s3: Any, bucket: str
) -> None:
    source = _sample(bucket)
    for name, color in (("a.png", "seagreen"), ("b.jpg", "firebrick")):
        s3.put_object(Bucket=bucket, Key=f"inbox/{name}", Body=make_image(640, 360, color=color))
    s3.put_object(Bucket=bucket, Key="inbox/notes.txt", Body=b"not an image")

    billed = _billed(emulator)
    first = run_dag(source, DAG_ID)
    assert first.state == "success", first.states
    assert first.xcom("new_images") == [f"s3://{bucket}/inbox/a.png", f"s3://{bucket}/inbox/b.jpg"]
    assert _billed(emulator) - billed == 2
    archived = {first.xcom("archive", map_index=i)["videos"][0]["s3_uri"] for i in (0, 1)}
    assert len(archived) == 2

    # A new image lands: the next run generates that one only.
    s3.put_object(Bucket=bucket, Key="inbox/c.png", Body=make_image(640, 360, color="navy"))
    billed = _billed(emulator)
    second = run_dag(source, DAG_ID)
    assert second.state == "success", second.states
    assert second.xcom("new_images") == [f"s3://{bucket}/inbox/c.png"]
    assert _billed(emulator) - billed == 1

    # Nothing new: nothing is mapped, nothing is started.
    billed = _billed(emulator)
    third = run_dag(source, DAG_ID)
    assert third.state == "success", third.states
    assert third.xcom("new_images") == []
    assert {task: state for task, state in third.states.items() if task != "new_images"} == {
        "submit": "skipped",
        "wait": "skipped",
        "archive": "skipped",
    }
    assert _billed(emulator) == billed
