"""A local S3 (moto's server) on a loopback port, for the demo, the tests and the benchmarks.

Needs the ``demo`` extra (``moto[server]``). Nothing leaves the machine: no AWS account is used.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from types import TracebackType
from typing import IO

import httpx

from airflow_video_gen.local_stack import free_port

#: Credentials moto accepts; they open nothing anywhere else.
ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"


class LocalS3:
    """``python -m moto.server`` on 127.0.0.1 and a free port, stopped on exit.

    :param startup_timeout: Seconds to wait for it to answer (default 60).
    """

    def __init__(self, startup_timeout: float = 60.0) -> None:
        self.port = free_port()
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connection_json(self) -> str:
        """An ``aws`` Airflow connection (for ``AIRFLOW_CONN_AWS_DEFAULT``) pointing here."""
        return json.dumps(
            {
                "conn_type": "aws",
                "login": ACCESS_KEY,
                "password": SECRET_KEY,
                "extra": {"endpoint_url": self.endpoint_url, "region_name": REGION},
            }
        )

    def create_bucket(self, name: str) -> None:
        """Create a bucket (no error when it exists)."""
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if name not in existing:
            client.create_bucket(Bucket=name)

    def __enter__(self) -> LocalS3:
        import tempfile

        self._log = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                httpx.get(self.endpoint_url, timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.2)
        self._log.seek(0)
        output = self._log.read().decode(errors="replace")[-2000:]
        self.__exit__(None, None, None)
        raise RuntimeError(f"the local S3 server did not start:\n{output}")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None
