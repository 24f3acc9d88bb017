"""``airflow-video-gen videos``: a real Airflow run archives videos (emulator, moto S3), then the command
lists them from the run's XComs and downloads MP4s that decode."""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from airflow_video_gen.cli import main
from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.devtools.local_s3 import LocalS3
from tests.airflow_harness import run_dag
from tests.imaging import make_image

pytestmark = pytest.mark.slow

DAG_ID = "videos_command"
MODEL = "bytedance/seedance-v1.0-pro-fast"


def _source(bucket: str) -> str:
    return f"""
    from airflow.sdk import DAG
    from airflow_video_gen.operators.archive import ArchiveVideoOperator
    from airflow_video_gen.operators.submit import SeedanceSubmitOperator
    from airflow_video_gen.sensors.generation import SeedanceGenerationSensor

    with DAG({DAG_ID!r}, schedule=None, params={{"prompt": "The leaves sway"}}) as dag:
        submit = SeedanceSubmitOperator.partial(
            task_id="submit", model={MODEL!r}, text="{{{{ params.prompt }}}}", duration=2
        ).expand(image=["s3://{bucket}/in/green.png", "s3://{bucket}/in/red.png"])
        wait = SeedanceGenerationSensor.partial(task_id="wait", poll_interval=0.3).expand(
            submission=submit.output
        )
        ArchiveVideoOperator.partial(task_id="archive", dest_s3_uri="s3://{bucket}/videos/").expand(
            generation=wait.output
        )
    """


def _read(s3: Any, uri: str) -> bytes:
    bucket, key = uri[len("s3://") :].split("/", 1)
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def _run_ids() -> list[str]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return list(
            session.scalars(select(DagRun.run_id).where(DagRun.dag_id == DAG_ID).order_by(DagRun.run_after))
        )


@pytest.fixture(scope="module")
def two_runs(emulator: EmulatorProcess, moto: LocalS3, s3: Any) -> dict[str, Any]:
    """Two runs of a DAG that archives two videos each (a mapped archive), with different prompts."""
    bucket = "test-videos-command"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="in/green.png", Body=make_image(640, 360, color="seagreen"))
    s3.put_object(Bucket=bucket, Key="in/red.png", Body=make_image(640, 360, color="firebrick"))
    first = run_dag(_source(bucket), DAG_ID)
    assert first.state == "success", first.states
    second = run_dag(_source(bucket), DAG_ID, conf={"prompt": "The wind picks up"})
    assert second.state == "success", second.states
    old_id, new_id = _run_ids()
    return {
        "bucket": bucket,
        "runs": {old_id: first, new_id: second},
        "old": old_id,
        "new": new_id,
    }


def _table(out: str) -> tuple[str, list[list[str]]]:
    """The command's summary line and its rows (header first): cells are two spaces or more apart."""
    summary, *lines = out.splitlines()
    return summary, [re.split(r" {2,}", line) for line in lines]


def test_lists_the_videos_of_the_latest_run(
    two_runs: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["videos", DAG_ID]) == 0
    summary, rows = _table(capsys.readouterr().out)
    new_id = two_runs["new"]
    assert summary == f"DAG {DAG_ID}, run {new_id} (success): 2 videos"
    assert rows[0] == ["TASK", "MODEL", "SIZE", "SHA256", "S3 URI"]
    archived = [two_runs["runs"][new_id].xcom("archive", map_index=i) for i in (0, 1)]
    expected = [
        [f"archive[{i}]", MODEL, record["videos"][0]["sha256"][:12], record["videos"][0]["s3_uri"]]
        for i, record in enumerate(archived)
    ]
    assert [[task, model, sha, uri] for task, model, _, sha, uri in rows[1:]] == expected
    for (_, _, size, _, uri), record in zip(rows[1:], archived, strict=True):
        number, unit = size.split()
        assert unit == "KiB"
        assert abs(float(number) * 1024 - record["videos"][0]["size"]) <= 0.05 * 1024
        assert uri.startswith(f"s3://{two_runs['bucket']}/videos/bytedance-seedance-v1.0-pro-fast/avg_")


