"""The emulator in a subprocess, for tests, benchmarks and the demo.

::

    with EmulatorProcess(latency=0.3, faults="status.500=0.2,seed=1") as emulator:
        httpx.post(f"{emulator.base_url}/video-model/start", ...)
        emulator.stats()["starts_billed"]
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import IO, Any

import httpx

from airflow_video_gen.devtools.emulator.app import BASE_PATH
from airflow_video_gen.protocol import MODEL_SPECIFICATION_VERSION, PROTOCOL_VERSION

__all__ = ["EmulatorProcess"]

_BIND_ATTEMPTS = 3


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmulatorProcess:
    """Runs ``python -m airflow_video_gen.cli emulator`` on a loopback port (a free one by default).

    A context manager: entering starts the process and waits until ``GET /`` answers; leaving stops
    it (terminate, then kill after ``stop_timeout``).

    :param api_key: The only key the emulator accepts (default: any); clients use :attr:`api_key`.
    :param latency: Seconds each job takes at least (default 0.3); ``None`` for the emulator's own
        default (3).
    :param latency_spread: Per model, the range each job's latency is drawn from (see
        :mod:`airflow_video_gen.devtools.emulator.latencies`), default none.
    :param faults: Fault spec (see :mod:`airflow_video_gen.devtools.emulator.faults`), default none.
    :param results: ``url`` (default), ``base64`` or ``uploaded``; ``None`` for the emulator's own default
        (``base64``). URL results are the default here, unlike the command's, so that the tests,
        benchmarks and demo that use this class exercise the streamed download of result files.
    :param render_workers: Render processes (default 1); ``None`` for the emulator's own default.
    :param file_ttl: Seconds result files stay downloadable (default: the emulator's, 3600).
    :param public_url: Root URL of result file links (default: the URL called).
    :param extra_args: More command-line arguments.
    :param env: Extra environment variables for the process.
    :param host: Loopback address to listen on (default ``127.0.0.1``).
    :param port: Port to listen on (default: a free one, picked at each start). A fixed port lets a
        new process take the place of a stopped one at the same address.
    :param startup_timeout: Seconds to wait for the health check (default 60).
    :param stop_timeout: Seconds to wait after terminate before kill (default 10).
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        latency: float | None = 0.3,
        latency_spread: str | None = None,
        faults: str | None = None,
        results: str | None = "url",
        render_workers: int | None = 1,
        file_ttl: float | None = None,
        public_url: str | None = None,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        startup_timeout: float = 60.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self._server_key = api_key
        #: The key clients should send.
        self.api_key = api_key or "emulator-test-key"
        self.host = host
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._fixed_port = port
        self.port: int | None = None
        args: list[str] = []
        if latency is not None:
            args += ["--latency", str(latency)]
        if latency_spread:
            args += ["--latency-spread", latency_spread]
        if results is not None:
            args += ["--results", results]
        if render_workers is not None:
            args += ["--render-workers", str(render_workers)]
        if api_key is not None:
            args += ["--api-key", api_key]
        if faults:
            args += ["--faults", faults]
        if file_ttl is not None:
            args += ["--file-ttl", str(file_ttl)]
        if public_url is not None:
            args += ["--public-url", public_url]
        self._args = [*args, *extra_args]
        self._env = {**os.environ, **(env or {})}
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- addresses -------------------------------------------------------------------------------

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        if self.port is None:
            raise RuntimeError("the emulator is not running")
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The process id, while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def base_url(self) -> str:
        """The base URL to give a client: ``http://127.0.0.1:<port>/v4/ai``."""
        return self.root_url + BASE_PATH

    def connection_json(self, api_key: str | None = None, **extra: Any) -> str:
        """An ``ai_gateway`` connection to this emulator, as the JSON an ``AIRFLOW_CONN_<ID>``
        variable takes.

        :param api_key: The key the connection sends (default: the emulator's own).
        :param extra: Connection extras (``timeout``, ``verify``, ``team``).
        """
        connection: dict[str, Any] = {
            "conn_type": "ai_gateway",
            "host": self.base_url,
            "password": api_key or self.api_key,
        }
        if extra:
            connection["extra"] = extra
        return json.dumps(connection)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> EmulatorProcess:
        """Start the process and wait until it answers its health check.

        :raises RuntimeError: When it exits or does not answer in time (with its output).
        """
        for attempt in range(_BIND_ATTEMPTS):
            self._spawn()
            try:
                self._wait_ready()
                return self
            except RuntimeError:
                output = self.output()
                self.stop()
                if "address already in use" not in output.lower() or attempt == _BIND_ATTEMPTS - 1:
                    raise
                if self._fixed_port is not None:
                    time.sleep(1.0)  # the same port again: give the old socket a moment
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        self.port = self._fixed_port or _free_port(self.host)
        command = [sys.executable, "-m", "airflow_video_gen.cli", "emulator", "--host", self.host]
        command += ["--port", str(self.port), *self._args]
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - open until stop(), which closes it
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=self._env
        )

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                raise RuntimeError(f"the emulator exited with code {code}:\n{self.output()}")
            with contextlib.suppress(httpx.HTTPError, ValueError):
                answer = httpx.get(self.root_url + "/", timeout=1.0)
                # Another process may have taken the port between the pick and this one's bind
                # (another test's emulator answers as well): only this process's answer counts.
                if answer.status_code == 200 and answer.json().get("pid") == self._process.pid:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"the emulator did not answer within {self.startup_timeout} s:\n{self.output()}")

    def stop(self) -> None:
        """Stop the process: terminate, then kill if it has not ended after ``stop_timeout``."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def output(self) -> str:
        """Everything the process has printed so far (stdout and stderr)."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- local tooling ---------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """``GET /_emulator/stats``."""
        answer = httpx.get(self.root_url + "/_emulator/stats", timeout=10.0)
        answer.raise_for_status()
        data: dict[str, Any] = answer.json()
        return data

    def jobs(self) -> dict[str, dict[str, Any]]:
        """``GET /_emulator/jobs``: each job's model, state, status calls and callback deliveries."""
        answer = httpx.get(self.root_url + "/_emulator/jobs", timeout=10.0)
        answer.raise_for_status()
        jobs: dict[str, dict[str, Any]] = answer.json()["jobs"]
        return jobs

    def reset(self) -> None:
        """``POST /_emulator/reset``: forget jobs, keys, files and counters."""
        httpx.post(self.root_url + "/_emulator/reset", timeout=10.0).raise_for_status()

    def headers(self, model: str | None = None, **extra: str) -> dict[str, str]:
        """The protocol's headers with :attr:`api_key` (and ``ai-model-id`` when given)."""
        out = {
            "authorization": f"Bearer {self.api_key}",
            "ai-gateway-protocol-version": PROTOCOL_VERSION,
            "ai-gateway-auth-method": "api-key",
            "ai-video-model-specification-version": MODEL_SPECIFICATION_VERSION,
            "content-type": "application/json",
        }
        if model is not None:
            out["ai-model-id"] = model
        out.update(extra)
        return out
