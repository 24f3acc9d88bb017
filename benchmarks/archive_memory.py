"""Peak memory and throughput of archiving one large video into S3, against two plain ways.

Videos of 64 MiB, 512 MiB and 2 GiB (a real MP4 followed by a ``free`` box of generated filler, so
they decode) are served on loopback by a generator HTTP server (the file host of the S3 tests) and
stored in a moto S3 server running in its own process. Each way runs in a fresh process
(``tests/s3/archive_worker.py``) that reports its time, its CPU time (all threads) and its peak
resident memory above its baseline (taken after imports and a first S3 call):

- ``ArchiveVideoOperator``: streamed from the URL into a multipart upload, 8 MiB parts, 4 of them
  sent at once (``max_concurrency``) while the download goes on, plus the sidecar and the contact
  sheet (decoded with PyAV from the stored object by ranged reads);
- the same with ``contact_sheet_tiles=0``: the video and its sidecar only. moto answers each
  ranged GET by reading the whole object (S3 reads the range), so here the contact sheet costs a
  few reads of the whole video, which it would not cost on S3;
- ``boto3 upload_file`` (the baseline): the same bytes uploaded from a local file by boto3's
  managed transfer, 8 MiB parts, its default 10 threads;
- ``whole in memory``: the video downloaded into memory first, then uploaded (managed transfer);
  skipped at a size whose few copies would not fit in the memory available (the table says so).

Run from the repository root::

    python -m benchmarks.archive_memory                        # 64 MiB, 512 MiB, 2 GiB
    python -m benchmarks.archive_memory --sizes-mib 64 1024 --max-concurrency 8

Targets (exit code 1 otherwise): the operator stays within 64 MiB plus its parts in flight
(``max_concurrency * part_size``) above its baseline at any size, and from 512 MiB up runs at
least 0.9 times as fast as ``upload_file`` in the same run (with its contact sheet; the ratio
without one is printed beside it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from typing import Any

import psutil

from airflow_video_gen.devtools.local_s3 import LocalS3
from airflow_video_gen.utils.s3 import DEFAULT_MAX_CONCURRENCY
from benchmarks.common import describe_machine, load, ratio, table
from tests.s3.archive_worker import measure
from tests.s3.servers import FileHost, Served, make_mp4, padded_stream

MIB = 1024 * 1024
#: Peak memory above baseline the operator may hold besides its parts in flight.
TARGET_ABOVE_BASELINE = 64 * MIB
#: The operator's throughput over ``upload_file``'s, at least, from :data:`THROUGHPUT_FROM_MIB` up.
TARGET_THROUGHPUT_RATIO = 0.9
THROUGHPUT_FROM_MIB = 512
#: The ways that run ArchiveVideoOperator.
OPERATOR_WAYS = ("archive", "archive_video")
WAYS = (
    ("archive", "ArchiveVideoOperator (streamed)"),
    ("archive_video", "the same, no contact sheet"),
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
    s3: LocalS3,
    host: FileHost,
    head: bytes,
    size_mib: int,
    part_size: int,
    max_concurrency: int,
    tmp: str,
    repeat: int = 1,
) -> dict[str, Any]:
    """Every way at one size, ``repeat`` rounds of them all in turn (so that a busy minute of
    the shared machine falls on every way alike); each way's report is its median round by
    throughput, with the highest peak of its rounds and the load beside it."""
    size = size_mib * MIB
    client = s3.client()
    url = host.add(f"video-{size_mib}.mp4", Served(head=head, size=size))
    path = os.path.join(tmp, f"video-{size_mib}.mp4")
    with open(path, "wb") as out:
        for chunk in padded_stream(head, size):
            out.write(chunk)
    # moto assembles a completed upload in Python: 2 GiB can take longer than botocore's default
    # 60 s read timeout on a busy machine (the same connection serves every way).
    connection = s3.connection()
    connection["extra"] = {**connection["extra"], "config_kwargs": {"read_timeout": 900}}
    env = {"AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection)}
    env.setdefault("AIRFLOW_HOME", os.environ.get("AIRFLOW_HOME") or os.path.join(tmp, "airflow"))
    rounds: dict[str, list[dict[str, Any]]] = {mode: [] for mode, _ in WAYS}
    reports: dict[str, Any] = {}
    try:
        for attempt in range(repeat):
            for mode, label in WAYS:
                if mode == "in_memory" and not _fits_in_memory(size):
                    reports[mode] = {
                        "skipped": f"needs about {IN_MEMORY_COPIES} x {size_mib:,} MiB of free memory"
                    }
                    continue
                print(
                    f"  {label}, {size_mib:,} MiB, round {attempt + 1} of {repeat} (load {load()}) ...",
                    file=sys.stderr,
                    flush=True,
                )
                dest = f"s3://benchmark/{size_mib}/{mode}/"
                report = measure(
                    mode,
                    url=url,
                    path=path,
                    dest=dest,
                    part_size=part_size,
                    max_concurrency=max_concurrency,
                    env=env,
                )
                rounds[mode].append({**report, "load": load()})
                # The stored copies are not needed: moto keeps them on its disk and in its memory.
                for entry in client.list_objects_v2(Bucket="benchmark", Prefix=f"{size_mib}/").get(
                    "Contents", []
                ):
                    client.delete_object(Bucket="benchmark", Key=entry["Key"])
    finally:
        os.remove(path)
    for mode, measured in rounds.items():
        if measured:
            median = sorted(measured, key=lambda r: r["mib_per_s"])[len(measured) // 2]
            highest = max(measured, key=lambda r: r["peak_above_baseline"])
            reports[mode] = {
                **median,
                "peak_above_baseline": highest["peak_above_baseline"],
                "peak_is_exact": all(r["peak_is_exact"] for r in measured),
                "rounds": measured,
            }
    return reports


def rows(size_mib: int, reports: dict[str, Any]) -> list[tuple[Any, ...]]:
    """One row per way; the ratios are over ``upload_file``'s figures at the same size."""
    base = reports["upload_file"]
    out = []
    for mode, label in WAYS:
        r = reports[mode]
        if "skipped" in r:
            out.append(
                (f"{size_mib:,}", label, "skipped: " + r["skipped"], "-", "-", "-", "-", "-", "-", load())
            )
            continue
        out.append(
            (
                f"{size_mib:,}",
                label,
                round(r["seconds"], 1),
                r["mib_per_s"],
                ratio(r["mib_per_s"], base["mib_per_s"]),
                r["cpu_seconds"],
                round(r["peak_above_baseline"] / MIB, 1),
                ratio(r["peak_above_baseline"], base["peak_above_baseline"]),
                "yes" if r.get("peak_is_exact") else "no",
                r["load"],
            )
        )
    return out