def test_an_older_run_by_its_id_and_as_json(
    two_runs: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    old_id = two_runs["old"]
    assert main(["videos", DAG_ID, old_id, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert (listed["dag_id"], listed["run_id"], listed["state"]) == (DAG_ID, old_id, "success")
    first = two_runs["runs"][old_id]
    assert [v["s3_uri"] for v in listed["videos"]] == [
        first.xcom("archive", map_index=i)["videos"][0]["s3_uri"] for i in (0, 1)
    ]
    assert [(v["task_id"], v["map_index"], v["model"]) for v in listed["videos"]] == [
        ("archive", 0, MODEL),
        ("archive", 1, MODEL),
    ]
    second = two_runs["runs"][two_runs["new"]]
    newer = {second.xcom("archive", map_index=i)["videos"][0]["s3_uri"] for i in (0, 1)}
    assert not newer & {v["s3_uri"] for v in listed["videos"]}, "the runs archived different videos"


def test_download_writes_mp4s_that_decode_and_their_contact_sheets(
    two_runs: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], decode_mp4: Any
) -> None:
    new_id = two_runs["new"]
    assert main(["videos", DAG_ID, "--download", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / new_id
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "archive-0-video-0-contact.png",
        "archive-0-video-0.mp4",
        "archive-1-video-0-contact.png",
        "archive-1-video-0.mp4",
    ]
    for i in (0, 1):
        entry = two_runs["runs"][new_id].xcom("archive", map_index=i)["videos"][0]
        data = (folder / f"archive-{i}-video-0.mp4").read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        video = decode_mp4(data)
        assert abs(video.duration - 2) <= 1 / 24 + 1e-6
        assert f"{folder / f'archive-{i}-video-0.mp4'}: " in out
        sheet = Image.open(io.BytesIO((folder / f"archive-{i}-video-0-contact.png").read_bytes()))
        assert sheet.format == "PNG"
    assert out.count("sha256 checked") == 2

    # Again: the videos already there are not fetched a second time.
    assert main(["videos", DAG_ID, "--download", str(tmp_path)]) == 0
    assert capsys.readouterr().out.count(": already there (sha256 ") == 2


def test_a_run_or_dag_that_does_not_exist_is_named_with_what_exists(
    two_runs: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["videos", DAG_ID, "manual__no-such-run"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert (
        f"DAG '{DAG_ID}' has no run 'manual__no-such-run'; its latest runs: {two_runs['new']}, {two_runs['old']} "
        f"(all of them: airflow dags list-runs {DAG_ID})"
    ) in captured.err

    assert main(["videos", "no_such_dag"]) == 1
    assert "DAG 'no_such_dag' has no runs in this Airflow's metadata database" in capsys.readouterr().err


def test_a_video_replaced_or_deleted_after_the_run_is_not_saved(
    two_runs: dict[str, Any], s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old_id = two_runs["old"]
    first = two_runs["runs"][old_id]
    replaced = first.xcom("archive", map_index=0)["videos"][0]
    deleted = first.xcom("archive", map_index=1)["videos"][0]
    bucket, key = replaced["s3_uri"][len("s3://") :].split("/", 1)
    s3.put_object(Bucket=bucket, Key=key, Body=b"other bytes")
    s3.delete_object(Bucket=bucket, Key=deleted["contact_sheet_s3_uri"].split("/", 3)[3])

    assert main(["videos", DAG_ID, old_id, "--download", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    other = hashlib.sha256(b"other bytes").hexdigest()[:12]
    assert (
        f"{replaced['s3_uri']} now holds other bytes (sha256 {other}, the archive recorded "
        f"{replaced['sha256'][:12]}): it was replaced after the run; not saved"
    ) in captured.err
    assert (
        f"{deleted['contact_sheet_s3_uri']} does not exist (connection 'aws_default'): it was deleted or "
        "moved after the run"
    ) in captured.err
    names = sorted(p.name for p in (tmp_path / old_id).iterdir())
    assert names == ["archive-0-video-0-contact.png", "archive-1-video-0.mp4"], "nothing half-written"
    assert _read(s3, deleted["s3_uri"]) == (tmp_path / old_id / "archive-1-video-0.mp4").read_bytes()
