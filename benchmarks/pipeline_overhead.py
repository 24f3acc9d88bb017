"""The flagship DAG over many images on a real local Airflow: wall time against the emulator's
latency (the floor), and the worker slots held while the videos generate; one task per video and
step against batches of videos per task.

Generates ``--images`` small PNGs (320x320, Pillow) into a temporary folder and runs
``dags/image_to_video_pipeline.py`` on them with one fast model (``xai/grok-imagine-video``, 1 s
videos) through a local Airflow (api-server, scheduler, dag-processor, triggerer; LocalExecutor
with ``--slots`` worker slots; SQLite), the emulator (job latency ``--latency``) and a local S3
(moto). Every ``--sample`` seconds the task instances are counted by state, so the table shows how
many worker slots were held (``running``) while generations waited (``deferred``), and the time
each kind of task took on a worker.

The DAG runs once per batch size (``--batch-sizes``; by default 1, one task instance per video
and step, and the DAG's default ``batch_size``) and worker setting, one run after the other:
Airflow's default worker settings and
:func:`~airflow_video_gen.devtools.local_stack.quick_task_settings` (tasks forked from a forkserver that
has imported Airflow and this package; slots freed a second after their task ends): where the
wall time goes when tasks are short, and what batches and two stock settings take off it.

Run from the repository root::

    python -m benchmarks.pipeline_overhead                 # 200 images, 30 s latency, 4 slots
    python -m benchmarks.pipeline_overhead --workers defaults --batch-sizes 1 25 50
    python -m benchmarks.pipeline_overhead --images 4 --latency 5 --workers quick
"""

from __future__ import annotations

import argparse
import ast
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from benchmarks.common import describe_machine, load, table

REPO = Path(__file__).resolve().parents[1]
DAG_ID = "image_to_video_pipeline"
DAG_FILE = REPO / "dags" / f"{DAG_ID}.py"
MODEL = "xai/grok-imagine-video"
BUCKET = "airflow-video-gen-bench"
TASKS = ("plan", "stage", "submit", "wait", "archive")
#: The worker settings compared: Airflow's defaults, and ``quick_task_settings``.
WORKERS = {"defaults": False, "quick": True}
WORKER_LABELS = {"defaults": "Airflow's defaults", "quick": "quick task settings"}


def dag_batch_size() -> int:
    """The flagship DAG's default ``batch_size`` (its ``BATCH_SIZE``), read from its source."""
    for node in ast.parse(DAG_FILE.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "BATCH_SIZE" for t in node.targets):
            return int(ast.literal_eval(node.value))
    raise LookupError(f"{DAG_FILE.name} sets no BATCH_SIZE")


def label(workers: str, batch_size: int) -> str:
    """A run's name in the tables: its worker settings and batch size."""
    per = "one task per video" if batch_size == 1 else f"batches of {batch_size}"
    return f"{WORKER_LABELS[workers]}, {per}"


