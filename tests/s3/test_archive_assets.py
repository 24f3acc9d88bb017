"""The asset events of archived videos, in a real Airflow: one declared asset, an event per video
through the alias, and nothing in the task log about assets Airflow had to create on the fly."""

from __future__ import annotations

import json
import re
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.devtools.local_s3 import LocalS3
from tests.airflow_harness import run_dag
from tests.imaging import make_image
from tests.s3.conftest import Generate

pytestmark = pytest.mark.slow

VEO = "google/veo-3.1-fast-generate-001"
#: What Airflow logs when an asset event names an asset no DAG declared (airflow/assets/manager.py,
#: airflow/models/taskinstance.py): each of them for every video, were each video an asset of its own.
ASSET_NOISE = (
    "not found; cannot create asset event",
    "inactive AssetModel",
    "Dynamically creating AssetModel",
)


def test_archived_videos_are_asset_events_of_one_declared_asset_without_warnings(
    emulator: EmulatorProcess,
    moto: LocalS3,
    bucket: str,
    generate: Generate,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    generation = generate(VEO, image=make_image(), text="Slow pan", duration=4, n=2)
    source = f"""
    import json
    from airflow.sdk import DAG
    from airflow_video_gen.operators.archive import ArchiveVideoOperator

    with DAG("archive_assets", schedule=None) as dag:
        ArchiveVideoOperator(task_id="archive", generation=json.loads({json.dumps(generation)!r}),
                             dest_s3_uri="s3://{bucket}/videos/")
    """
    for run in range(2):  # the second run archives the same videos again (unchanged)
        capfd.readouterr()
        result = run_dag(source, "archive_assets")
        log = "".join(capfd.readouterr())
        assert result.state == "success", result.states
        assert "Asset events for 2 video(s) through alias 'ai_gateway_videos'" in log
        assert [noise for noise in ASSET_NOISE if noise in log] == [], f"run {run + 1}"

    videos = [v["s3_uri"] for v in result.xcom("archive")["videos"]]
    with create_session() as session:
        (asset,) = session.scalars(select(AssetModel).where(AssetModel.name == "ai_gateway_videos")).all()
        assert asset.active is not None
        events = session.scalars(
            select(AssetEvent).where(AssetEvent.asset_id == asset.id).order_by(AssetEvent.id)
        ).all()
        # No asset per video: none of this test's videos became an asset of its own.
        uris = session.scalars(select(AssetModel.uri)).all()
        assert [u for u in uris if u.startswith(f"s3://{bucket}/")] == []
        # Other tests of this process archive too: this DAG's events only.
        ours = [e for e in events if e.source_dag_id == "archive_assets"]
        per_video = [e.extra for e in ours if [a.name for a in e.source_aliases] == ["ai_gateway_videos"]]
        summaries = [e.extra for e in ours if not e.source_aliases]
    assert [extra["s3_uri"] for extra in per_video] == videos * 2
    assert {extra["model"] for extra in per_video} == {VEO}
    assert all(extra["sha256"] and extra["sidecar_s3_uri"].endswith(".json") for extra in per_video)
    assert (
        summaries == [{"videos": videos, "model": VEO, "idempotency_key": generation["idempotency_key"]}] * 2
    )


def test_no_alias_no_asset(emulator: EmulatorProcess, moto: LocalS3, bucket: str) -> None:
    from airflow_video_gen.operators.archive import ArchiveVideoOperator

    archive = ArchiveVideoOperator(
        task_id="archive", generation={}, dest_s3_uri=f"s3://{bucket}/v/", asset_alias=None
    )
    assert archive.outlets == []
    named = ArchiveVideoOperator(
        task_id="named", generation={}, dest_s3_uri=f"s3://{bucket}/v/", asset_alias="x"
    )
    assert [(type(o).__name__, o.name) for o in named.outlets] == [("AssetAlias", "x"), ("Asset", "x")]


def docs_consumer_dag() -> str:
    """The consumer DAG of docs/s3.md, as a reader copies it into a DAG file."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "s3.md").read_text()
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", page, re.DOTALL) if "publish_videos" in b]
    return block


def test_the_docs_consumer_sees_only_the_videos_that_triggered_its_run(
    emulator: EmulatorProcess, moto: LocalS3, bucket: str, generate: Generate, tmp_path: Path
) -> None:
    """A real scheduler, dag-processor and api-server: the archive DAG runs twice, each time the
    consumer of docs/s3.md runs on the new video and returns it, and only it."""
    from airflow_video_gen.devtools.local_stack import LocalAirflow

    generations = [
        generate(VEO, image=make_image(color=c), text="Slow pan", duration=4) for c in ("teal", "plum")
    ]
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "archive_videos.py").write_text(
        textwrap.dedent(f"""
        from airflow.sdk import DAG
        from airflow_video_gen.operators.archive import ArchiveVideoOperator

        with DAG("archive_videos", schedule=None, render_template_as_native_obj=True):
            ArchiveVideoOperator(task_id="archive", generation="{{{{ dag_run.conf['generation'] }}}}",
                                 dest_s3_uri="s3://{bucket}/videos/")
        """)
    )
    (dags / "publish_videos.py").write_text(docs_consumer_dag())
    env = {"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False"}
    components = ("api-server", "scheduler", "dag-processor")
    with LocalAirflow(tmp_path / "airflow", dags, env=env, components=components, quick_tasks=True) as af:
        af.wait_for_dag("publish_videos")
        seen = []
        for number, generation in enumerate(generations, start=1):
            run_id = af.trigger("archive_videos", {"generation": generation})
            assert af.wait_for_run("archive_videos", run_id, timeout=300) == "success"
            (archived,) = af.xcoms("archive_videos", run_id, "archive")
            consumer = wait_for_consumer_run(af, number)
            assert af.wait_for_run("publish_videos", consumer, timeout=300) == "success"
            assert af.xcoms("publish_videos", consumer, "publish") == [
                [v["s3_uri"] for v in archived["videos"]]
            ]
            seen.append(archived["videos"][0]["s3_uri"])
        assert len(set(seen)) == 2
        # The events were registered by the api-server: it has nothing to say about assets.
        log = (af.home / "logs" / "api-server.out").read_text(errors="replace")
        assert [noise for noise in ASSET_NOISE if noise in log] == []


def wait_for_consumer_run(af: Any, count: int, timeout: float = 120) -> str:
    """The run id of the ``count``-th asset-triggered run of ``publish_videos``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = af.query(
            "select run_id from dag_run where dag_id = 'publish_videos' and run_type = 'asset_triggered' "
            "order by id"
        )
        if len(runs) >= count:
            assert len(runs) == count, runs
            return str(runs[count - 1][0])
        time.sleep(1)
    raise AssertionError(f"publish_videos did not run a {count}th time:\n{af.log_tail('scheduler')}")
