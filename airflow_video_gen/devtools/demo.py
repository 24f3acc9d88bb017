"""``airflow-video-gen demo``: the flagship pipeline on a real local Airflow, no API key, no cloud.

Starts the AI Gateway emulator and a local S3 on free loopback ports, a real Airflow (api-server,
scheduler, dag-processor, triggerer; SQLite under ``.airflow/``), runs ``image_to_video_pipeline``
on the sample images, prints what it made and copies the videos and contact sheets to ``./out/``.
Every process it starts is stopped on exit, Ctrl-C included.
"""

from __future__ import annotations

import shutil
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

DAG_ID = "image_to_video_pipeline"
BUCKET = "airflow-video-gen-demo"
DEFAULT_MODELS = ("bytedance/seedance-v1.0-pro-fast", "klingai/kling-v2.6-i2v")


def _say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _table(rows: list[dict[str, Any]]) -> str:
    headers = ("model", "seconds", "size", "S3 URI")
    cells = [(r["model"], f"{r['seconds']:.1f}", f"{r['size'] / 1e6:.2f} MB", r["s3_uri"]) for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(
        [line.format(*headers), line.format(*("-" * w for w in widths))] + [line.format(*c) for c in cells]
    )


def run_demo(
    *,
    dags_folder: Path = Path("dags"),
    home: Path = Path(".airflow"),
    out_dir: Path = Path("out"),
    models: Sequence[str] = DEFAULT_MODELS,
    latency: float = 3.0,
    parallelism: int = 4,
    timeout: float = 1200.0,
) -> int:
    """Run the demo; return a process exit code (0 when every video was made and archived).

    :param dags_folder: Folder holding ``image_to_video_pipeline.py`` and ``sample_images/``.
    :param home: ``AIRFLOW_HOME`` of the demo (wiped at start).
    :param out_dir: Where the videos and contact sheets are copied.
    :param models: Models every sample image is animated with.
    :param latency: Seconds each emulated generation takes.
    :param parallelism: LocalExecutor worker slots.
    :param timeout: Seconds before the run is given up.
    """
    from airflow_video_gen.devtools.emulator.process import EmulatorProcess
    from airflow_video_gen.devtools.local_s3 import LocalS3
    from airflow_video_gen.devtools.local_stack import LocalAirflow, StackError

    dags_folder = dags_folder.resolve()
    if not (dags_folder / f"{DAG_ID}.py").exists():
        _say(f"FAILED: {dags_folder}/{DAG_ID}.py not found; run from the repository root or pass --dags")
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    began = time.monotonic()
    shutil.rmtree(home, ignore_errors=True)
    try:
        _say(f"starting the AI Gateway emulator (latency {latency:g} s)")
        # URL results: archive streams each video into S3, as it does from the gateway's links.
        with EmulatorProcess(latency=latency, results="url", render_workers=1) as gateway:
            _say(f"  {gateway.base_url}")
            _say("starting a local S3 (moto)")
            with LocalS3(subprocess=True) as s3:
                s3.create_bucket(BUCKET)
                _say(f"  {s3.endpoint_url}, bucket {BUCKET}")
                env = {
                    "AIRFLOW_CONN_AI_GATEWAY_DEFAULT": gateway.connection_json(),
                    "AIRFLOW_CONN_AWS_DEFAULT": s3.connection_json(),
                    "AIRFLOW_VIDEO_GEN_BUCKET": BUCKET,
                }
                _say(f"starting Airflow (api-server, scheduler, dag-processor, triggerer) in {home}/")
                with LocalAirflow(home, dags_folder, env=env, parallelism=parallelism) as airflow:
                    conf = {"source": str(dags_folder / "sample_images"), "models": list(models)}
                    run_id = airflow.trigger(DAG_ID, conf)
                    _say(f"triggered {DAG_ID} ({run_id}) with models {', '.join(models)}")
                    state = _wait(airflow, run_id, timeout)
                    if state != "success":
                        _report_failure(airflow, run_id)
                        return 1
                    rows = _results(airflow, run_id)
                    _copy_out(s3, rows, out_dir)
        print(_table(rows), flush=True)
        took = time.monotonic() - began
        _say(f"{len(rows)} videos in {out_dir}/ (MP4 and contact sheets); total {took:.0f} s")
        return 0
    except KeyboardInterrupt:
        _say("interrupted; every process was stopped")
        return 130
    except (StackError, RuntimeError, OSError) as exc:
        _say(f"FAILED: {exc}")
        return 1


def _wait(airflow: Any, run_id: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        state = airflow.run_state(DAG_ID, run_id)
        counts = airflow.task_states(DAG_ID, run_id)
        summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        if summary != last:
            _say(f"  tasks: {summary}")
            last = summary
        if state in ("success", "failed"):
            return str(state)
        time.sleep(3)
    raise RuntimeError(f"the run did not finish in {timeout:g} s")


def _report_failure(airflow: Any, run_id: str) -> None:
    failed = airflow.query(
        "select task_id, map_index from task_instance where dag_id = ? and run_id = ? and state = 'failed'",
        (DAG_ID, run_id),
    )
    _say(f"FAILED: the run ended 'failed'; failed tasks: {failed}")
    logs = sorted((airflow.home / "logs").glob(f"dag_id={DAG_ID}/**/*.log"))
    for task_id, map_index in failed[:3]:
        where = (f"task_id={task_id}/", f"map_index={map_index}/")
        for path in [p for p in logs if all(w in str(p) for w in where) and ".trigger." not in p.name][-1:]:
            _say(f"--- {path.relative_to(airflow.home)}")
            print(path.read_text(errors="replace")[-2500:], flush=True)


def _results(airflow: Any, run_id: str) -> list[dict[str, Any]]:
    # The DAG's tasks each handle a batch: one record per video, per map index.
    waits = [record for batch in airflow.xcoms(DAG_ID, run_id, "wait") for record in batch]
    archives = [record for batch in airflow.xcoms(DAG_ID, run_id, "archive") for record in batch]
    rows = []
    for generation, archived in zip(waits, archives, strict=True):
        for video in archived.get("videos") or []:
            rows.append(
                {
                    "model": generation["model"],
                    "seconds": generation.get("elapsed_s") or 0.0,
                    "size": video["size"],
                    "s3_uri": video["s3_uri"],
                    "contact_sheet_s3_uri": video.get("contact_sheet_s3_uri"),
                }
            )
    return rows


def _copy_out(s3: Any, rows: list[dict[str, Any]], out_dir: Path) -> None:
    from airflow_video_gen.utils.s3 import parse_s3_uri

    client = s3.client()
    out_dir.mkdir(parents=True, exist_ok=True)
    for row in rows:
        for uri in (row["s3_uri"], row.get("contact_sheet_s3_uri")):
            if uri:
                bucket, key = parse_s3_uri(uri)
                client.download_file(bucket, key, str(out_dir / key.replace("/", "__")))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m airflow_video_gen.devtools.demo``."""
    return run_demo()


if __name__ == "__main__":
    sys.exit(main())
