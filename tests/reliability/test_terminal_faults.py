"""Faults no retry can fix: jobs that end in ``error`` or ``cancelled``, results over the download
cap (announced, and found out mid-stream), and a gateway that vanishes for a minute and comes back without its jobs. Each ends in the task state and
message a user would want, bills nothing twice and leaves nothing in S3, not even a pending
multipart upload. A result URL that expired before the archive ran is renewed by one more status
call (the emulator publishes the files again) and the video is stored."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.devtools.local_s3 import LocalS3
from airflow_video_gen.devtools.local_stack import free_port
from tests.airflow_harness import run_dag
from tests.media import ImageHost
from tests.reliability.conftest import AWS_CONN, leftovers, report, retries_by_task, use_gateway
from tests.s3.servers import FileHost, Served, make_mp4

pytestmark = [pytest.mark.slow]

MiB = 1024 * 1024
#: How long the gateway is gone in the outage test.
OUTAGE_S = 60.0


def _log(capfd: pytest.CaptureFixture[str]) -> str:
    out, err = capfd.readouterr()
    return out + err


@pytest.fixture
def images(image_host: ImageHost) -> str:
    return image_host.url("landscape.png")


@pytest.fixture
def gateways(airflow_home: Path) -> Iterator[dict[str, EmulatorProcess]]:
    """One emulator per way of ending: every job fails, every job is cancelled, files expire in 1 s,
    nothing goes wrong."""
    emulators = {
        "error": EmulatorProcess(latency=0.5, faults="job.error=1,seed=1"),
        "cancel": EmulatorProcess(latency=0.5, faults="job.cancel=1,seed=1"),
        "short": EmulatorProcess(latency=0.5, file_ttl=1.0),
        "plain": EmulatorProcess(latency=0.5),
    }
    try:
        for name, emulator in emulators.items():
            emulator.start()
            use_gateway(emulator, f"ai_gateway_rel_{name}")
        yield emulators
    finally:
        for emulator in emulators.values():
            emulator.stop()


def test_terminal_outcomes_fail_once_with_the_reason_and_leave_nothing_in_s3(
    gateways: dict[str, EmulatorProcess],
    images: str,
    rel_s3: LocalS3,
    rel_bucket: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    with FileHost() as cdn:
        # A CDN that sends a 12 MiB video without announcing its length: the cap trips mid-stream,
        # after the first 5 MiB part of the multipart upload is already in S3.
        cdn_url = cdn.add("unannounced.mp4", Served(head=make_mp4(1.0), size=12 * MiB, announce_length=False))
        source = f"""
        import time
        from datetime import timedelta
        from airflow.sdk import DAG, task
        from airflow_video_gen.operators.archive import ArchiveVideoOperator
        from airflow_video_gen.operators.submit import GrokSubmitOperator
        from airflow_video_gen.sensors.generation import GrokGenerationSensor

        def chain(name, conn, **archive):
            submit = GrokSubmitOperator(task_id=f"submit_{{name}}", image={images!r}, duration=1,
                                        gateway_conn_id=conn)
            wait = GrokGenerationSensor(task_id=f"wait_{{name}}", submission=submit.output,
                                        poll_interval=0.3, gateway_conn_id=conn)
            return wait, dict(dest_s3_uri=f"s3://{rel_bucket}/{{name}}/", aws_conn_id={AWS_CONN!r},
                              gateway_conn_id=conn, **archive)

        @task
        def linger(generation):
            time.sleep(2.5)  # the result URL lives 1 s after the job completes
            return generation

        @task
        def from_cdn():
            return {{"model": "xai/grok-imagine-video", "operation": {{"gatewayJobId": "job_cdn"}},
                     "idempotency_key": "avg_cdn", "status": "completed",
                     "videos": [{{"type": "url", "url": {cdn_url!r}, "mediaType": "video/mp4"}}]}}

        # Retries are allowed everywhere: a terminal outcome must not use them.
        with DAG("reliability_terminal_faults", schedule=None,
                 default_args={{"retries": 2, "retry_delay": timedelta(seconds=1)}}) as dag:
            for name, conn in (("error", "ai_gateway_rel_error"), ("cancel", "ai_gateway_rel_cancel")):
                wait, kw = chain(name, conn)
                ArchiveVideoOperator(task_id=f"archive_{{name}}", generation=wait.output, **kw)
            wait, kw = chain("expired", "ai_gateway_rel_short")
            ArchiveVideoOperator(task_id="archive_expired", generation=linger(wait.output), **kw)
            wait, kw = chain("too_large", "ai_gateway_rel_plain", max_video_bytes=1000)
            ArchiveVideoOperator(task_id="archive_too_large", generation=wait.output, **kw)
            ArchiveVideoOperator(task_id="archive_unannounced", generation=from_cdn(),
                                 dest_s3_uri="s3://{rel_bucket}/unannounced/", aws_conn_id={AWS_CONN!r},
                                 gateway_conn_id="ai_gateway_rel_plain",
                                 max_video_bytes=6 * 1024 * 1024, part_size=5 * 1024 * 1024)
        """
        capfd.readouterr()
        began = time.monotonic()
        result = run_dag(source, "reliability_terminal_faults")
        took = time.monotonic() - began
        log = _log(capfd)

    states = result.states
    expected = {
        "wait_error": "failed",
        "archive_error": "upstream_failed",
        "wait_cancel": "failed",
        "archive_cancel": "upstream_failed",
        "wait_expired": "success",
        # The emulator's status call publishes expired files again: archive renews the URL once.
        "archive_expired": "success",
        "wait_too_large": "success",
        "archive_too_large": "failed",
        "archive_unannounced": "failed",
    }
    assert {t: states[t] for t in expected} == expected, states
    # Terminal: one try each, although two retries were allowed.
    retries = retries_by_task("reliability_terminal_faults")
    assert {t: retries[t] for t in expected if expected[t] == "failed"} == dict.fromkeys(
        (t for t in expected if expected[t] == "failed"), 0
    ), retries

    # The messages say what happened, to which generation, and what to do.
    assert "Video generation error: xai/grok-imagine-video" in log
    assert "Async video job failed (injected fault: job.error)" in log
    assert "Video generation cancelled: xai/grok-imagine-video" in log
    assert "the generation was cancelled" in log
    assert "the video URL had expired; a fresh one from the status call was used" in log
    assert "ArchiveVideoOperator max_video_bytes:" in log
    assert "the cap is 1,000" in log
    assert "video is larger than the cap of 6,291,456 bytes" in log

    # Billed once each; nothing half-stored anywhere under the destinations.
    assert gateways["error"].stats()["starts_billed"] == 1
    assert gateways["cancel"].stats()["starts_billed"] == 1
    assert gateways["short"].stats()["starts_billed"] == 1
    assert gateways["plain"].stats()["starts_billed"] == 1
    for prefix in ("error/", "cancel/", "too_large/", "unannounced/"):
        assert leftovers(rel_s3, rel_bucket, prefix) == ([], []), prefix
    report(
        "terminal_faults",
        seconds_total=round(took, 1),
        outcomes={t: states[t] for t in expected},
        task_retries={t: retries.get(t, 0) for t in expected},
        s3_objects_left=0,
        multipart_uploads_left=0,
    )


@pytest.mark.timeout(600)
def test_gateway_gone_for_a_minute_then_back_without_its_jobs(
    airflow_home: Path, images: str, rel_s3: LocalS3, rel_bucket: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """The emulator keeps jobs in memory only (``--files-dir`` holds rendered files, not jobs), so
    the gateway that comes back has lost them. What a user wants then: the waits ride out the
    outage on Airflow's retries, then fail for good with the gateway's "unknown operation" (no
    retry can bring the job back), and nothing is started again behind their back: re-running the
    submit task is their call."""
    port = free_port()
    first = EmulatorProcess(latency=30, port=port).start()
    conn = use_gateway(first, "ai_gateway_rel_outage")
    second: list[EmulatorProcess] = []
    timeline: dict[str, float] = {}
    began = time.monotonic()

    def outage() -> None:
        try:
            deadline = time.monotonic() + 120
            while first.stats()["polls_served"] < 3 and time.monotonic() < deadline:
                time.sleep(0.2)
            timeline["starts_before"] = first.stats()["starts_billed"]
            first.stop()
            timeline["down"] = time.monotonic() - began
            time.sleep(OUTAGE_S)
            second.append(EmulatorProcess(latency=30, port=port).start())
            timeline["up"] = time.monotonic() - began
        except Exception as exc:  # reported by the main thread
            timeline["error"] = repr(exc)  # type: ignore[assignment]

    source = f"""
    from datetime import timedelta
    from airflow.sdk import DAG
    from airflow_video_gen.operators.archive import ArchiveVideoOperator
    from airflow_video_gen.operators.submit import GrokSubmitOperator
    from airflow_video_gen.sensors.generation import GrokGenerationSensor

    # Eight retries 10 s apart outlast a one-minute outage.
    with DAG("reliability_outage", schedule=None,
             default_args={{"retries": 8, "retry_delay": timedelta(seconds=10)}}) as dag:
        submit = GrokSubmitOperator.partial(task_id="submit", image={images!r}, duration=1,
                                            gateway_conn_id={conn!r}).expand(text=["fog lifts", "rain stops"])
        wait = GrokGenerationSensor.partial(task_id="wait", poll_interval=1, max_retries=2,
                                            gateway_conn_id={conn!r}).expand(submission=submit.output)
        ArchiveVideoOperator.partial(task_id="archive", dest_s3_uri="s3://{rel_bucket}/outage/",
                                     aws_conn_id={AWS_CONN!r}, gateway_conn_id={conn!r}).expand(generation=wait.output)
    """
    watcher = threading.Thread(target=outage, daemon=True)
    try:
        watcher.start()
        capfd.readouterr()
        result = run_dag(source, "reliability_outage")
        took = time.monotonic() - began
        log = _log(capfd)
        watcher.join(timeout=OUTAGE_S + 90)
        assert "error" not in timeline, timeline
        assert second, "the gateway never came back"
        returned = second[0].stats()
    finally:
        first.stop()
        for emulator in second:
            emulator.stop()

    assert result.states == {
        "submit[0]": "success",
        "submit[1]": "success",
        "wait[0]": "failed",
        "wait[1]": "failed",
        "archive": "upstream_failed",
    }, result.states
    # The outage was ridden out on retries (each try failing as transient, to be retried)...
    retries = retries_by_task("reliability_outage")
    assert retries["submit"] == 0
    assert retries["wait"] >= 2 * 4, retries
    assert "Gateway unavailable while waiting for" in log
    assert ": Airflow retries it" in log
    assert "Connection refused" in log or "ConnectError" in log
    # ...and ended for good once the gateway answered that it does not know the jobs.
    assert "Unknown operation: no job" in log
    assert took >= OUTAGE_S
    # Nothing was started again on the new gateway, and nothing reached S3.
    assert timeline["starts_before"] == 2
    assert returned["start_calls"] == 0
    assert returned["starts_billed"] == 0
    assert returned["polls_served"] >= 2
    assert leftovers(rel_s3, rel_bucket, "outage/") == ([], [])
    report(
        "gateway_outage",
        seconds_total=round(took, 1),
        seconds_down=round(timeline["up"] - timeline["down"], 1),
        sensor_retries=retries["wait"],
        starts_billed_before=timeline["starts_before"],
        starts_after_return=returned["starts_billed"],
        polls_after_return=returned["polls_served"],
        outcome={k: v for k, v in result.states.items() if k.startswith("wait")},
    )
