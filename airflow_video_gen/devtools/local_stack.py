"""A real local Airflow: api-server, scheduler, dag-processor and triggerer on SQLite.

Used by ``airflow-video-gen demo``, the reliability tests and the benchmarks, so each runs DAGs
through the real scheduler and triggerer rather than ``dag.test()``. Run state and XComs are read
straight from the SQLite database (no API token needed); components can be killed and restarted to
show what survives.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
FINISHED = frozenset({"success", "failed"})
#: Modules the LocalExecutor's forkserver imports once under ``quick_tasks``; every task inherits them.
TASK_PRELOAD = (
    "airflow",
    "airflow.sdk.execution_time.task_runner",
    "airflow_video_gen.operators.archive",
    "airflow_video_gen.operators.staging",
    "airflow_video_gen.operators.submit",
    "airflow_video_gen.operators.batch",
    "airflow_video_gen.sensors.generation",
    "airflow_video_gen.sensors.batch",
)


def quick_task_settings(preload: Sequence[str] = TASK_PRELOAD) -> dict[str, str]:
    """Stock Airflow settings that make short tasks cheap on a LocalExecutor, as environment.

    Workers come from a ``forkserver`` that has already imported Airflow's task runner and this
    package (``[core] mp_forkserver_preload``), so a task does not spend seconds importing them;
    and the task supervisor checks its task every second (``[workers] min_heartbeat_interval``,
    default 5), so a slot is free a second after its task ends rather than up to five.

    :param preload: Modules the forkserver imports (default :data:`TASK_PRELOAD`).
    """
    return {
        "AIRFLOW__SCHEDULER__MP_START_METHOD": "forkserver",
        "AIRFLOW__CORE__MP_FORKSERVER_PRELOAD": ",".join(preload),
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
    }


def free_port(host: str = "127.0.0.1") -> int:
    """A free TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


class StackError(RuntimeError):
    """A component failed to start or a run did not finish; the message carries its log tail."""


