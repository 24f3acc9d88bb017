"""Peak memory and throughput of archiving one large video into S3, against two plain ways.

Videos of 64 MiB, 512 MiB and 2 GiB (a real MP4 followed by a ``free`` box of generated filler, so
they decode) are served on loopback by a generator HTTP server (the file host of the S3 tests) and
stored in a moto S3 server running in its own process. Each way runs in a fresh process
(``tests/s3/archive_worker.py``) that reports its peak resident memory above its baseline (taken
after imports and a first S3 call):

- ``ArchiveVideoOperator``: streamed from the URL into a multipart upload, 8 MiB parts, plus the
  sidecar and the contact sheet (decoded with PyAV from the stored object by ranged reads);
- ``boto3 upload_file``: the same bytes uploaded from a local file by boto3's managed transfer;
- ``whole in memory``: the video downloaded into memory first, then uploaded (managed transfer);
  skipped at a size whose few copies would not fit in the memory available (the table says so).

Run from the repository root::

    python -m benchmarks.archive_memory                        # 64 MiB, 512 MiB, 2 GiB
    python -m benchmarks.archive_memory --sizes-mib 64 1024

Target: the operator stays within 64 MiB above its baseline at any size (exit code 1 otherwise).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Any

import psutil

from airflow_video_gen.devtools.local_s3 import LocalS3
from benchmarks.common import describe_machine, load, ratio, table
from tests.s3.archive_worker import measure
from tests.s3.servers import FileHost, Served, make_mp4, padded_stream

MIB = 1024 * 1024
TARGET_ABOVE_BASELINE = 64 * MIB
WAYS = (
    ("archive", "ArchiveVideoOperator (streamed)"),
    ("upload_file", "boto3 upload_file from disk"),
    ("in_memory", "whole video in memory first"),
)


#: Sizes of the full run, MiB.
SIZES_MIB = (64, 512, 2048)
#: Copies of the video the whole-in-memory way may hold at once (the download, boto3's buffers).
IN_MEMORY_COPIES = 3


def _fits_in_memory(size: int) -> bool:
    return int(psutil.virtual_memory().available) > IN_MEMORY_COPIES * size + 1024 * MIB


def measure_size(
    s3: LocalS3, host: FileHost, head: bytes, size_mib: int, part_size: int, tmp: str
) -> dict[str, Any]:
    """The three ways at one size; each report with the load average beside it."""
    size = size_mib * MIB
    client = s3.client()
    url = host.add(f"video-{size_mib}.mp4", Served(head=head, size=size))
    path = os.path.join(tmp, f"video-{size_mib}.mp4")
    with open(path, "wb") as out:
        for chunk in padded_stream(head, size):
            out.write(chunk)
    env = {"AIRFLOW_CONN_AWS_DEFAULT": s3.connection_json()}
    env.setdefault("AIRFLOW_HOME", os.environ.get("AIRFLOW_HOME") or os.path.join(tmp, "airflow"))
    reports: dict[str, Any] = {}
    try:
        for mode, label in WAYS:
            if mode == "in_memory" and not _fits_in_memory(size):
                reports[mode] = {
                    "skipped": f"needs about {IN_MEMORY_COPIES} x {size_mib:,} MiB of free memory"
                }
                continue
            print(f"  {label}, {size_mib:,} MiB (load {load()}) ...", file=sys.stderr, flush=True)
            dest = f"s3://benchmark/{size_mib}/{mode}/"
            reports[mode] = {
                **measure(mode, url=url, path=path, dest=dest, part_size=part_size, env=env),
                "load": load(),
            }
            # The stored copies are not needed: moto keeps them on its disk and in its memory.
            for entry in client.list_objects_v2(Bucket="benchmark", Prefix=f"{size_mib}/").get(
                "Contents", []
            ):
                client.delete_object(Bucket="benchmark", Key=entry["Key"])
    finally:
        os.remove(path)
    return reports


def rows(size_mib: int, reports: dict[str, Any]) -> list[tuple[Any, ...]]:
    ours = reports["archive"]
    out = []
    for mode, label in WAYS:
        r = reports[mode]
        if "skipped" in r:
            out.append((f"{size_mib:,}", label, "skipped: " + r["skipped"], "-", "-", "-", "-", "-", load()))
            continue
        peak = r["peak_above_baseline"] / MIB
        out.append(
            (
                f"{size_mib:,}",
                label,
                round(r["seconds"], 1),
                r["mib_per_s"],
                ratio(r["mib_per_s"], ours["mib_per_s"]) if mode != "archive" else "1.00x",
                round(peak, 1),
                ratio(r["peak_above_baseline"], ours["peak_above_baseline"])
                if mode != "archive"
                else "1.00x",
                "yes" if r.get("peak_is_exact") else "no",
                r["load"],
            )
        )
    return out


def run(sizes_mib: tuple[int, ...] = SIZES_MIB, part_size_mib: int = 8) -> dict[str, Any]:
    """Every size, every way; the reports and the table as text."""
    part_size = part_size_mib * MIB
    head = make_mp4(seconds=4.0)
    results: dict[int, dict[str, Any]] = {}
    with LocalS3(subprocess=True) as s3, FileHost() as host, tempfile.TemporaryDirectory() as tmp:
        s3.client().create_bucket(Bucket="benchmark")
        for size_mib in sizes_mib:
            results[size_mib] = measure_size(s3, host, head, size_mib, part_size, tmp)
    headers = (
        "MiB",
        "way",
        "s",
        "MiB/s",
        "MiB/s vs ours",
        "peak MiB over baseline",
        "peak vs ours",
        "exact peak",
        "load",
    )
    text = (
        f"Archiving one video into S3 (moto on loopback), {part_size_mib} MiB parts; peak resident memory "
        f"above the process's baseline\n\n"
        + table(headers, [row for size_mib, reports in results.items() for row in rows(size_mib, reports)])
    )
    worst = max(r["archive"]["peak_above_baseline"] for r in results.values())
    verdict = "within" if worst <= TARGET_ABOVE_BASELINE else "OVER"
    text += (
        f"\n\nArchiveVideoOperator's largest peak: {worst / MIB:.1f} MiB above baseline, {verdict} the "
        f"{TARGET_ABOVE_BASELINE // MIB} MiB target."
    )
    return {"results": results, "within_target": worst <= TARGET_ABOVE_BASELINE, "table": text}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes-mib",
        type=int,
        nargs="+",
        default=list(SIZES_MIB),
        help="video sizes in MiB (default 64 512 2048)",
    )
    parser.add_argument("--part-size-mib", type=int, default=8, help="multipart part size (default 8)")
    args = parser.parse_args(argv)
    print(describe_machine())
    out = run(tuple(args.sizes_mib), args.part_size_mib)
    print(out["table"])
    return 0 if out["within_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
