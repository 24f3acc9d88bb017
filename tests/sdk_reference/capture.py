"""Record what the official AI SDK gateway client sends for every seed example.

For each example of :mod:`tests.sdk_reference.examples` and each flow the client has (synchronous
SSE ``video-model`` and asynchronous ``video-model/start`` + ``/status``), this runs
``tests/node/generate_video.mjs`` against a :class:`RecordingGateway` and writes the requests to
``tests/fixtures/sdk_requests/<name>.json``.

Run from the repository root, after ``make node``::

    python -m tests.sdk_reference.capture            # all examples
    python -m tests.sdk_reference.capture kling_basic

Normalisation, so that the fixtures do not change from run to run or machine to machine:

* ``host`` and ``content-length`` are dropped; headers that Node's ``fetch`` adds on its own
  (``connection``, ``accept-encoding``, ``accept-language``, ``sec-fetch-mode``, and ``accept: */*``
  when the client set no ``accept``) are moved to ``transportHeaders``.
* the random part of ``idempotency-key`` is replaced (``idempotencyKey`` says whether the header was
  there, its prefix and the length of the random part);
* the runtime token at the end of ``user-agent`` (``node.js/<version>``) is replaced.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.sdk_reference.examples import END_PNG, EXAMPLES, REPO_ROOT, START_PNG, VideoExample
from tests.sdk_reference.recording_server import DUMMY_MP4, RecordedRequest, RecordingGateway

NODE_DIR = REPO_ROOT / "tests" / "node"
CLI = NODE_DIR / "generate_video.mjs"
FIXTURES_DIR = REPO_ROOT / "tests" / "fixtures" / "sdk_requests"
API_KEY = "test-api-key"
MODES = ("sse", "async")

DROPPED_HEADERS = frozenset({"host", "content-length"})
TRANSPORT_HEADERS = frozenset({"connection", "accept-encoding", "accept-language", "sec-fetch-mode"})
IDEMPOTENCY_KEY = re.compile(r"^(?P<prefix>[A-Za-z]+_[A-Za-z]+_)(?P<random>[0-9A-Za-z]+)$")
RUNTIME_TOKEN = re.compile(r"node\.js/\S+$")

NOTES = {
    "headers": "Set by the client. host and content-length dropped; Node fetch's own headers are in "
    "transportHeaders; the idempotency-key value and the runtime token of user-agent are replaced.",
    "user-agent": "The real value ends with the runtime, e.g. 'node.js/v20.20.2' (Node < 21.1) or "
    "'node.js/22' (navigator.userAgent, lowercased).",
    "modes": "sse: experimental_generateVideo without poll/webhook (the client's default for these "
    "examples). async: the same call with poll: {...}, which switches the client to start/status.",
}


# -- images --------------------------------------------------------------------------------------------


def ensure_images(force: bool = False) -> None:
    """Write the deterministic first/last frame PNGs (320x320) unless they already exist."""
    from PIL import Image, ImageDraw

    scenes = {
        START_PNG: ((135, 206, 235), (34, 139, 34), (255, 215, 0), (50, 50, 130, 130)),
        END_PNG: ((25, 25, 112), (0, 100, 0), (245, 245, 245), (200, 50, 260, 110)),
    }
    for rel, (sky, ground, disc, box) in scenes.items():
        path = REPO_ROOT / rel
        if path.exists() and not force:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        image = Image.new("RGB", (320, 320), sky)
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, 220, 319, 319), fill=ground)
        draw.ellipse(box, fill=disc)
        image.save(path, format="PNG", optimize=False, compress_level=9)


# -- the node client -----------------------------------------------------------------------------------


def node_client_available() -> bool:
    """Whether node and the pinned client (``npm ci`` in ``tests/node``) are installed."""
    return shutil.which("node") is not None and (NODE_DIR / "node_modules" / "ai" / "package.json").exists()


def client_versions() -> dict[str, str]:
    """The installed versions of ``ai`` and ``@ai-sdk/gateway``."""
    versions = {}
    for name in ("ai", "@ai-sdk/gateway"):
        package = json.loads((NODE_DIR / "node_modules" / name / "package.json").read_text())
        versions[name] = package["version"]
    return versions


def run_node_client(payload: dict[str, Any], timeout: float = 120) -> tuple[int, dict[str, Any]]:
    """Run ``generate_video.mjs`` with ``payload`` on stdin; return its exit code and its JSON line.

    Environment variables that would change what the client sends (``VERCEL_*``,
    ``AI_GATEWAY_*``) are removed.
    """
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VERCEL_", "AI_GATEWAY_"))}
    proc = subprocess.run(
        [node, str(CLI)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        env=env,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if not lines:
        raise RuntimeError(f"the node client printed nothing (exit {proc.returncode}): {proc.stderr}")
    return proc.returncode, json.loads(lines[-1])


# -- normalisation -------------------------------------------------------------------------------------


def _call_kind(path: str) -> str:
    if path.endswith("/video-model/start"):
        return "start"
    if path.endswith("/video-model/status"):
        return "status"
    return "generate"


def normalise_request(request: RecordedRequest, mode: str) -> dict[str, Any]:
    """The fixture entry of one recorded request (see the module docstring)."""
    headers: dict[str, str] = {}
    transport: dict[str, str] = {}
    idempotency: dict[str, Any] = {"present": False}
    for name, value in sorted(request.headers.items()):
        if name in DROPPED_HEADERS:
            continue
        if name in TRANSPORT_HEADERS or (name == "accept" and value == "*/*"):
            transport[name] = value
        elif name == "idempotency-key":
            match = IDEMPOTENCY_KEY.match(value)
            if match is None:
                raise ValueError(f"unexpected idempotency-key format: {value!r}")
            random_part = match["random"]
            idempotency = {"present": True, "prefix": match["prefix"], "randomLength": len(random_part)}
            headers[name] = f"{match['prefix']}<{len(random_part)} random [0-9A-Za-z]>"
        elif name == "user-agent":
            headers[name] = RUNTIME_TOKEN.sub("node.js/<runtime version>", value)
        else:
            headers[name] = value
    body = request.body
    return {
        "mode": mode,
        "call": _call_kind(request.path),
        "method": request.method,
        "path": request.path,
        "headers": headers,
        "transportHeaders": transport,
        "idempotencyKey": idempotency,
        "bodyKeys": list(body) if isinstance(body, dict) else None,
        "body": body,
    }


# -- capture -------------------------------------------------------------------------------------------


def capture_example(example: VideoExample, work_dir: Path) -> dict[str, Any]:
    """Run ``example`` through the official client in every mode; return its fixture document."""
    requests: list[dict[str, Any]] = []
    for mode in MODES:
        with RecordingGateway() as gateway:
            payload = {
                "baseURL": gateway.base_url,
                "apiKey": API_KEY,
                "model": example["model"],
                "call": example["call"],
                "bufferFiles": {k: str(REPO_ROOT / v) for k, v in example["bufferFiles"].items()},
                "outDir": str(work_dir / example["name"] / mode),
                "mode": mode,
            }
            code, result = run_node_client(payload)
            if code != 0 or "error" in result:
                raise RuntimeError(f"{example['name']} ({mode}): the client failed: {result}")
            sizes = [video["size"] for video in result["videos"]]
            if sizes != [len(DUMMY_MP4)]:
                raise RuntimeError(f"{example['name']} ({mode}): unexpected videos {result['videos']}")
            requests.extend(normalise_request(request, mode) for request in gateway.requests)
    return {
        "model": example["model"],
        "call": example["call"],
        "bufferFiles": example["bufferFiles"],
        "client": client_versions(),
        "notes": NOTES,
        "requests": requests,
    }


def main(argv: list[str] | None = None) -> int:
    """Capture the selected examples (all by default) into ``tests/fixtures/sdk_requests``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("names", nargs="*", help="example names (default: all)")
    parser.add_argument("--out", type=Path, default=FIXTURES_DIR, help="fixture directory")
    parser.add_argument("--regen-images", action="store_true", help="rewrite the frame PNGs")
    args = parser.parse_args(argv)

    known = {example["name"] for example in EXAMPLES}
    unknown = sorted(set(args.names) - known)
    if unknown:
        parser.error(f"unknown examples: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    if not node_client_available():
        print("node or tests/node/node_modules is missing: run `make node` first", file=sys.stderr)
        return 2

    ensure_images(force=args.regen_images)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for example in EXAMPLES:
            if args.names and example["name"] not in args.names:
                continue
            fixture = capture_example(example, Path(tmp))
            target = args.out / f"{example['name']}.json"
            target.write_text(json.dumps(fixture, indent=2, ensure_ascii=False) + "\n")
            print(
                f"{target.relative_to(REPO_ROOT) if target.is_relative_to(REPO_ROOT) else target}: "
                f"{len(fixture['requests'])} requests"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
