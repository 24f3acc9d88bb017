"""Moves one video from a URL into S3 in a fresh process and reports its peak memory above the
baseline, as JSON on the last line of stdout. Used by the memory test and the benchmark.

::

    python -m tests.s3.archive_worker archive --url URL --dest s3://bucket/prefix/ [--max-concurrency 4]
    python -m tests.s3.archive_worker archive_video --url URL --dest s3://bucket/prefix/
    python -m tests.s3.archive_worker upload_file --file PATH --dest s3://bucket/prefix/
    python -m tests.s3.archive_worker in_memory --url URL --dest s3://bucket/prefix/

Modes: ``archive`` runs ArchiveVideoOperator (streamed multipart upload, ``--max-concurrency``
parts at once, sidecar, contact sheet); ``archive_video`` the same without the contact sheet
(``contact_sheet_tiles=0``); ``upload_file`` is boto3's managed upload of the same bytes
from a local file (boto3's default of 10 threads); ``in_memory`` downloads the whole video into
memory first, then uploads it with boto3's managed upload.
The AWS connection comes from ``AIRFLOW_CONN_AWS_DEFAULT``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from airflow_video_gen.utils.s3 import DEFAULT_MAX_CONCURRENCY
from benchmarks.common import cpu_seconds

MARKER = "ARCHIVE-WORKER-RESULT "
REPO = Path(__file__).resolve().parents[2]


def rss() -> int:
    """Resident set size now, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (Linux ``clear_refs``); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak() -> int:
    """Peak resident set size since the last reset (else since the start), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _client() -> Any:
    from airflow_video_gen.utils.s3 import s3_hook

    return s3_hook("aws_default").get_conn()


def run(
    mode: str, url: str | None, path: str | None, dest: str, part_size: int, max_concurrency: int
) -> dict[str, Any]:
    import httpx
    from boto3.s3.transfer import TransferConfig

    from airflow_video_gen.operators.archive import ArchiveVideoOperator
    from airflow_video_gen.utils.s3 import parse_s3_uri

    bucket, prefix = parse_s3_uri(dest, key_required=False)
    client = _client()
    client.head_bucket(Bucket=bucket)  # warm: credentials, endpoint, the S3 model loaded
    config = TransferConfig(multipart_chunksize=part_size)
    baseline = rss()
    exact = reset_peak()
    started, cpu_started = time.perf_counter(), cpu_seconds()
    size = 0
    if mode in ("archive", "archive_video"):
        from airflow.sdk.execution_time.context import OutletEventAccessors

        generation = {
            "model": "bytedance/seedance-v1.0-pro",
            "operation": {"gatewayJobId": "benchmark"},
            "idempotency_key": f"bench-{os.getpid()}",
            "status": "completed",
            "videos": [{"type": "url", "url": url, "mediaType": "video/mp4"}],
        }
        op = ArchiveVideoOperator(
            task_id="archive",
            generation=generation,
            dest_s3_uri=dest,
            part_size=part_size,
            max_concurrency=max_concurrency,
            contact_sheet_tiles=12 if mode == "archive" else 0,
        )
        result = op.execute({"outlet_events": OutletEventAccessors()})
        size = result["videos"][0]["size"]
    elif mode == "upload_file":
        assert path is not None
        size = os.path.getsize(path)
        client.upload_file(path, bucket, f"{prefix}upload-file.mp4", Config=config)
    elif mode == "in_memory":
        assert url is not None
        data = httpx.get(url, timeout=300).content
        size = len(data)
        client.upload_fileobj(io.BytesIO(data), bucket, f"{prefix}in-memory.mp4", Config=config)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    top = peak()
    return {
        "mode": mode,
        "bytes": size,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "mib_per_s": round(size / 2**20 / seconds, 1),
        "baseline_rss": baseline,
        "peak_rss": top,
        "peak_above_baseline": top - baseline,
        "peak_is_exact": exact,
    }


def measure(
    mode: str,
    *,
    dest: str,
    url: str | None = None,
    path: str | None = None,
    part_size: int = 8 * 1024 * 1024,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    env: dict[str, str] | None = None,
    timeout: float = 900.0,
) -> dict[str, Any]:
    """Run one mode in a fresh process (``env`` added to this one's) and return its report."""
    command = [
        sys.executable,
        "-m",
        "tests.s3.archive_worker",
        mode,
        "--dest",
        dest,
        "--part-size",
        str(part_size),
        "--max-concurrency",
        str(max_concurrency),
    ]
    if url:
        command += ["--url", url]
    if path:
        command += ["--file", path]
    gateway = json.dumps(
        {"conn_type": "ai_gateway", "host": "http://127.0.0.1:9/v4/ai", "password": "unused"}
    )
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, "AIRFLOW_CONN_AI_GATEWAY_DEFAULT": gateway, **(env or {})},
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(MARKER):
            report: dict[str, Any] = json.loads(line[len(MARKER) :])
            return report
    raise RuntimeError(f"{mode} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["archive", "archive_video", "upload_file", "in_memory"])
    parser.add_argument("--url")
    parser.add_argument("--file")
    parser.add_argument("--dest", required=True)
    parser.add_argument("--part-size", type=int, default=8 * 1024 * 1024)
    parser.add_argument("--max-concurrency", type=int, default=DEFAULT_MAX_CONCURRENCY)
    args = parser.parse_args(argv)
    result = run(args.mode, args.url, args.file, args.dest, args.part_size, args.max_concurrency)
    sys.stdout.write(MARKER + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
