"""Archiving holds a bounded amount of memory, whatever the video's size: measured in a fresh
process archiving a 256 MiB video served on loopback, and after a worker is killed mid-upload."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from airflow_video_gen.devtools.local_s3 import LocalS3
from airflow_video_gen.operators.archive import ArchiveVideoOperator
from airflow_video_gen.utils.s3 import DEFAULT_MAX_CONCURRENCY, DEFAULT_PART_SIZE
from tests.s3.archive_worker import REPO, measure
from tests.s3.conftest import recorded_sha256, task_context
from tests.s3.servers import FileHost, Served, make_mp4, padded_stream, stream_digest

pytestmark = pytest.mark.slow

MIB = 1024 * 1024
#: What archiving may hold above the process's baseline, whatever the video's size: 64 MiB and
#: the parts in flight.
BOUND = 64 * MIB + DEFAULT_MAX_CONCURRENCY * DEFAULT_PART_SIZE
#: A gateway connection for URL videos (file hosts get no API key; the connection sets timeouts).
GATEWAY = '{"conn_type": "ai_gateway", "host": "http://127.0.0.1:9/v4/ai"}'


def test_peak_memory_stays_bounded_for_a_256_mib_video(
    moto: LocalS3, s3: Any, bucket: str, file_host: FileHost, decode_mp4: Any
) -> None:
    head, size = make_mp4(seconds=2.0), 256 * MIB
    url = file_host.add("big-256.mp4", Served(head=head, size=size))
    report = measure("archive", url=url, dest=f"s3://{bucket}/mem/")
    assert report["bytes"] == size
    assert report["peak_above_baseline"] < BOUND, report

    (entry,) = [o for o in s3.list_objects_v2(Bucket=bucket)["Contents"] if o["Key"].endswith(".mp4")]
    assert entry["Size"] == size
    assert recorded_sha256(s3, bucket, entry["Key"]) == stream_digest(padded_stream(head, size))[1]
    sheet = [
        o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"] if o["Key"].endswith("-contact.png")
    ]
    assert len(sheet) == 1
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_a_killed_worker_leaves_no_object_and_the_next_try_cleans_up(
    moto: LocalS3, s3: Any, bucket: str, file_host: FileHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AI_GATEWAY_DEFAULT", GATEWAY)
    head, size = make_mp4(seconds=2.0), 160 * MIB
    url = file_host.add("slow-160.mp4", Served(head=head, size=size, pace_s=0.02))
    dest = f"s3://{bucket}/killed/"
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.s3.archive_worker", "archive", "--url", url, "--dest", dest],
        cwd=REPO,
        env={**os.environ, "AIRFLOW_CONN_AI_GATEWAY_DEFAULT": GATEWAY},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads") or []
            if uploads and s3.list_parts(
                Bucket=bucket, Key=uploads[0]["Key"], UploadId=uploads[0]["UploadId"]
            ).get("Parts"):
                break
            assert worker.poll() is None, "the worker ended before it was killed"
            time.sleep(0.05)
        else:
            raise AssertionError("the worker never uploaded a part")
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    # SIGKILL leaves no chance to clean up: a pending upload, but no object.
    (pending,) = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=pending["Key"])

    # The next try (same generation, same key) aborts it and archives the video.
    generation = {
        "model": "bytedance/seedance-v1.0-pro",
        "operation": {"gatewayJobId": "benchmark"},
        "idempotency_key": f"bench-{worker.pid}",
        "status": "completed",
        "videos": [
            {
                "type": "url",
                "url": file_host.add("fast-160.mp4", Served(head=head, size=size)),
                "mediaType": "video/mp4",
            }
        ],
    }
    result = ArchiveVideoOperator(task_id="archive", generation=generation, dest_s3_uri=dest).execute(
        task_context()
    )
    assert result["videos"][0]["s3_uri"] == f"s3://{bucket}/{pending['Key']}"
    assert result["videos"][0]["size"] == size
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
