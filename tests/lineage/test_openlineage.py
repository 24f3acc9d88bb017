"""OpenLineage datasets of the operators, as the OpenLineage provider's listener emits them.

The end-to-end test runs stage -> submit -> wait -> archive -> join with ``dag.test()`` in a Python
process of its own, with the provider's file transport configured through environment variables
(the provider decides whether to register its listener when Airflow loads its plugins, once per
process), then reads the events file.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.devtools.local_s3 import LocalS3
from airflow_video_gen.operators.archive import ArchiveVideoOperator
from airflow_video_gen.operators.join import JoinVideosOperator
from airflow_video_gen.operators.lineage import dataset_name
from airflow_video_gen.operators.staging import StageImageOperator
from airflow_video_gen.operators.submit import SeedanceSubmitOperator
from tests.airflow_harness import run_dag
from tests.conftest import API_KEY
from tests.imaging import make_image
from tests.media import ImageHost

REPO = Path(__file__).resolve().parents[2]
SEEDANCE = "bytedance/seedance-v1.0-pro"
SIGNED = "X-Amz-Credential=AKIDEXAMPLE&X-Amz-Signature=lineage-secret-signature"

Names = list[tuple[str, str]]


def names(datasets: Any) -> Names:
    """``(namespace, name)`` of OpenLineage datasets, as objects or as the JSON of an event."""
    return [(d["namespace"], d["name"]) if isinstance(d, dict) else (d.namespace, d.name) for d in datasets]


# ------------------------------------------------------------------------------------------ names


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("s3://videos/in/cat.png", ("s3://videos", "in/cat.png")),
        ("s3://videos/", ("s3://videos", "/")),
        # A presigned URL: its query (the signature) is never part of the name.
        (
            f"https://videos.s3.amazonaws.com/in/cat.png?{SIGNED}",
            ("https://videos.s3.amazonaws.com", "in/cat.png"),
        ),
        ("https://videos.s3.amazonaws.com/in/cat.png?...", ("https://videos.s3.amazonaws.com", "in/cat.png")),
        (
            "https://user:password@images.example.com:8443/a/b.jpg#top",
            ("https://images.example.com:8443", "a/b.jpg"),
        ),
        ("http://127.0.0.1:9000/", ("http://127.0.0.1:9000", "/")),
        ("path:/data/frames/start.png", ("file", "/data/frames/start.png")),
        ("path:frames/start.png", ("file", "frames/start.png")),
        ("file:///data/frames/start.png", ("file", "/data/frames/start.png")),
        ("bytes", None),
        ("base64", None),
        ("data-url", None),
    ],
)
def test_dataset_names(source: str, expected: tuple[str, str] | None) -> None:
    assert dataset_name(source) == expected


def test_stage_names_its_image_and_object_before_running() -> None:
    stage = StageImageOperator(
        task_id="stage",
        image=f"https://images.example.com/cats/cat.png?{SIGNED}",
        dest_s3_uri="s3://inputs/staged/cat.png",
    )
    start = stage.get_openlineage_facets_on_start()
    assert names(start.inputs) == [("https://images.example.com", "cats/cat.png")]
    assert names(start.outputs) == [("s3://inputs", "staged/cat.png")]
    # Under a prefix the key is the sha256 of the bytes: known only once they are read.
    stage = StageImageOperator(
        task_id="stage2", image="s3://inputs/raw/cat.png", dest_s3_uri="s3://inputs/staged/"
    )
    start = stage.get_openlineage_facets_on_start()
    assert (names(start.inputs), names(start.outputs)) == ([("s3://inputs", "raw/cat.png")], [])
    # Before it runs, a task has read and written nothing.
    complete = stage.get_openlineage_facets_on_complete(None)
    assert (complete.inputs, complete.outputs) == ([], [])


def test_images_without_a_name_are_left_out(png_bytes: bytes) -> None:
    stage = StageImageOperator(task_id="stage", image=png_bytes, dest_s3_uri="s3://inputs/staged/")
    assert names(stage.get_openlineage_facets_on_start().inputs) == []


def test_join_names_each_clip_once_before_running() -> None:
    clips = ["s3://films/a.mp4", {"s3_uri": "s3://films/b.mp4"}, "s3://films/a.mp4"]
    join = JoinVideosOperator(task_id="join", videos=clips, dest_s3_uri="s3://films/joined/all.mp4")
    start = join.get_openlineage_facets_on_start()
    assert names(start.inputs) == [("s3://films", "a.mp4"), ("s3://films", "b.mp4")]
    assert names(start.outputs) == [("s3://films", "joined/all.mp4")]


def test_archive_names_the_images_of_the_generation_before_running() -> None:
    generation = {
        "model": SEEDANCE,
        "operation": {"id": "op-1"},
        "videos": [{"type": "url", "url": "https://results.example.com/v.mp4"}],
        "request": {
            "prompt": {"image": {"source": "s3://inputs/staged/cat.png", "size": 10}, "text": "A cat"},
            "providerOptions": {"bytedance": {"lastFrameImage": {"source": "bytes", "size": 10}}},
        },
    }
    archive = ArchiveVideoOperator(task_id="archive", generation=generation, dest_s3_uri="s3://videos/")
    start = archive.get_openlineage_facets_on_start()
    assert (names(start.inputs), names(start.outputs)) == ([("s3://inputs", "staged/cat.png")], [])


def test_a_submit_task_that_resumes_names_the_images_of_its_submission() -> None:
    """After waiting in the triggerer, the task runs in a new process: what it sent is read from the
    submission it resumes with."""
    submit = SeedanceSubmitOperator(
        task_id="submit", model=SEEDANCE, image="s3://inputs/cat.png", text="A cat", wait_for_completion=True
    )
    submission = {
        "model": SEEDANCE,
        "idempotency_key": "avg_0123",
        "operation": {"id": "op-1"},
        "request": {"prompt": {"image": {"source": "s3://inputs/cat.png"}, "text": "A cat"}},
    }
    event = {"status": "completed", "videos": [{"type": "url", "url": "https://results.example.com/v.mp4"}]}
    submit.execute_complete({}, event=event, submission=submission)
    complete = submit.get_openlineage_facets_on_complete(None)
    assert (names(complete.inputs), names(complete.outputs)) == ([("s3://inputs", "cat.png")], [])


# ------------------------------------------------------------------------------------ the listener


@pytest.fixture(scope="module")
def lineage_s3(airflow_home: Path) -> Iterator[LocalS3]:
    """moto's S3 on loopback; given to each DAG run through its own environment."""
    with LocalS3() as server:
        yield server


