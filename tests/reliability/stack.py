"""A real Airflow for the reliability tests: api-server, scheduler (LocalExecutor), dag-processor and
triggerer on SQLite (:class:`~airflow_video_gen.devtools.local_stack.LocalAirflow`), serving the DAG files of
``tests/reliability/dags/``, with emulators and a local S3 that outlive any component the tests kill.

Tasks start from a preloaded forkserver and free their slots within a second
(:func:`~airflow_video_gen.devtools.local_stack.quick_task_settings`, stock Airflow options): faster, and
what they do is unchanged.
"""

from __future__ import annotations

import json
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from cryptography.fernet import Fernet

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.devtools.local_s3 import LocalS3
from airflow_video_gen.devtools.local_stack import LocalAirflow, free_port
from tests.imaging import make_image
from tests.media import ImageHost

DAGS = Path(__file__).resolve().parent / "dags"
BUCKET = "reliability-stack"
#: The API key of the secrets test: distinctive, so that finding it anywhere is never a coincidence.
SECRET_KEY = f"sk-avg-reliability-{secrets.token_hex(16)}"
#: Emulator job faults under which the first job ends in ``error`` and the next three complete.
FIRST_JOB_FAILS = "job.error=0.5,seed=7"
#: A key the gateway refuses (a failure path that must not leak it either).
WRONG_KEY = f"sk-avg-wrong-{secrets.token_hex(16)}"
#: Latency of the triggerer-crash emulator: every sensor has deferred well before the first job ends
#: (fifty submits and fifty deferrals take 50-65 s on two busy cores).
CRASH_LATENCY = 90.0

T = TypeVar("T")