def make_images(folder: Path, count: int, size: int = 320) -> list[Path]:
    """``count`` distinct PNGs of ``size`` x ``size`` pixels."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        img = Image.new("RGB", (size, size), (30 + i * 37 % 200, 60 + i * 11 % 180, 120 + i * 5 % 130))
        draw = ImageDraw.Draw(img)
        r = size // 5 + i % (size // 5)
        draw.ellipse([size // 2 - r, size // 2 - r, size // 2 + r, size // 2 + r], fill=(240, 160, 40))
        draw.text((10, 10), f"image {i}", fill=(255, 255, 255))
        path = folder / f"image-{i:04d}.png"
        img.save(path, format="PNG")
        paths.append(path)
    return paths


def _states(airflow: Any, run_id: str) -> dict[tuple[str, str], int]:
    rows = airflow.query(
        "select task_id, coalesce(state, 'none'), count(*) from task_instance "
        "where dag_id = ? and run_id = ? group by task_id, state",
        (DAG_ID, run_id),
    )
    return {(task, state): count for task, state, count in rows}


def _durations(airflow: Any, run_id: str) -> dict[str, tuple[int, float, float]]:
    """Per task id: instances, total and longest seconds on a worker (Airflow's ``duration``)."""
    rows = airflow.query(
        "select task_id, count(*), sum(coalesce(duration, 0)), max(coalesce(duration, 0)) from task_instance "
        "where dag_id = ? and run_id = ? group by task_id",
        (DAG_ID, run_id),
    )
    return {task: (int(n), float(total or 0), float(top or 0)) for task, n, total, top in rows}


def _phases(airflow: Any, run_id: str) -> dict[str, tuple[float, float]]:
    """Per task id: seconds from the run's start to its first instance's start and last one's end."""
    rows = airflow.query(
        "select ti.task_id, (julianday(min(ti.start_date)) - julianday(dr.start_date)) * 86400, "
        "(julianday(max(ti.end_date)) - julianday(dr.start_date)) * 86400 from task_instance ti "
        "join dag_run dr on dr.dag_id = ti.dag_id and dr.run_id = ti.run_id "
        "where ti.dag_id = ? and ti.run_id = ? group by ti.task_id",
        (DAG_ID, run_id),
    )
    return {task: (round(float(a or 0), 1), round(float(b or 0), 1)) for task, a, b in rows}


def run(
    images: int = 200,
    latency: float = 30.0,
    slots: int = 4,
    sample: float = 2.0,
    timeout: float = 5400.0,
    workers: Sequence[str] = tuple(WORKERS),
    batch_sizes: Sequence[int] | None = None,
) -> dict[str, Any]:
    """The flagship DAG over ``images`` images once per worker setting (:data:`WORKERS`) and batch
    size (default: 1 and the DAG's default); each run's figures, a comparison, and the tables as
    text. ``state`` is ``success`` when every run succeeded."""
    sizes = tuple(batch_sizes) if batch_sizes else (1, dag_batch_size())
    runs = {
        label(name, size): run_once(
            images, latency, slots, sample, timeout, quick_tasks=WORKERS[name], batch_size=size
        )
        for name in workers
        for size in sizes
    }
    parts = [f"{name}\n\n{f['table']}" for name, f in runs.items()]
    if len(runs) > 1:
        parts.insert(0, _comparison(runs))
    first = next(iter(runs.values()))
    return {
        "runs": runs,
        "state": "success" if all(f["state"] == "success" for f in runs.values()) else "failed",
        "succeeded": sum(f["succeeded"] for f in runs.values()),
        "task_instances": sum(f["task_instances"] for f in runs.values()),
        "max_deferred": max(f["max_deferred"] for f in runs.values()),
        "floor_s": first["floor_s"],
        "table": "\n\n".join(parts),
    }


def _comparison(runs: dict[str, dict[str, Any]]) -> str:
    base = next(iter(runs.values()))
    rows = []
    for name, f in runs.items():
        worker_s = sum(total for _, total, _ in f["durations"].values())
        rows.append(
            (
                name,
                f["task_instances"],
                f"{f['wall_s']:,.0f}",
                f"{f['wall_over_floor']:.1f}x",
                f"{f['wall_s'] / base['wall_s']:.2f}x",
                round(worker_s),
                f"{worker_s / max(1, f['task_instances']):.2f}",
                f["max_deferred"],
                f"{f['mean_running_while_generating']:.1f} / "
                f"{f['mean_sensors_running_while_generating']:.2f} / "
                f"{f['max_sensors_running_while_generating']}",
                f"{f['load_start']} -> {f['load_end']}",
            )
        )
    headers = (
        "run",
        "task instances",
        "wall s",
        "wall / floor",
        "wall vs first row",
        "worker s (all tasks)",
        "s per task",
        "max deferred",
        "while generating: slots running (mean) / held by waits (mean / max)",
        "load",
    )
    return table(headers, rows)


def run_once(
    images: int,
    latency: float,
    slots: int,
    sample: float,
    timeout: float,
    *,
    quick_tasks: bool,
    batch_size: int = 1,
) -> dict[str, Any]:
    """Run the flagship DAG once over ``images`` images in batches of ``batch_size``; the figures
    and the tables as text."""
    from airflow_video_gen.devtools.emulator.process import EmulatorProcess
    from airflow_video_gen.devtools.local_s3 import LocalS3
    from airflow_video_gen.devtools.local_stack import LocalAirflow

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_images(root / "images", images)
        (root / "dags").mkdir()
        shutil.copy(DAG_FILE, root / "dags" / DAG_FILE.name)
        with EmulatorProcess(latency=latency, render_workers=1) as gateway, LocalS3(subprocess=True) as s3:
            s3.create_bucket(BUCKET)
            env = {
                "AIRFLOW_CONN_AI_GATEWAY_DEFAULT": gateway.connection_json(),
                "AIRFLOW_CONN_AWS_DEFAULT": s3.connection_json(),
                "AIRFLOW_VIDEO_GEN_BUCKET": BUCKET,
                "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "64",
            }
            conf = {
                "source": str(root / "images"),
                "models": [MODEL],
                "duration": 1,
                "staging": f"s3://{BUCKET}/staging/",
                "archive": f"s3://{BUCKET}/videos/",
                "batch_size": batch_size,
            }
            with LocalAirflow(
                root / "home", root / "dags", env=env, parallelism=slots, quick_tasks=quick_tasks
            ) as airflow:
                airflow.wait_for_dag(DAG_ID)
                load_start = load()
                began = time.monotonic()
                run_id = airflow.trigger(DAG_ID, conf)
                timeline: list[tuple[float, dict[tuple[str, str], int], float, int]] = []
                state = None
                while time.monotonic() - began < timeout:
                    jobs = gateway.stats()["jobs"]
                    in_flight = int(jobs["queued"]) + int(jobs["running"])
                    timeline.append((time.monotonic() - began, _states(airflow, run_id), load(), in_flight))
                    state = airflow.run_state(DAG_ID, run_id)
                    if state in ("success", "failed"):
                        break
                    time.sleep(sample)
                wall = time.monotonic() - began
                durations = _durations(airflow, run_id)
                phases = _phases(airflow, run_id)
                final = _states(airflow, run_id)
            stats = gateway.stats()
    figures = _report(
        images, latency, slots, sample, state, wall, timeline, durations, final, stats, load_start
    )
    figures["phases"] = phases
    figures["table"] = _tables(figures)
    return figures


def _report(
    images: int,
    latency: float,
    slots: int,
    sample: float,
    state: str | None,
    wall: float,
    timeline: list[tuple[float, dict[tuple[str, str], int], float, int]],
    durations: dict[str, tuple[int, float, float]],
    final: dict[tuple[str, str], int],
    stats: dict[str, Any],
    load_start: float,
) -> dict[str, Any]:
    def total(counts: dict[tuple[str, str], int], state: str, task: str | None = None) -> int:
        return sum(v for (t, s), v in counts.items() if s == state and (task is None or t == task))

    generating = [(t, c) for t, c, _, jobs in timeline if jobs > 0]
    running_while = [total(c, "running") for _, c in generating]
    sensors_running = [total(c, "running", "wait") for _, c in generating]
    figures: dict[str, Any] = {
        "images": images,
        "latency": latency,
        "slots": slots,
        "state": state,
        "wall_s": wall,
        "floor_s": latency,
        "wall_over_floor": wall / latency,
        "succeeded": total(final, "success"),
        "task_instances": sum(final.values()),
        "max_in_flight": max((jobs for *_, jobs in timeline), default=0),
        "seconds_generating": len(generating) * sample,
        "max_deferred": max((total(c, "deferred") for _, c, _, _ in timeline), default=0),
        "mean_running_while_generating": sum(running_while) / len(running_while) if running_while else 0.0,
        "max_running_while_generating": max(running_while, default=0),
        "mean_sensors_running_while_generating": (
            sum(sensors_running) / len(sensors_running) if sensors_running else 0.0
        ),
        "max_sensors_running_while_generating": max(sensors_running, default=0),
        "max_running": max((total(c, "running") for _, c, _, _ in timeline), default=0),
        "durations": durations,
        "starts_billed": stats.get("starts_billed"),
        "polls_served": stats.get("polls_served"),
        "renders_done": stats.get("renders_done"),
        "load_start": load_start,
        "load_end": timeline[-1][2] if timeline else load(),
        "timeline": [
            (round(t, 1), {f"{k[0]}:{k[1]}": v for k, v in c.items()}, ld, jobs)
            for t, c, ld, jobs in timeline
        ],
    }
    return figures


def _tables(f: dict[str, Any]) -> str:
    loads = f"{f['load_start']} -> {f['load_end']}"
    summary = table(
        ("pipeline", "figure", "load (start -> end)"),
        [
            (
                "run",
                f"{f['state']}: {f['succeeded']:,} of {f['task_instances']:,} task instances succeeded",
                loads,
            ),
            ("wall time", f"{f['wall_s']:,.0f} s", loads),
            ("floor (one generation's latency)", f"{f['floor_s']:g} s", loads),
            ("wall time / floor", f"{f['wall_over_floor']:.1f}x", loads),
            ("generations in flight at the emulator (max)", f"{f['max_in_flight']:,}", loads),
            ("time with generations in flight", f"{f['seconds_generating']:,.0f} s", loads),
            ("wait tasks deferred at once (max)", f"{f['max_deferred']:,}", loads),
            (
                "worker slots running while generations are in flight (mean / max)",
                f"{f['mean_running_while_generating']:.1f} / {f['max_running_while_generating']} "
                f"of {f['slots']}",
                loads,
            ),
            (
                "of those, held by wait tasks (mean / max)",
                f"{f['mean_sensors_running_while_generating']:.2f} / "
                f"{f['max_sensors_running_while_generating']}",
                loads,
            ),
            (
                "starts billed / status polls / renders",
                f"{f['starts_billed']} / {f['polls_served']} / {f['renders_done']}",
                loads,
            ),
        ],
    )
    rows = []
    for task in TASKS:
        count, seconds, longest = f["durations"].get(task, (0, 0.0, 0.0))
        first, last = f["phases"].get(task, (None, None))
        rows.append(
            (
                task,
                count,
                round(seconds, 1),
                seconds / count if count else None,
                round(longest, 1),
                first,
                last,
            )
        )
    headers = (
        "task",
        "instances",
        "worker s total",
        "s each (mean)",
        "longest s",
        "first start s",
        "last end s",
    )
    per_task = table(headers, rows)
    return f"{summary}\n\nTime on workers per task (Airflow's task duration)\n\n{per_task}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=200, help="images to animate (default 200)")
    parser.add_argument("--latency", type=float, default=30.0, help="emulator job latency, s (default 30)")
    parser.add_argument("--slots", type=int, default=4, help="LocalExecutor worker slots (default 4)")
    parser.add_argument("--sample", type=float, default=2.0, help="seconds between state samples (default 2)")
    parser.add_argument(
        "--workers",
        nargs="+",
        choices=tuple(WORKERS),
        default=tuple(WORKERS),
        help="worker settings to run with, in turn (default: both)",
    )
    parser.add_argument(
        "--batch-sizes",
        nargs="+",
        type=int,
        default=None,
        help=f"the DAG's batch_size in each run (default: 1 and the DAG's default, {dag_batch_size()})",
    )
    args = parser.parse_args(argv)
    print(describe_machine())
    out = run(
        args.images, args.latency, args.slots, args.sample, workers=args.workers, batch_sizes=args.batch_sizes
    )
    print(
        f"Flagship DAG, {args.images} images x {MODEL} (1 s videos), emulator latency {args.latency:g} s, "
        f"LocalExecutor with {args.slots} slots\n"
    )
    print(out["table"])
    return 0 if out["state"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
