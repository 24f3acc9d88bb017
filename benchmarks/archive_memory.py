"""Peak memory and throughput of archiving one large video into S3, against two plain ways.

A 1 GiB video (a real MP4 followed by a ``free`` box of generated filler, so it decodes) is served
on loopback by a generator HTTP server and stored in a moto S3 server running in its own process.
Each way runs in a fresh process (``tests/s3/archive_worker.py``) that reports its peak resident
memory above its baseline (taken after imports and a first S3 call):

- ``ArchiveVideoOperator``: streamed from the URL into a multipart upload, 8 MiB parts, plus the
  sidecar and the contact sheet (decoded with PyAV from the stored object by ranged reads);
- ``boto3 upload_file``: the same bytes uploaded from a local file by boto3's managed transfer;
- ``whole in memory``: the video downloaded into memory first, then uploaded (managed transfer).

Run from the repository root::

    python -m benchmarks.archive_memory                  # 1 GiB
    python -m benchmarks.archive_memory --size-mib 256

Target: the operator stays within 64 MiB above its baseline at any size (exit code 1 otherwise).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Any

from airflow_video_gen.local_s3 import LocalS3
from tests.s3.archive_worker import measure
from tests.s3.servers import FileHost, Served, make_mp4, padded_stream

MIB = 1024 * 1024
TARGET_ABOVE_BASELINE = 64 * MIB
WAYS = (
    ("archive", "ArchiveVideoOperator (streamed)"),
    ("upload_file", "boto3 upload_file from disk"),
    ("in_memory", "whole video in memory first"),
)


def _row(label: str, report: dict[str, Any]) -> str:
    return (
        f"| {label:<34} | {report['bytes'] / MIB:>8,.0f} | {report['seconds']:>7.1f} | "
        f"{report['mib_per_s']:>7.1f} | {report['peak_above_baseline'] / MIB:>13,.1f} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024, help="video size in MiB (default 1024)")
    parser.add_argument("--part-size-mib", type=int, default=8, help="multipart part size (default 8)")
    args = parser.parse_args(argv)
    size, part_size = args.size_mib * MIB, args.part_size_mib * MIB
    head = make_mp4(seconds=4.0)
    with LocalS3(subprocess=True) as s3, FileHost() as host, tempfile.TemporaryDirectory() as tmp:
        client = s3.client()
        client.create_bucket(Bucket="benchmark")
        url = host.add("video.mp4", Served(head=head, size=size))
        path = os.path.join(tmp, "video.mp4")
        with open(path, "wb") as out:
            for chunk in padded_stream(head, size):
                out.write(chunk)
        env = {"AIRFLOW_CONN_AWS_DEFAULT": s3.connection_json()}
        env.setdefault("AIRFLOW_HOME", os.environ.get("AIRFLOW_HOME") or os.path.join(tmp, "airflow"))
        reports = {}
        for mode, label in WAYS:
            print(f"running {label} ...", file=sys.stderr, flush=True)
            reports[mode] = measure(
                mode, url=url, path=path, dest=f"s3://benchmark/{mode}/", part_size=part_size, env=env
            )
    print(
        f"\nArchiving a {args.size_mib:,} MiB video into S3 (moto on loopback), "
        f"{args.part_size_mib} MiB parts\n"
    )
    print(f"| {'way':<34} | {'MiB':>8} | {'s':>7} | {'MiB/s':>7} | {'peak MiB over':>13} |")
    print(f"| {'-' * 34} | {'-' * 8}:| {'-' * 7}:| {'-' * 7}:| {'-' * 13}:|")
    for mode, label in WAYS:
        print(_row(label, reports[mode]))
    ours = reports["archive"]["peak_above_baseline"]
    verdict = "within" if ours <= TARGET_ABOVE_BASELINE else "OVER"
    print(
        f"\nArchiveVideoOperator peak: {ours / MIB:.1f} MiB above baseline, {verdict} the "
        f"{TARGET_ABOVE_BASELINE // MIB} MiB target."
    )
    return 0 if ours <= TARGET_ABOVE_BASELINE else 1


if __name__ == "__main__":
    sys.exit(main())