def wait_for(
    check: Callable[[], T | None], timeout: float, what: str | Callable[[], str], poll: float = 0.5
) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` s
    (a callable ``what`` is called then, so that it can tell the state things were left in)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what() if callable(what) else what}"
            )
        time.sleep(poll)


class Stack:
    """Emulators, a local S3, an image host and a real Airflow, started together.

    Emulators (one per test, so each one's counters belong to one test):
    ``crash`` (latency :data:`CRASH_LATENCY`), ``worker`` (latency 2 s) and ``secret`` (accepts only
    :data:`SECRET_KEY`, returns videos inline as base64). Connections: ``ai_gateway_crash``,
    ``ai_gateway_worker``, ``ai_gateway_secret``, ``ai_gateway_wrong_key`` (the secret emulator with
    :data:`WRONG_KEY`), ``ai_gateway_down`` (a port nothing listens on) and ``aws_default``.
    """

    def __init__(self, home: Path) -> None:
        self.home = home
        self.fernet_key = Fernet.generate_key().decode()
        self.image_path = home / "input.png"
        self.emulators: dict[str, EmulatorProcess] = {}
        self.s3: LocalS3 | None = None
        self.images: ImageHost | None = None
        self.airflow: LocalAirflow | None = None

    # -------------------------------------------------------------------------------- lifecycle

    def start(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.image_path.write_bytes(make_image(640, 360, color="seagreen"))
        self.images = ImageHost({"input.png": (make_image(480, 270, color="navy"), "image/png")}).start()
        self.s3 = LocalS3(subprocess=True).start()
        self.s3.create_bucket(BUCKET)
        for name, kwargs in {
            "crash": {"latency": CRASH_LATENCY},
            "worker": {"latency": 2.0},
            "secret": {"latency": 4.0, "api_key": SECRET_KEY, "results": "base64"},
            # Seeded job faults: the first job of each ends in error, the next three complete.
            "regen_clear": {"latency": 1.0, "faults": FIRST_JOB_FAILS},
            "regen_auto": {"latency": 1.0, "faults": FIRST_JOB_FAILS},
        }.items():
            self.emulators[name] = EmulatorProcess(**kwargs).start()  # type: ignore[arg-type]
        env = {
            "AIRFLOW_CONN_AI_GATEWAY_CRASH": self.emulators["crash"].connection_json(timeout=10),
            "AIRFLOW_CONN_AI_GATEWAY_WORKER": self.emulators["worker"].connection_json(timeout=10),
            "AIRFLOW_CONN_AI_GATEWAY_SECRET": self.emulators["secret"].connection_json(timeout=10),
            "AIRFLOW_CONN_AI_GATEWAY_REGEN_CLEAR": self.emulators["regen_clear"].connection_json(timeout=10),
            "AIRFLOW_CONN_AI_GATEWAY_REGEN_AUTO": self.emulators["regen_auto"].connection_json(timeout=10),
            "AIRFLOW_CONN_AI_GATEWAY_WRONG_KEY": self.emulators["secret"].connection_json(
                WRONG_KEY, timeout=10
            ),
            # A port nothing listens on.
            "AIRFLOW_CONN_AI_GATEWAY_DOWN": json.dumps(
                {
                    "conn_type": "ai_gateway",
                    "host": f"http://127.0.0.1:{free_port()}/v4/ai",
                    "password": SECRET_KEY,
                    "extra": {"timeout": 10},
                }
            ),
            "AIRFLOW_CONN_AWS_DEFAULT": self.s3.connection_json(),
            "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
            "RELIABILITY_BUCKET": BUCKET,
            "RELIABILITY_IMAGE_URL": self.images.url("input.png"),
            "RELIABILITY_MISSING_IMAGE_URL": self.images.url("missing.png"),
            "RELIABILITY_IMAGE_PATH": str(self.image_path),
        }
        self.airflow = LocalAirflow(self.home / "airflow", DAGS, env=env, quick_tasks=True)
        self.airflow.start()

    def stop(self) -> None:
        if self.airflow is not None:
            self.airflow.stop()
            self.airflow = None
        for emulator in self.emulators.values():
            emulator.stop()
        self.emulators.clear()
        if self.s3 is not None:
            self.s3.stop()
            self.s3 = None
        if self.images is not None:
            self.images.stop()
            self.images = None

    # -------------------------------------------------------------------------------- reading

    @property
    def af(self) -> LocalAirflow:
        assert self.airflow is not None, "the stack is not running"
        return self.airflow

    def run(self, dag_id: str, timeout: float) -> tuple[str, str, float]:
        """Trigger ``dag_id`` and wait for it: (run id, final state, seconds from trigger to end)."""
        run_id = self.af.trigger(dag_id)
        began = time.monotonic()
        state = self.af.wait_for_run(dag_id, run_id, timeout=timeout, poll=1)
        return run_id, state, time.monotonic() - began

    def states(self, dag_id: str, run_id: str, task_id: str) -> dict[str, int]:
        rows = self.af.query(
            "select coalesce(state, 'none'), count(*) from task_instance "
            "where dag_id = ? and run_id = ? and task_id = ? group by state",
            (dag_id, run_id, task_id),
        )
        return {state: count for state, count in rows}

    def tries(self, dag_id: str, run_id: str) -> dict[tuple[str, int], int]:
        """The try number of every task instance, by (task id, map index)."""
        rows = self.af.query(
            "select task_id, map_index, try_number from task_instance where dag_id = ? and run_id = ?",
            (dag_id, run_id),
        )
        return {(task_id, map_index): tries for task_id, map_index, tries in rows}

    def log_files(self) -> list[Path]:
        """Every file under ``AIRFLOW_HOME/logs``: task and trigger logs, and each component's output."""
        return sorted(p for p in (self.af.home / "logs").rglob("*") if p.is_file())

    def task_log(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, attempt: int = 1) -> str:
        path = (
            self.af.home
            / "logs"
            / f"dag_id={dag_id}"
            / f"run_id={run_id}"
            / f"task_id={task_id}"
            / (f"map_index={map_index}/" if map_index >= 0 else "")
            / f"attempt={attempt}.log"
        )
        return path.read_text(errors="replace") if path.exists() else ""

    def s3_keys(self, prefix: str) -> list[str]:
        assert self.s3 is not None
        pages = self.s3.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def pending_uploads(self, prefix: str) -> list[str]:
        assert self.s3 is not None
        answer = self.s3.client().list_multipart_uploads(Bucket=BUCKET, Prefix=prefix)
        return [u["Key"] for u in answer.get("Uploads", [])]

    def decrypt(self, token: str) -> str:
        """Trigger kwargs as stored (Fernet-encrypted JSON), decrypted with the stack's key."""
        if token.startswith("{"):
            return token
        return Fernet(self.fernet_key.encode()).decrypt(token.encode()).decode()


class TableWatcher(threading.Thread):
    """Samples rows of the metadata database from another thread while a run goes on, keeping every
    distinct row seen (trigger rows are deleted once their task resumes: they must be read while
    they exist)."""

    def __init__(self, stack: Stack, sql: str, every: float = 0.3) -> None:
        super().__init__(daemon=True)
        self.stack, self.sql, self.every = stack, sql, every
        self.rows: set[tuple[Any, ...]] = set()
        self.samples = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.rows.update(self.stack.af.query(self.sql))
                self.samples += 1
            except Exception:  # the database is busy now and then: sample again
                pass
            self._halt.wait(self.every)

    def stop(self) -> set[tuple[Any, ...]]:
        self._halt.set()
        self.join(timeout=10)
        return self.rows

    def __enter__(self) -> TableWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def kill_triggerer(stack: Stack) -> None:
    """SIGKILL the triggerer's whole process group (its trigger runner included): no goodbye."""
    stack.af.kill_component("triggerer", signal.SIGKILL)


def deferred_count(stack: Stack, dag_id: str, run_id: str, task_id: str) -> int:
    return stack.states(dag_id, run_id, task_id).get("deferred", 0)


def iter_key_forms(key: str) -> Iterator[bytes]:
    """The forms a leaked key could take: as is, URL-encoded, hex, and base64 at each alignment
    (a key inside a longer base64 string shows up as one of three runs of characters)."""
    import base64
    from urllib.parse import quote

    raw = key.encode()
    yield raw
    yield quote(key, safe="").encode()
    yield raw.hex().encode()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw)
        # Drop the characters that mix in the padding bytes or the unknown next byte.
        start = (shift * 4 + 2) // 3
        end = len(encoded) - 4
        for alphabet in (encoded, encoded.translate(bytes.maketrans(b"+/", b"-_"))):
            yield alphabet[start:end]
