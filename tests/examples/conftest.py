"""Fixtures of the example-DAG tests: a moto S3 of their own, and a fresh bucket per test that the
``aws_default`` connection and ``AIRFLOW_VIDEO_GEN_BUCKET`` point at while the test runs (the DAG
files read the bucket when they are loaded)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from airflow_video_gen.devtools.emulator.render import fit_image
from airflow_video_gen.devtools.local_s3 import LocalS3

DAGS = Path(__file__).resolve().parents[2] / "dags"
SAMPLES = DAGS / "sample_images"


@pytest.fixture(scope="session")
def examples_s3(airflow_home: Path) -> Iterator[LocalS3]:
    """moto's S3 on loopback, for the example DAGs."""
    with LocalS3() as server:
        yield server


@pytest.fixture
def example_bucket(examples_s3: LocalS3, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket; ``aws_default`` and ``AIRFLOW_VIDEO_GEN_BUCKET`` point at it for this test."""
    name = f"examples-{uuid.uuid4().hex[:12]}"
    examples_s3.create_bucket(name)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", examples_s3.connection_json())
    monkeypatch.setenv("AIRFLOW_VIDEO_GEN_BUCKET", name)
    return name


@pytest.fixture
def s3_client(examples_s3: LocalS3) -> Any:
    return examples_s3.client()


def read_s3(client: Any, uri: str) -> bytes:
    bucket, key = uri[len("s3://") :].split("/", 1)
    body: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def list_keys(client: Any, bucket: str, prefix: str = "") -> list[str]:
    answer = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in answer.get("Contents", []))


def fitted(name: str, width: int, height: int, resize_mode: str = "pad") -> np.ndarray:
    """A sample image as it fills a ``width`` x ``height`` frame (what a clip's first frame shows)."""
    with Image.open(SAMPLES / name) as image:
        return np.asarray(fit_image(image.convert("RGB"), width, height, resize_mode), dtype=np.int16)