class LocalAirflow:
    """Runs Airflow's components as subprocesses under one ``AIRFLOW_HOME``.

    :param home: ``AIRFLOW_HOME`` (the SQLite database and logs live there).
    :param dags_folder: Folder of DAG files to serve.
    :param env: Extra environment (connections as ``AIRFLOW_CONN_*``, settings).
    :param parallelism: LocalExecutor worker slots (default 4).
    :param components: Which components to run (default all four).
    :param executor: ``[core] executor`` (default ``LocalExecutor``); another one brings its own workers,
        started with :meth:`start_component` (e.g. ``airflow celery worker`` for the ``CeleryExecutor``).
    :param quick_tasks: Start tasks from a preloaded forkserver and free their slots sooner
        (:func:`quick_task_settings`; default ``False``, Airflow's defaults).
    :param prepare: ``airflow`` commands run once the database is migrated, before any component
        starts (``[["teams", "create", "video"]]``; default none).
    """

    def __init__(
        self,
        home: Path,
        dags_folder: Path,
        *,
        env: Mapping[str, str] | None = None,
        parallelism: int = 4,
        components: Sequence[str] = COMPONENTS,
        quick_tasks: bool = False,
        executor: str = "LocalExecutor",
        prepare: Sequence[Sequence[str]] = (),
    ) -> None:
        self.home = Path(home).resolve()
        self.dags_folder = Path(dags_folder).resolve()
        self.components = tuple(components)
        self.prepare = [list(command) for command in prepare]
        self.api_port = free_port()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, IO[bytes]] = {}
        self._launch: dict[str, tuple[list[str], dict[str, str], Path | None]] = {}
        self._kept_down: set[str] = set()
        self._migrated = False
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(max(parallelism, 16)),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "600",
            "AIRFLOW__TRIGGERER__CAPACITY": "5000",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **(quick_task_settings() if quick_tasks else {}),
            **(env or {}),
        }
        self.airflow = str(Path(sys.executable).with_name("airflow"))

    # ---------------------------------------------------------------------------------- lifecycle

    def __enter__(self) -> LocalAirflow:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def cli(self, *args: str, timeout: float = 300) -> str:
        """Run ``airflow <args>`` against this home; return stdout, raise with stderr on failure."""
        done = subprocess.run(
            [self.airflow, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode:
            raise StackError(f"airflow {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def start(self) -> None:
        """Migrate the database (unless :meth:`migrate` has), then start every component and wait for
        the api-server."""
        if not self._migrated:
            self.migrate()
        for name in self.components:
            self.start_component(name)
        if "api-server" in self.components:
            self._wait_api()

    def migrate(self) -> None:
        """Migrate the database and run the ``prepare`` commands: what every component needs first.
        Components of one's own (:meth:`start_component`) may start after it, before :meth:`start`."""
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(exist_ok=True)
        self.cli("db", "migrate")
        for command in self.prepare:
            self.cli(*command)
        self._migrated = True

    def start_component(
        self,
        name: str,
        command: Sequence[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        """Start (or restart) one component, its output appended to ``logs/<name>.out``.

        :param name: The component's name: ``airflow <name>`` runs unless ``command`` is given.
        :param command: The ``airflow`` subcommand and its arguments (``["celery", "worker"]``), so that
            several components can run one command; a restart reuses the last one given.
        :param env: This component's environment on top of the stack's.
        :param cwd: Its working directory (default: this process's).
        """
        if command is not None or name not in self._launch:
            args = [self.airflow, *(command or [name])]
            if name == "api-server":
                args += ["--host", "127.0.0.1", "--port", str(self.api_port)]
            self._launch[name] = (args, dict(env or {}), cwd)
        args, component_env, component_cwd = self._launch[name]
        log = self._logs.get(name) or open(self.home / "logs" / f"{name}.out", "ab")  # noqa: SIM115
        self._logs[name] = log
        self._kept_down.discard(name)
        self.processes[name] = subprocess.Popen(
            args,
            env={**self.env, **component_env},
            cwd=component_cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill_component(self, name: str, sig: int = signal.SIGKILL, *, keep_down: bool = False) -> None:
        """Send ``sig`` to a component's whole process group (SIGKILL: no goodbye).

        :param keep_down: The component is not started again: its end is no longer taken for a
            crash of the stack (by :meth:`wait_for_run` and the other waits) until it is restarted.
        """
        process = self.processes[name]
        _signal_group(process, sig)
        process.wait(timeout=30)
        if keep_down:
            self._kept_down.add(name)

    def stop(self) -> None:
        """Stop every component: SIGTERM to each process group, then SIGKILL to what is left."""
        for process in self.processes.values():
            if process.poll() is None:
                _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait(timeout=10)
        for log in self._logs.values():
            log.close()
        self._logs.clear()

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.home / "logs" / f"{name}.out"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def _wait_api(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.api_port}/api/v2/monitor/health"
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise StackError(f"api-server did not answer in {timeout:g} s:\n{self.log_tail('api-server')}")

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if name not in self._kept_down and process.poll() is not None:
                raise StackError(f"{name} exited with {process.returncode}:\n{self.log_tail(name)}")

    # ---------------------------------------------------------------------------------- runs

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Read the metadata database (read-only)."""
        with sqlite3.connect(f"file:{self.home / 'airflow.db'}?mode=ro", uri=True, timeout=30) as db:
            return list(db.execute(sql, params))

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        """Wait until the dag-processor has parsed ``dag_id`` without import errors."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            if self.query("select 1 from dag where dag_id = ?", (dag_id,)):
                return
            errors = self.query("select filename, stacktrace from import_error")
            if errors:
                raise StackError(f"DAG import errors: {errors}")
            time.sleep(1)
        raise StackError(f"{dag_id} was not parsed in {timeout:g} s:\n{self.log_tail('dag-processor')}")

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Unpause and trigger a run; return its run id."""
        self.wait_for_dag(dag_id)
        self.cli("dags", "unpause", dag_id)
        run_id = f"manual__{time.strftime('%Y%m%dT%H%M%S')}_{secrets.token_hex(3)}"
        self.cli("dags", "trigger", dag_id, "--run-id", run_id, "--conf", json.dumps(dict(conf or {})))
        return run_id

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        rows = self.query("select state from dag_run where dag_id = ? and run_id = ?", (dag_id, run_id))
        return rows[0][0] if rows else None

    def task_states(self, dag_id: str, run_id: str) -> dict[str, int]:
        """How many task instances (mapped ones counted each) are in each state."""
        rows = self.query(
            "select coalesce(state, 'none'), count(*) from task_instance where dag_id = ? and run_id = ? "
            "group by state",
            (dag_id, run_id),
        )
        return {state: count for state, count in rows}

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 900, poll: float = 2) -> str:
        """Wait until the run finishes; return its state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            state = self.run_state(dag_id, run_id)
            if state in FINISHED:
                return str(state)
            time.sleep(poll)
        raise StackError(
            f"{dag_id} {run_id} did not finish in {timeout:g} s; tasks: {self.task_states(dag_id, run_id)}"
        )

    def xcoms(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> list[Any]:
        """The XCom values of a task (one per map index, in order)."""
        rows = self.query(
            "select map_index, value from xcom where dag_id = ? and run_id = ? and task_id = ? and key = ? "
            "order by map_index",
            (dag_id, run_id, task_id, key),
        )
        return [json.loads(value) if isinstance(value, (str, bytes)) else value for _, value in rows]