def run(
    sizes_mib: tuple[int, ...] = SIZES_MIB,
    part_size_mib: int = 8,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    repeat: int = 1,
) -> dict[str, Any]:
    """Every size, every way; the reports, whether the targets were met, and the table as text."""
    part_size = part_size_mib * MIB
    head = make_mp4(seconds=4.0)
    results: dict[int, dict[str, Any]] = {}
    with LocalS3(subprocess=True) as s3, FileHost() as host, tempfile.TemporaryDirectory() as tmp:
        s3.client().create_bucket(Bucket="benchmark")
        for size_mib in sizes_mib:
            results[size_mib] = measure_size(
                s3, host, head, size_mib, part_size, max_concurrency, tmp, repeat
            )
    headers = (
        "MiB",
        "way",
        "s",
        "MiB/s",
        "MiB/s vs upload_file",
        "CPU s",
        "peak MiB over baseline",
        "peak vs upload_file",
        "exact peak",
        "load",
    )
    text = (
        f"Archiving one video into S3 (moto on loopback), {part_size_mib} MiB parts, the operator sending "
        f"{max_concurrency} at once; the median of {repeat} round(s) by throughput, the highest peak "
        "resident memory above the process's baseline\n\n"
        + table(headers, [row for size_mib, reports in results.items() for row in rows(size_mib, reports)])
    )
    memory_target = TARGET_ABOVE_BASELINE + max_concurrency * part_size
    worst = max(r[way]["peak_above_baseline"] for r in results.values() for way in OPERATOR_WAYS)
    memory_ok = worst <= memory_target
    speed = {
        way: {
            size_mib: r[way]["mib_per_s"] / r["upload_file"]["mib_per_s"]
            for size_mib, r in results.items()
            if size_mib >= THROUGHPUT_FROM_MIB
        }
        for way in OPERATOR_WAYS
    }
    throughput_ok = all(value >= TARGET_THROUGHPUT_RATIO for value in speed["archive"].values())
    text += (
        f"\n\nArchiveVideoOperator's largest peak: {worst / MIB:.1f} MiB above baseline, "
        f"{'within' if memory_ok else 'OVER'} the {memory_target // MIB} MiB target "
        f"({TARGET_ABOVE_BASELINE // MIB} MiB + {max_concurrency} parts in flight x {part_size_mib} MiB)."
    )
    if speed["archive"]:
        ratios = {
            way: ", ".join(f"{value:.2f}x at {size:,} MiB" for size, value in speed[way].items())
            for way in OPERATOR_WAYS
        }
        text += (
            f"\nThroughput over upload_file from {THROUGHPUT_FROM_MIB} MiB up: {ratios['archive']} "
            f"({'met' if throughput_ok else 'MISSED'}: the target is {TARGET_THROUGHPUT_RATIO}x); "
            f"without the contact sheet {ratios['archive_video']}."
        )
    return {
        "results": results,
        "memory_within_target": memory_ok,
        "throughput_within_target": throughput_ok,
        "within_target": memory_ok and throughput_ok,
        "table": text,
    }


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
    parser.add_argument(
        "--max-concurrency",
        type=int,
        default=DEFAULT_MAX_CONCURRENCY,
        help=f"parts the operator sends at once (default {DEFAULT_MAX_CONCURRENCY})",
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds of every way per size (default 3)")
    args = parser.parse_args(argv)
    print(describe_machine())
    out = run(tuple(args.sizes_mib), args.part_size_mib, args.max_concurrency, args.repeat)
    print(out["table"])
    return 0 if out["within_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
