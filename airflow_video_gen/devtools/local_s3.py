"""A local S3: moto's server on a free loopback port, for the demo, the tests and the benchmarks.

Needs the ``demo`` extra (``moto[server]``). No AWS account and no network are involved::

    with LocalS3() as s3:                          # a thread of this process
        s3.connection_json()                       # for AIRFLOW_CONN_AWS_DEFAULT
        s3.create_bucket("videos")

    with LocalS3(subprocess=True) as s3: ...       # its own process (no shared GIL)
"""

from __future__ import annotations

import contextlib
import json
import select
import subprocess
import sys
import time
from types import TracebackType
from typing import Any

import httpx

REGION = "us-east-1"
#: Credentials moto accepts; they open nothing anywhere else.
ACCESS_KEY = "testing"
SECRET_KEY = "testing"


#: The subprocess: moto's threaded server on a port the system picks, printed once it listens; it
#: runs until stopped, or until the process that started it closes its stdin (by ending).
_SERVE = """
import os, sys
from moto.server import ThreadedMotoServer

server = ThreadedMotoServer(ip_address=sys.argv[1], port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
# Nothing reads the pipe after the port: whatever the server prints later must not fill it.
os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
sys.stdin.read()
server.stop()
"""


class LocalS3:
    """moto's S3 on ``127.0.0.1``: a ``ThreadedMotoServer`` in this process, or in a subprocess of
    its own when ``subprocess=True``. No AWS account and no network are involved.

    :param subprocess: Run the server in its own process (default ``False``).
    """

    def __init__(self, *, subprocess: bool = False) -> None:
        self.host = "127.0.0.1"
        self.port: int | None = None
        self._in_process = not subprocess
        self._thread_server: Any = None
        self._process: Any = None

    @property
    def endpoint_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the moto server is not running")
        return f"http://{self.host}:{self.port}"

    def start(self) -> LocalS3:
        if self._in_process:
            from moto.server import ThreadedMotoServer

            server = ThreadedMotoServer(ip_address=self.host, port=0, verbose=False)
            server.start()
            self._thread_server = server
            self.port = int(server.get_host_and_port()[1])
        else:
            # The server binds a port of its own choosing and says which: a port picked free here
            # could be taken by another server before the subprocess binds it, and that server
            # would then answer for this one.
            command = [sys.executable, "-c", _SERVE, self.host]
            self._process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
            )
            self.port = self._read_port()
        self._wait_ready()
        return self

    def _read_port(self, timeout: float = 60.0) -> int:
        assert self._process is not None
        assert self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], timeout)
        line = self._process.stdout.readline().decode().strip() if ready else ""
        self._process.stdout.close()
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"moto server did not say its port within {timeout:g} s (said {line!r})")
        return int(line)

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"moto server exited with code {self._process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{self.endpoint_url}/moto-api/", timeout=1.0)
                return
            time.sleep(0.05)
        raise RuntimeError(f"moto server did not answer within {timeout} s")

    def stop(self) -> None:
        if self._thread_server is not None:
            self._thread_server.stop()
            self._thread_server = None
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def reset(self) -> None:
        """Forget every bucket and object."""
        httpx.post(f"{self.endpoint_url}/moto-api/reset", timeout=10.0).raise_for_status()

    def connection(self) -> dict[str, Any]:
        """An Airflow ``aws`` connection to this server."""
        return {
            "conn_type": "aws",
            "login": ACCESS_KEY,
            "password": SECRET_KEY,
            "extra": {"endpoint_url": self.endpoint_url, "region_name": REGION},
        }

    def connection_json(self) -> str:
        """:meth:`connection` as the JSON an ``AIRFLOW_CONN_<ID>`` variable takes."""
        return json.dumps(self.connection())

    def create_bucket(self, name: str) -> None:
        """Create a bucket (no error when it exists)."""
        client = self.client()
        if name not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
            client.create_bucket(Bucket=name)

    def client(self) -> Any:
        """A plain boto3 S3 client of this server (for tests to look at what was stored)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def __enter__(self) -> LocalS3:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
