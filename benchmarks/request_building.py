"""Time and peak memory of building a request for a 10 MB image, against plain base64 + json.

``VideoRequest.from_sdk_call`` checks the image (probes its header with Pillow, hashes it) and
``to_gateway_body`` encodes it as the protocol's file object; ``protocol.build_start`` then makes
the wire bytes. The baseline is what a hand-written client does: ``base64.b64encode`` the bytes and
``json.dumps`` the body, no checks. Peak memory is traced with ``tracemalloc`` (Python allocations
above what was held before the call), the time is the median of ``--repeat`` runs.

Run from the repository root::

    python -m benchmarks.request_building               # a 10 MB PNG, 7 repeats
    python -m benchmarks.request_building --mb 1 --repeat 3
"""

from __future__ import annotations

import argparse
import base64
import gc
import io
import json
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from airflow_video_gen import protocol
from airflow_video_gen.models import VideoRequest
from benchmarks.common import MIB, describe_machine, load, ratio, table

#: Veo takes image bytes inline and has no file size limit below 10 MB.
MODEL = "google/veo-3.1-generate-001"
TEXT = "The scene comes alive"
CONFIG = protocol.GatewayConfig(api_key="benchmark", base_url="http://127.0.0.1:9/v4/ai")


def make_png(megabytes: float) -> bytes:
    """A real PNG of about ``megabytes`` MB (10^6 bytes): random pixels, so it does not compress."""
    side = max(300, int((megabytes * 1e6 / 3) ** 0.5))
    pixels = np.random.default_rng(7).integers(0, 256, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, format="PNG", compress_level=1)
    return out.getvalue()


def baseline(data: bytes) -> bytes:
    """Plain ``base64.b64encode`` + ``json.dumps`` of the same body, as a hand-written client does."""
    body = {
        "prompt": TEXT,
        "n": 1,
        "providerOptions": {},
        "image": {"type": "file", "mediaType": "image/png", "data": base64.b64encode(data).decode("ascii")},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def ours_body(data: bytes) -> dict[str, Any]:
    """``from_sdk_call`` + ``to_gateway_body``: the checked request as its wire dict."""
    return VideoRequest.from_sdk_call(MODEL, {"prompt": {"image": data, "text": TEXT}}).to_gateway_body()


def ours_wire(data: bytes) -> bytes:
    """As :func:`ours_body`, then the wire bytes of the start call (``protocol.build_start``)."""
    return protocol.build_start(CONFIG, MODEL, ours_body(data), "avg_benchmark").body


def measure(ways: dict[str, Callable[[bytes], Any]], data: bytes, repeat: int) -> dict[str, dict[str, float]]:
    """Per way: median and best seconds of ``repeat`` calls (the ways taking turns, after one warm-up
    call each), and the traced peak of one more call."""
    times: dict[str, list[float]] = {key: [] for key in ways}
    for fn in ways.values():
        fn(data)
    for _ in range(repeat):
        for key, fn in ways.items():
            gc.collect()
            began = time.perf_counter()
            fn(data)
            times[key].append(time.perf_counter() - began)
    out: dict[str, dict[str, float]] = {}
    for key, fn in ways.items():
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = fn(data)
        peak = tracemalloc.get_traced_memory()[1] - before
        tracemalloc.stop()
        del result
        out[key] = {
            "median_s": statistics.median(times[key]),
            "best_s": min(times[key]),
            "peak_bytes": float(peak),
            "load": load(),
        }
    return out


WAYS: tuple[tuple[str, str, Callable[[bytes], Any]], ...] = (
    ("baseline", "base64.b64encode + json.dumps (baseline)", baseline),
    ("body", "from_sdk_call + to_gateway_body", ours_body),
    ("wire", "from_sdk_call + to_gateway_body + build_start bytes", ours_wire),
)


def run(megabytes: float = 10.0, repeat: int = 7) -> dict[str, Any]:
    """Measure every way; returns the figures and the rendered table."""
    data = make_png(megabytes)
    results = measure({key: fn for key, _, fn in WAYS}, data, repeat)
    base = results["baseline"]
    rows = [
        (
            label,
            round(1000 * r["median_s"], 1),
            ratio(r["median_s"], base["median_s"]),
            round(r["peak_bytes"] / MIB, 1),
            round(r["peak_bytes"] / len(data), 2),
            ratio(r["peak_bytes"], base["peak_bytes"]),
            r["load"],
        )
        for key, label, _ in WAYS
        for r in [results[key]]
    ]
    text = f"Request building for one {len(data) / 1e6:.1f} MB PNG ({MODEL}), median of {repeat}\n\n" + table(
        ("way", "ms", "time vs baseline", "peak MiB", "peak / image", "peak vs baseline", "load"),
        rows,
    )
    return {"image_bytes": len(data), "repeat": repeat, "results": results, "table": text}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=float, default=10.0, help="image size in MB (default 10)")
    parser.add_argument("--repeat", type=int, default=7, help="timed calls per way (default 7)")
    args = parser.parse_args(argv)
    print(describe_machine())
    print(run(args.mb, args.repeat)["table"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
