"""Waits that end on the gateway's callback, on a real Airflow (api-server with the provider's
callback endpoint, scheduler, dag-processor, triggerer): twenty generations complete through their
callbacks with at most one status call each; two whose callbacks are lost complete by polling; the
endpoint refuses unsigned, forged and stale callbacks; and the signing secrets are nowhere but in
their Variables while the waits last, and gone after."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import pytest
from cryptography.fernet import Fernet

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.devtools.local_stack import LocalAirflow
from tests.imaging import make_image
from tests.media import ImageHost
from tests.reliability.stack import iter_key_forms

pytestmark = [pytest.mark.slow]

DAGS = Path(__file__).resolve().parent / "dags"
#: Seconds between fallback status calls: longer than a callback takes to end a wait here, so a
#: second status call on a generation whose callback came would show.
FALLBACK = 30


class CallbackStack:
    def __init__(self, home: Path) -> None:
        self.fernet_key = Fernet.generate_key().decode()
        self.images = ImageHost({"input.png": (make_image(480, 270, color="navy"), "image/png")}).start()
        args = ["--callback-backoff", "0.5"]
        # Long enough that every sensor has deferred, and its secret is in a Variable for seconds,
        # before its job ends, even on a busy machine: the test reads the Variables as they come.
        self.emulator = EmulatorProcess(latency=8.0, extra_args=args).start()
        self.lost = EmulatorProcess(latency=3.0, faults="callback.drop=1", extra_args=args).start()
        self.af = LocalAirflow(home / "airflow", DAGS, quick_tasks=True)
        self.endpoint = f"http://127.0.0.1:{self.af.api_port}/video-gen-callbacks/gateway"
        self.af.env.update(
            {
                "AIRFLOW_CONN_AI_GATEWAY_CALLBACKS": self.emulator.connection_json(timeout=10),
                "AIRFLOW_CONN_AI_GATEWAY_CALLBACKS_LOST": self.lost.connection_json(timeout=10),
                "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
                "AIRFLOW__VIDEO_GEN__CALLBACK_URL": self.endpoint,
                "AIRFLOW__VIDEO_GEN__CALLBACK_FALLBACK_INTERVAL": str(FALLBACK),
                "AIRFLOW__VIDEO_GEN__CALLBACK_LOOK_INTERVAL": "1",
                "CALLBACK_IMAGE_URL": self.images.url("input.png"),
            }
        )
        self.af.start()

    def stop(self) -> None:
        self.af.stop()
        self.emulator.stop()
        self.lost.stop()
        self.images.stop()

    def variables(self) -> dict[str, str]:
        rows = self.af.query("select key, val from variable where key like 'video_gen_callback_%'")
        fernet = Fernet(self.fernet_key.encode())
        return {key: fernet.decrypt(val.encode()).decode() for key, val in rows}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CallbackStack]:
    made = CallbackStack(tmp_path_factory.mktemp("callbacks"))
    try:
        yield made
    finally:
        made.stop()


def _sign(secret: str, body: bytes, stamp: int) -> str:
    return (
        f"t={stamp},v1={hmac.new(secret.encode(), f'{stamp}.'.encode() + body, hashlib.sha256).hexdigest()}"
    )


@pytest.mark.timeout(600)
def test_callbacks_end_waits_with_one_status_call_and_lost_ones_end_by_polling(stack: CallbackStack) -> None:
    af = stack.af
    began = time.monotonic()
    twenty = af.trigger("callback_twenty")
    lost = af.trigger("callback_lost")
    secrets_seen: dict[str, str] = {}
    triggers: set[str] = set()
    forged: dict[str, int] = {}
    tried: set[str] = set()
    while af.run_state("callback_twenty", twenty) not in ("success", "failed") or af.run_state(
        "callback_lost", lost
    ) not in ("success", "failed"):
        assert time.monotonic() - began < 300, af.task_states("callback_lost", lost)
        triggers.update(kwargs for (kwargs,) in af.query("select kwargs from trigger"))
        for key, value in stack.variables().items():
            if key.startswith("video_gen_callback_secret__"):
                secrets_seen[key.removeprefix("video_gen_callback_secret__")] = value
        untried = [job for job in secrets_seen if job not in tried]
        if untried and not forged:
            untried = [job for job in untried if job in stack.lost.jobs()]
        if untried and not forged:
            # The live endpoint, with a job that waits (one whose callback is lost waits for the
            # fallback poll): only its own secret, fresh, signs for it.
            job_id = untried[0]
            secret = secrets_seen[job_id]
            tried.add(job_id)
            body = json.dumps(
                {"type": "video.generation.completed", "data": {"jobId": job_id, "status": "completed"}}
            ).encode()
            now = int(time.time())
            for case, headers in {
                "unsigned": {},
                "malformed": {"x-ai-gateway-signature": "v1=abc"},
                "forged": {"x-ai-gateway-signature": _sign("whsec_guess", body, now)},
                "stale": {"x-ai-gateway-signature": _sign(secret, body, now - 600)},
            }.items():
                forged[case] = httpx.post(
                    stack.endpoint, content=body, headers=headers, timeout=10
                ).status_code
            other = json.dumps(
                {
                    "type": "video.generation.completed",
                    "data": {"jobId": "job_elsewhere", "status": "completed"},
                }
            ).encode()
            forged["unknown job"] = httpx.post(
                stack.endpoint,
                content=other,
                headers={"x-ai-gateway-signature": _sign(secret, other, now)},
                timeout=10,
            ).status_code
            if f"video_gen_callback_secret__{job_id}" not in stack.variables():
                # Its wait ended meanwhile (a job no wait knows of is a 404): again with another.
                forged.clear()
        time.sleep(0.3)
    took = time.monotonic() - began

    assert af.run_state("callback_twenty", twenty) == "success", af.task_states("callback_twenty", twenty)
    assert af.run_state("callback_lost", lost) == "success", af.task_states("callback_lost", lost)
    assert forged == {"unsigned": 401, "malformed": 401, "forged": 401, "stale": 401, "unknown job": 404}

    # Twenty generations, each ended by its callback: one status call each, none before it. A task
    # that only started on a later try (its first failed to reach Airflow under load) also reads
    # the status once after its start, as every retried submit does.
    tries = dict(
        af.query(
            "select json_extract(x.value, '$.callback_job'), t.try_number from xcom x join task_instance t "
            "on x.dag_id = t.dag_id and x.run_id = t.run_id and x.task_id = t.task_id "
            "and x.map_index = t.map_index where x.key = 'return_value' and x.dag_id = 'callback_twenty'"
        )
    )
    jobs = stack.emulator.jobs()
    assert len(jobs) == 20
    assert set(tries) == set(jobs)
    for job_id, job in jobs.items():
        assert job["state"] == "completed", (job_id, job)
        assert job["callback"]["delivered"], (job_id, job)
        assert job["status_calls"] == (1 if tries[job_id] == 1 else 2), (job_id, job, tries[job_id])
    # Two whose callbacks were lost: completed by the fallback polls.
    lost_jobs = stack.lost.jobs()
    assert len(lost_jobs) == 2
    for job_id, job in lost_jobs.items():
        assert job["callback"] == {"attempts": 0, "delivered": False, "dropped": True}, job
        assert job["status_calls"] >= 1, job
        assert job_id in secrets_seen

    # What the sensors return: the videos; one of them is a real one-second MP4.
    results = af.query(
        "select dag_id, value from xcom where key = 'return_value' and dag_id in ('callback_twenty', 'callback_lost')"
    )
    assert len(results) == 22
    for _dag_id, value in results:
        result = json.loads(value)
        assert result["status"] == "completed"
        assert len(result["videos"]) == 1
        assert "callback_job" in result
    first = json.loads(results[0][1])["videos"][0]
    video = httpx.get(first["url"], timeout=30)
    with av.open(io.BytesIO(video.content)) as container:
        stream = container.streams.video[0]
        assert stream.duration is not None
        assert stream.time_base is not None
        assert abs(float(stream.duration * stream.time_base) - 1.0) < 0.2

    # The secrets: kept in Variables while the waits lasted, deleted after, and nowhere else. A
    # wait whose first status call already finds its video (a sensor that starts late on a busy
    # machine) ends at once, its secret deleted before this test could read it: the secrets of the
    # two lost callbacks (their waits last until the fallback poll) are always read, the others
    # when their waits were seen.
    assert set(lost_jobs) <= set(secrets_seen) <= set(jobs) | set(lost_jobs)
    assert stack.variables() == {}
    forms = [form for secret in secrets_seen.values() for form in iter_key_forms(secret)]
    for path in (af.home / "logs").rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            assert not [f for f in forms if f in blob], path
    fernet = Fernet(stack.fernet_key.encode())
    assert triggers
    for stored in triggers:
        plain = stored if stored.startswith("{") else fernet.decrypt(stored.encode()).decode()
        assert '"callback_job"' in plain
        assert not [f for f in forms if f in plain.encode()], plain
    xcoms = af.query("select value from xcom where dag_id in ('callback_twenty', 'callback_lost')")
    for (value,) in xcoms:
        blob = value if isinstance(value, bytes) else str(value).encode()
        assert not [f for f in forms if f in blob]
    print(
        f"CALLBACKS twenty+lost in {took:.1f} s; status calls: "
        f"{sum(j['status_calls'] for j in jobs.values())} for 20 called back, "
        f"{sum(j['status_calls'] for j in lost_jobs.values())} for 2 lost (fallback {FALLBACK} s); "
        f"tasks on a later try: {sum(1 for t in tries.values() if t > 1)}"
    )
