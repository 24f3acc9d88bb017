"""Fixtures of the example-DAG tests: a moto S3 of their own, and a fresh bucket per test that the
``aws_default`` connection and ``AIRFLOW_VIDEO_GEN_BUCKET`` point at while the test runs (the DAG
files read the bucket when they are loaded)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from airflow_video_gen.emulator.render import fit_image
from airflow_video_gen.local_s3 import LocalS3

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


@dataclass
class Decoded:
    """What a test needs of an MP4: counts, size, rate, audio and a few frames (not all of them:
    a 1280x720 clip would take hundreds of MB as RGB arrays)."""

    width: int
    height: int
    fps: Fraction
    frames: int
    has_audio: bool
    first: np.ndarray
    last: np.ndarray
    kept: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return self.frames / float(self.fps)


def decode(data: bytes, keep: Iterable[int] = ()) -> Decoded:
    """Decode every frame of an MP4, keeping the first, the last and those at ``keep``."""
    assert data[4:8] == b"ftyp", "not an MP4"
    wanted = set(keep)
    kept: dict[int, np.ndarray] = {}
    first: np.ndarray | None = None
    last: Any = None
    count = 0
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        fps = stream.average_rate
        has_audio = bool(container.streams.audio)
        for count, frame in enumerate(container.decode(stream), start=1):
            if first is None:
                first = frame.to_ndarray(format="rgb24")
            if count - 1 in wanted:
                kept[count - 1] = frame.to_ndarray(format="rgb24")
            last = frame
    assert first is not None, "no video frames"
    assert fps is not None
    height, width = first.shape[:2]
    return Decoded(
        width, height, Fraction(fps), count, has_audio, first, last.to_ndarray(format="rgb24"), kept
    )


def fitted(name: str, width: int, height: int, resize_mode: str = "pad") -> np.ndarray:
    """A sample image as it fills a ``width`` x ``height`` frame (what a clip's first frame shows)."""
    with Image.open(SAMPLES / name) as image:
        return np.asarray(fit_image(image.convert("RGB"), width, height, resize_mode), dtype=np.int16)


def mean_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two RGB frames, 0-255."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())
