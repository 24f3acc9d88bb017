"""A real Airflow on the CeleryExecutor: Debian's ``redis-server`` as broker and result backend, the
api-server, scheduler and dag-processor of
:class:`~airflow_video_gen.devtools.local_stack.LocalAirflow`, two ``airflow triggerer`` and two
``airflow celery worker`` processes, with the emulator and a local S3 (moto server).

The workers share nothing on disk with each other or with the rest of the stack but the DAGs folder:
each has its own ``AIRFLOW_HOME`` (so its own task logs), working directory and temp dir, and never
opens the metadata database (Airflow 3 workers talk to the api-server). Images reach them through S3.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.devtools.local_s3 import LocalS3
from airflow_video_gen.devtools.local_stack import LocalAirflow, StackError, free_port
from tests.reliability.stack import wait_for

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "dags" / "image_to_video_pipeline.py"
SAMPLE_IMAGES = ROOT / "dags" / "sample_images"
REDIS_SERVER = Path("/usr/bin/redis-server")
MISSING_REDIS = (
    f"{REDIS_SERVER} is missing: the CeleryExecutor test runs a real Redis broker. "
    "Install it with `make system-packages` (Debian's redis-server, chromium and chromium-driver)."
)
BUCKET = "celery-stack"
DAG_ID = "image_to_video_pipeline"
#: What a Celery worker logs for each task workload it takes (airflow.providers.celery), with its log path.
DELIVERED = re.compile(
    r"Executing workload in Celery: .*?log_path='[^']*/task_id=([^/]+)/(?:map_index=(\d+)/)?"
)
#: What the task supervisor logs when a task process ends: how, and the task instance's id.
ENDED = re.compile(r"Workload finished .*?final_state=(\w+) .*?workload_id=([0-9a-f-]+)")


class RedisServer:
    """``redis-server`` on a free loopback port, in a directory of its own, with no persistence.

    :param directory: Its working directory (nothing is written there: no RDB, no AOF).
    :param binary: The server binary (default :data:`REDIS_SERVER`).
    """

    def __init__(self, directory: Path, binary: Path = REDIS_SERVER) -> None:
        self.directory = directory
        self.binary = binary
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 20) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._log = open(self.directory / "redis.out", "ab")  # noqa: SIM115 - closed by stop()
        # No RDB snapshot, no append-only file: nothing of it outlives the test.
        settings = {"bind": "127.0.0.1", "port": str(self.port), "dir": str(self.directory), "save": ""}
        settings |= {"appendonly": "no", "daemonize": "no", "protected-mode": "yes"}
        self._process = subprocess.Popen(
            [str(self.binary), *(part for key, value in settings.items() for part in (f"--{key}", value))],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode}:\n{self.output()}")
            if self.ping():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"redis-server did not answer PING in {timeout:g} s:\n{self.output()}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def output(self) -> str:
        path = self.directory / "redis.out"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


class CeleryStack:
    """Redis, the emulator, a local S3 holding the sample images under ``inputs/``, and a real
    Airflow on the CeleryExecutor with ``triggerer-1``, ``triggerer-2``, ``worker-1`` and ``worker-2``.

    :param home: Where everything lives (Airflow's home under ``airflow/``, workers under ``workers/``).
    :param latency: Seconds each emulated generation takes.
    :param concurrency: Task slots of each Celery worker.
    :param reassign_after: ``[triggerer] triggerer_health_check_threshold``: seconds without a heartbeat
        after which a triggerer's triggers go to another one.
    """

    def __init__(
        self, home: Path, *, latency: float, concurrency: int = 2, reassign_after: float = 6
    ) -> None:
        self.home = home
        self.latency = latency
        self.concurrency = concurrency
        self.reassign_after = reassign_after
        self.redis: RedisServer | None = None
        self.emulator: EmulatorProcess | None = None
        self.s3: LocalS3 | None = None
        self.airflow: LocalAirflow | None = None
        #: Triggerer name -> its ``TriggererJob`` id in the ``job`` table.
        self.triggerer_jobs: dict[str, int] = {}
        self.workers: dict[str, Path] = {}
        #: Seconds :meth:`start` took.
        self.started_in = 0.0

    def start(self) -> CeleryStack:
        began = time.monotonic()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began
        return self

    def _start(self) -> None:
        self.redis = RedisServer(self.home / "redis")
        self.emulator = EmulatorProcess(latency=self.latency)
        self.s3 = LocalS3(subprocess=True)
        dags = self.home / "dags"
        dags.mkdir(parents=True)
        shutil.copy(FLAGSHIP, dags / FLAGSHIP.name)
        settings = {
            "AIRFLOW_VIDEO_GEN_BUCKET": BUCKET,
            "AIRFLOW__CELERY__BROKER_URL": self.redis.url(0),
            "AIRFLOW__CELERY__RESULT_BACKEND": self.redis.url(1),
            # A dead triggerer's triggers go to the live one within seconds, not the default 30 s.
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": f"{self.reassign_after:g}",
            # One new trigger per triggerer loop, so that both triggerers hold some (Airflow's HA knob).
            "AIRFLOW__TRIGGERER__MAX_TRIGGER_TO_SELECT_PER_LOOP": "1",
            # A worker slot is free a second after its task ends, not up to five.
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        }
        components = ("api-server", "scheduler", "dag-processor")
        self.airflow = LocalAirflow(
            self.home / "airflow", dags, env=settings, components=components, executor="CeleryExecutor"
        )
        # Four independent starts, each seconds of imports: side by side.
        with ThreadPoolExecutor(4) as pool:
            steps = (self.redis.start, self.emulator.start, self.s3.start, self.airflow.migrate)
            for started in [pool.submit(step) for step in steps]:
                started.result()
        self.s3.create_bucket(BUCKET)
        client = self.s3.client()
        for image in sorted(SAMPLE_IMAGES.iterdir()):
            client.upload_file(str(image), BUCKET, f"inputs/{image.name}")
        # Known now that the servers have their ports; every component reads them from its environment.
        self.airflow.env["AIRFLOW_CONN_AI_GATEWAY_DEFAULT"] = self.emulator.connection_json(timeout=10)
        self.airflow.env["AIRFLOW_CONN_AWS_DEFAULT"] = self.s3.connection_json()
        # Workers and triggerers boot while the api-server does. No log servers: nothing here reads
        # logs through the UI, and each would want a port of its own.
        for number in (1, 2):
            name = f"worker-{number}"
            own = self.home / "workers" / name
            for sub in ("home", "cwd", "tmp"):
                (own / sub).mkdir(parents=True)
            self.workers[name] = own
            worker = ["celery", "worker", "--concurrency", str(self.concurrency), "--skip-serve-logs"]
            self.airflow.start_component(
                name,
                [*worker, "--celery-hostname", f"{name}@%h", "--without-mingle", "--without-gossip"],
                env={"AIRFLOW_HOME": str(own / "home"), "TMPDIR": str(own / "tmp")},
                cwd=own / "cwd",
            )
        # The job table has no pid: a triggerer's LOGNAME, which Airflow records as its job's unixname,
        # tells the two apart.
        for name in ("triggerer-1", "triggerer-2"):
            self.airflow.start_component(name, ["triggerer", "--skip-serve-logs"], env={"LOGNAME": name})
        self.airflow.start()
        self.triggerer_jobs = wait_for(self._both_triggerers, timeout=120, what="both triggerers to register")

    def stop(self) -> None:
        if self.airflow is not None:
            self.airflow.stop()
            self.airflow = None
        for part in (self.emulator, self.s3, self.redis):
            if part is not None:
                part.stop()
        self.emulator = self.s3 = self.redis = None

    # -------------------------------------------------------------------------------- reading

    @property
    def af(self) -> LocalAirflow:
        assert self.airflow is not None, "the stack is not running"
        return self.airflow

    def _both_triggerers(self) -> dict[str, int] | None:
        for name in ("triggerer-1", "triggerer-2"):
            if self.af.processes[name].poll() is not None:
                raise StackError(f"{name} exited:\n{self.af.log_tail(name)}")
        rows = self.af.query("select unixname, id from job where job_type = 'TriggererJob'")
        return dict(rows) if len(rows) == 2 else None

    def assignments(self) -> dict[int, int | None]:
        """Trigger id -> the ``TriggererJob`` id running it (``None`` while unassigned)."""
        return {trigger: job for trigger, job in self.af.query("select id, triggerer_id from trigger")}

    def _worker_lines(self, pattern: re.Pattern[str]) -> list[tuple[str, tuple[str, ...]]]:
        return [
            (name, found.groups())
            for name in self.workers
            for line in self.af.log_tail(name, chars=10**9).splitlines()
            if (found := pattern.search(line))
        ]

    def deliveries(self) -> list[tuple[str, str, int]]:
        """Every task workload the Celery workers took from the broker: (worker, task id, map index)."""
        return [(name, task, int(index or -1)) for name, (task, index) in self._worker_lines(DELIVERED)]

    def task_ends(self) -> list[tuple[str, str, str]]:
        """How each task process the workers started ended: (worker, task instance id, final state:
        ``success``, ``deferred``, ``failed``...). A delivery that never started its task (the
        api-server did not answer) has no end."""
        return [(name, ti.replace("-", ""), state) for name, (state, ti) in self._worker_lines(ENDED)]

    def trigger_logs(self, run_id: str, task_id: str, map_index: int) -> dict[int, str]:
        """The trigger logs of one task instance's first try, by the ``TriggererJob`` id that wrote them
        (each triggerer writes a file of its own)."""
        folder = self.af.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={task_id}"
        folder /= f"map_index={map_index}"
        return {
            int(path.name.rsplit(".", 2)[1]): path.read_text(errors="replace")
            for path in folder.glob("attempt=1.log.trigger.*.log")
        }

    def s3_objects(self, prefix: str) -> list[str]:
        assert self.s3 is not None
        pages = self.s3.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def s3_read(self, key: str) -> bytes:
        assert self.s3 is not None
        body: bytes = self.s3.client().get_object(Bucket=BUCKET, Key=key)["Body"].read()
        return body
