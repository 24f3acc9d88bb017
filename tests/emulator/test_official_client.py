"""The official AI SDK client (``tests/node/generate_video.mjs``) against the emulator, unchanged.

Seed examples run through start/poll (``mode: async``) and the synchronous SSE call (``mode: sse``);
their image URLs point at a loopback image host. The MP4s the client writes are decoded with PyAV.
The JavaScript sample of ``docs/emulator.md`` runs as it is printed, against an emulator started
with its default flags.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from airflow_video_gen.devtools.emulator.command import DEFAULT_PORT
from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from tests.media import FIXTURE_IMAGES
from tests.sdk_reference.examples import EXAMPLES_BY_NAME

REPO_ROOT = Path(__file__).resolve().parents[2]
HARNESS = REPO_ROOT / "tests" / "node" / "generate_video.mjs"
NODE_MODULES = REPO_ROOT / "tests" / "node" / "node_modules"
EMULATOR_DOCS = REPO_ROOT / "docs" / "emulator.md"

pytestmark = [pytest.mark.node, pytest.mark.slow]


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.skip("node not found: the official AI SDK client needs Node.js on PATH")
    if not (NODE_MODULES / "ai").is_dir() or not (NODE_MODULES / "@ai-sdk" / "gateway").is_dir():
        pytest.skip(f"node modules missing: run `npm ci` in {NODE_MODULES.parent.relative_to(REPO_ROOT)}")
    return found


@pytest.fixture(scope="module")
def url_emulator():
    with EmulatorProcess(latency=0.3) as process:
        yield process


@pytest.fixture(scope="module")
def default_emulator():
    """The emulator as ``airflow-video-gen emulator`` starts it with no flags, on a free port."""
    with EmulatorProcess(latency=None, results=None, render_workers=None) as process:
        yield process


def run_client(
    node: str, emulator: EmulatorProcess, example: str, mode: str, out_dir: Path, **overrides: Any
) -> dict[str, Any]:
    """Run one seed example through the harness; its stdout JSON line."""
    spec = EXAMPLES_BY_NAME[example]
    call = copy.deepcopy(spec["call"])
    image_url = overrides.pop("image_url", None)
    if image_url is not None:
        call["prompt"]["image"] = image_url
    call.update(overrides.pop("call", {}))
    request = {
        "baseURL": emulator.base_url,
        "apiKey": emulator.api_key,
        "model": spec["model"],
        "call": call,
        "bufferFiles": spec["bufferFiles"],
        "outDir": str(out_dir),
        "mode": mode,
        "pollIntervalMs": 50,
        "pollTimeoutMs": 60_000,
        **overrides,
    }
    done = subprocess.run(
        [node, str(HARNESS)],
        input=json.dumps(request).encode(),
        capture_output=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )
    lines = done.stdout.decode().strip().splitlines()
    assert lines, f"no output from the client; stderr: {done.stderr.decode()[-2000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    assert done.returncode == 0, json.dumps(result.get("error"), indent=1)[:3000]
    return result


@pytest.mark.parametrize("mode", ["async", "sse"])
def test_kling_first_last_frame_with_buffers(
    node, url_emulator, mode, tmp_path, decode_mp4, image_host, padded, frame_diff
):
    """Buffers: the start frame as a file object, imageTail as the Node Buffer JSON form."""
    result = run_client(node, url_emulator, "kling_first_last_frame", mode, tmp_path, download="direct")
    [video] = result["videos"]
    assert video["mediaType"] == "video/mp4"
    mp4 = decode_mp4(Path(video["path"]).read_bytes())
    assert (mp4.width, mp4.height) == (1280, 720)
    assert mp4.fps == 24
    assert abs(mp4.duration - 5) <= 1 / 24
    assert frame_diff(mp4.last, padded(image_host.image("end.png"), 1280, 720)) < 6
    assert frame_diff(mp4.first, padded(image_host.image("start.png"), 1280, 720)) < 6
    gateway_meta = result["providerMetadata"]["gateway"]
    if mode == "async":
        assert gateway_meta["asyncJob"]["status"] == "completed"
    else:
        assert gateway_meta["generationId"]


@pytest.mark.parametrize("mode", ["async", "sse"])
def test_seedance_basic_from_a_loopback_url(node, url_emulator, mode, tmp_path, decode_mp4, image_host):
    url = image_host.url("landscape.png")
    result = run_client(
        node, url_emulator, "seedance_basic", mode, tmp_path, image_url=url, download="direct"
    )
    [video] = result["videos"]
    mp4 = decode_mp4(Path(video["path"]).read_bytes())
    assert (mp4.width, mp4.height) == (1280, 720)
    assert abs(mp4.duration - 5) <= 1 / 24
    assert not mp4.has_audio
    assert result["warnings"] == []


def test_wan_with_audio_base64_results_and_the_sdks_own_download(node, tmp_path, decode_mp4, image_host):
    """Base64 results need no download, so the SDK's default (loopback-refusing) downloader is fine."""
    with EmulatorProcess(latency=0.3, results="base64") as emulator:
        url = image_host.url("portrait.jpg")
        result = run_client(
            node, emulator, "wan_basic", "async", tmp_path, image_url=url, call={"duration": 2}
        )
        assert emulator.stats()["starts_billed"] == 1
    [video] = result["videos"]
    mp4 = decode_mp4(Path(video["path"]).read_bytes())
    assert (mp4.width, mp4.height) == (1280, 720)  # Wan's default size
    assert abs(mp4.duration - 2) <= 1 / 24
    assert mp4.has_audio  # providerOptions.alibaba.audio: true