@pytest.fixture
def lineage_bucket(lineage_s3: LocalS3) -> str:
    name = f"lineage-{uuid.uuid4().hex[:12]}"
    lineage_s3.create_bucket(name)
    return name


_RUNNER = """
import json, sys
from tests import airflow_harness

airflow_harness._MIGRATED = True  # the test process migrated this AIRFLOW_HOME's database
source, dag_id, out = sys.argv[1:]
result = airflow_harness.run_dag(open(source).read(), dag_id)
returned = {task: value for (task, key, index), value in result.xcoms.items() if key == "return_value"}
with open(out, "w") as file:
    json.dump({"state": result.state, "states": result.states, "returned": returned}, file, default=str)
"""


def run_with_file_transport(
    source: str, dag_id: str, events: Path, env: dict[str, str], tmp_path: Path
) -> dict[str, Any]:
    """``dag.test()`` of ``source`` in a new Python process whose OpenLineage provider writes every
    event to ``events``, one JSON document a line; returns the run's states and return values."""
    (tmp_path / "dag.py").write_text(source)
    transport = {"type": "file", "log_file_path": str(events), "append": True}
    done = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(tmp_path / "dag.py"), dag_id, str(tmp_path / "run.json")],
        cwd=REPO,
        env={
            **os.environ,
            **env,
            "PYTHONPATH": str(REPO),
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "lineage_tests",
            # The listener emits from a forked process that it kills after this many seconds
            # (default 10): on a busy machine an event would be lost, and the test with it.
            "AIRFLOW__OPENLINEAGE__EXECUTION_TIMEOUT": "180",
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    run: dict[str, Any] = json.loads((tmp_path / "run.json").read_text())
    assert run["state"] == "success", (run["states"], (done.stdout + done.stderr)[-4000:])
    return run


def task_datasets(events: list[dict[str, Any]], job: str, event_type: str) -> tuple[Names, Names]:
    """The inputs and outputs of the one ``event_type`` event of task ``job`` (``dag.task``)."""
    found = [e for e in events if e["job"]["name"] == job and e["eventType"] == event_type]
    assert len(found) == 1, [(e["job"]["name"], e["eventType"]) for e in events]
    return names(found[0]["inputs"]), names(found[0]["outputs"])


@pytest.mark.slow
@pytest.mark.xdist_group("airflow")
def test_a_staged_submitted_archived_and_joined_run_names_its_datasets(
    emulator: EmulatorProcess, lineage_s3: LocalS3, lineage_bucket: str, image_host: ImageHost, tmp_path: Path
) -> None:
    bucket = lineage_bucket
    image = tmp_path / "start.png"
    image.write_bytes(make_image(640, 360, color="seagreen"))
    end_frame = image_host.url("landscape.png", query=SIGNED)
    source = f"""
from airflow.sdk import DAG
from airflow_video_gen.operators.archive import ArchiveVideoOperator
from airflow_video_gen.operators.join import JoinVideosOperator
from airflow_video_gen.operators.staging import StageImageOperator
from airflow_video_gen.operators.submit import SeedanceSubmitOperator
from airflow_video_gen.sensors.generation import SeedanceGenerationSensor

with DAG("lineage_pipeline", schedule=None) as dag:
    stage = StageImageOperator(task_id="stage", image={str(image)!r}, model={SEEDANCE!r},
                               dest_s3_uri="s3://{bucket}/inputs/")
    submit = SeedanceSubmitOperator(task_id="submit", model={SEEDANCE!r}, image=stage.output["s3_uri"],
                                    last_frame_image={end_frame!r}, text="The circle turns", duration=2,
                                    n=2, return_last_frame=True)
    wait = SeedanceGenerationSensor(task_id="wait", submission=submit.output, poll_interval=0.3)
    archive = ArchiveVideoOperator(task_id="archive", generation=wait.output, dest_s3_uri="s3://{bucket}/videos/")
    JoinVideosOperator(task_id="join", videos=archive.output, dest_s3_uri="s3://{bucket}/films/joined.mp4")
"""
    events_file = tmp_path / "events.jsonl"
    run = run_with_file_transport(
        source,
        "lineage_pipeline",
        events_file,
        {"AIRFLOW_CONN_AWS_DEFAULT": lineage_s3.connection_json()},
        tmp_path,
    )
    text = events_file.read_text()
    events = [json.loads(line) for line in text.splitlines() if line.strip()]
    ns = f"s3://{bucket}"
    staged_key = f"inputs/{hashlib.sha256(image.read_bytes()).hexdigest()}.png"
    assert run["returned"]["stage"]["s3_uri"] == f"{ns}/{staged_key}"
    images = [
        (ns, staged_key),
        (image_host.url("landscape.png").removesuffix("/landscape.png"), "landscape.png"),
    ]

    # stage: the local file in, the staged object out (its key, the sha256 of the bytes, known at the end).
    assert task_datasets(events, "lineage_pipeline.stage", "START") == ([("file", str(image))], [])
    assert task_datasets(events, "lineage_pipeline.stage", "COMPLETE") == (
        [("file", str(image))],
        [(ns, staged_key)],
    )

    # submit: the images sent, the staged S3 object and the end frame's URL without its signature.
    assert task_datasets(events, "lineage_pipeline.submit", "COMPLETE") == (images, [])

    # archive: the same images in; every video, its sidecar and contact sheet, and the last frame out.
    archived = run["returned"]["archive"]
    base = f"videos/bytedance-seedance-v1.0-pro/{archived['idempotency_key']}/"
    written = [
        *(f"{base}video-{i}{suffix}" for i in range(2) for suffix in (".mp4", ".json", "-contact.png")),
        f"{base}last-frame.png",
    ]
    assert task_datasets(events, "lineage_pipeline.archive", "START") == (images, [])
    assert task_datasets(events, "lineage_pipeline.archive", "COMPLETE") == (
        images,
        [(ns, key) for key in written],
    )
    client = lineage_s3.client()
    for key in written:
        assert client.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0, key

    # join: both clips in, the joined film out.
    clips = [(ns, f"{base}video-0.mp4"), (ns, f"{base}video-1.mp4")]
    assert task_datasets(events, "lineage_pipeline.join", "START") == (clips, [(ns, "films/joined.mp4")])
    assert task_datasets(events, "lineage_pipeline.join", "COMPLETE") == (clips, [(ns, "films/joined.mp4")])
    assert run["returned"]["join"]["s3_uri"] == f"{ns}/films/joined.mp4"

    # No signature, presigned query or key anywhere in what was emitted.
    for secret in ("lineage-secret-signature", "X-Amz-Signature", "X-Amz-Credential", API_KEY):
        assert secret not in text


@pytest.mark.slow
@pytest.mark.xdist_group("airflow")
def test_without_a_transport_the_task_log_says_nothing_of_lineage(
    lineage_s3: LocalS3,
    lineage_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The OpenLineage provider installed (as here) but not configured: a run logs as it did."""
    for name in list(os.environ):
        if name.startswith(("AIRFLOW__OPENLINEAGE__", "OPENLINEAGE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", lineage_s3.connection_json())
    image = tmp_path / "start.png"
    image.write_bytes(make_image(640, 360))
    source = f"""
    from airflow.sdk import DAG
    from airflow_video_gen.operators.staging import StageImageOperator

    with DAG("lineage_off", schedule=None) as dag:
        StageImageOperator(task_id="stage", image={str(image)!r}, dest_s3_uri="s3://{lineage_bucket}/inputs/")
    """
    capfd.readouterr()
    result = run_dag(source, "lineage_off")
    out, err = capfd.readouterr()
    log = out + err
    assert result.state == "success", result.states
    assert f"Stored {result.xcom('stage')['s3_uri']}" in log  # the task's own log was read
    assert "openlineage" not in log.lower()