@pytest.mark.parametrize("mode", ["sse", "async"])
def test_default_flags_and_the_sdks_own_download_give_the_client_its_video(
    node, default_emulator, mode, tmp_path, decode_mp4, padded, frame_diff
):
    """The SDK's downloader refuses loopback URLs; with default flags the videos come inline."""
    assert httpx.get(default_emulator.root_url + "/", timeout=10).json()["results"] == "base64"
    result = run_client(node, default_emulator, "kling_first_last_frame", mode, tmp_path)
    [video] = result["videos"]
    assert video["mediaType"] == "video/mp4"
    mp4 = decode_mp4(Path(video["path"]).read_bytes())
    assert (mp4.width, mp4.height, mp4.fps) == (1280, 720, 24)
    assert abs(mp4.duration - 5) <= 1 / 24
    start = Image.open(FIXTURE_IMAGES / "start.png")
    assert frame_diff(mp4.first, padded(start, 1280, 720)) < 6


def test_url_results_are_refused_by_the_sdks_own_download(node, url_emulator, tmp_path):
    """Why inline is the default: the same call against URL results fails after the job is done."""
    spec = EXAMPLES_BY_NAME["kling_first_last_frame"]
    request = {
        "baseURL": url_emulator.base_url,
        "apiKey": url_emulator.api_key,
        "model": spec["model"],
        "call": spec["call"],
        "bufferFiles": spec["bufferFiles"],
        "outDir": str(tmp_path),
        "mode": "sse",
    }
    done = subprocess.run(
        [node, str(HARNESS)],
        input=json.dumps(request).encode(),
        capture_output=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    error = json.loads(done.stdout.decode().strip().splitlines()[-1])["error"]
    assert error["name"] == "AI_DownloadError"
    assert "URL with IP address 127.0.0.1 is not allowed" in error["message"]


def _docs_block(text: str, language: str, after: str) -> str:
    """The first ``language`` code block of ``text`` that follows the line ``after``."""
    match = re.search(rf"^{re.escape(after)}\n```{language}\n(.*?)^```$", text, re.DOTALL | re.MULTILINE)
    assert match, f"docs/emulator.md has no {language} block after {after!r}"
    return match.group(1)


def test_the_docs_javascript_sample_runs_against_an_emulator_with_default_flags(
    node, default_emulator, tmp_path, decode_mp4, padded, frame_diff
):
    """The sample of docs/emulator.md, run as a user would (its own folder, ``start.png`` beside it),
    with only the base URL pointed at this test's emulator; its npm pins are the tested ones."""
    docs = EMULATOR_DOCS.read_text(encoding="utf-8")
    install = _docs_block(
        docs,
        "bash",
        "<!-- not-run: installs Node packages from the npm registry "
        "(tests/node/package.json pins the same) -->",
    )
    pins = json.loads((NODE_MODULES.parent / "package.json").read_text())["dependencies"]
    command, packages = install.split()[:2], install.split()[2:]
    assert command == ["npm", "install"]
    assert sorted(packages) == sorted(f"{name}@{version}" for name, version in pins.items())
    sample = _docs_block(
        docs,
        "js",
        "<!-- not-run: JavaScript; tests/emulator/test_official_client.py runs this sample with Node -->",
    )
    docs_url = f"http://127.0.0.1:{DEFAULT_PORT}/v4/ai"
    assert sample.count(f"'{docs_url}'") == 1, f"the sample's baseURL is not the default {docs_url}"
    (tmp_path / "generate.mjs").write_text(sample.replace(docs_url, default_emulator.base_url))
    (tmp_path / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    shutil.copy(FIXTURE_IMAGES / "start.png", tmp_path / "start.png")
    done = subprocess.run(
        [node, "generate.mjs"], capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    video = (tmp_path / "video.mp4").read_bytes()
    assert done.stdout.strip() == f"video.mp4: {len(video)} bytes"
    mp4 = decode_mp4(video)
    assert abs(mp4.duration - 5) <= 1 / 24
    assert frame_diff(mp4.first, padded(Image.open(FIXTURE_IMAGES / "start.png"), mp4.width, mp4.height)) < 6


def test_invalid_request_reaches_the_client_as_an_api_error(node, url_emulator, tmp_path, image_host):
    spec = EXAMPLES_BY_NAME["kling_basic"]
    request = {
        "baseURL": url_emulator.base_url,
        "apiKey": url_emulator.api_key,
        "model": spec["model"],
        "call": {
            **spec["call"],
            "prompt": {"image": image_host.url("start.png"), "text": "x"},
            "duration": 7,
        },
        "outDir": str(tmp_path),
        "mode": "async",
    }
    done = subprocess.run(
        [node, str(HARNESS)],
        input=json.dumps(request).encode(),
        capture_output=True,
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert done.returncode == 1
    error = json.loads(done.stdout.decode().strip().splitlines()[-1])["error"]
    text = json.dumps(error)
    assert "duration" in text
    assert "400" in text or "invalid_request_error" in text


def list_models(node: str, base_url: str, api_key: str) -> tuple[int, dict[str, Any]]:
    """``gateway.getAvailableModels()`` of the official client (``tests/node/list_models.mjs``)."""
    done = subprocess.run(
        [node, str(HARNESS.with_name("list_models.mjs"))],
        input=json.dumps({"baseURL": base_url, "apiKey": api_key}).encode(),
        capture_output=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )
    lines = done.stdout.decode().strip().splitlines()
    assert lines, f"no output from the client; stderr: {done.stderr.decode()[-2000:]}"
    return done.returncode, json.loads(lines[-1])


def test_get_available_models_lists_every_family_model(node):
    from airflow_video_gen.families import BUILT_IN_FAMILIES

    with EmulatorProcess(api_key="the-right-key") as emulator:
        code, answer = list_models(node, emulator.base_url, "the-right-key")
        assert code == 0, answer
        expected = {m: spec for f in BUILT_IN_FAMILIES for m, spec in f.models.items()}
        assert [m["id"] for m in answer["models"]] == list(expected)
        for model in answer["models"]:
            assert model["modelType"] == "video"
            assert model["description"] == expected[model["id"]].description
            assert model["specification"]["specificationVersion"] == "v4"
            assert model["specification"]["modelId"] == model["id"]
        code, answer = list_models(node, emulator.base_url, "wrong-key")
        assert code == 1
        assert answer["error"]["statusCode"] == 401
        assert emulator.stats()["config_calls"] == 1
