"""The emulator over real HTTP: each family start -> status -> MP4, judgement, idempotency, auth, SSE,
result delivery and expiry. Videos are decoded with PyAV and their measured properties asserted."""

from __future__ import annotations

import base64
import io
import time
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.protocol import SseDecoder

VEO = "google/veo-3.1-generate-001"
KLING = "klingai/kling-v2.6-i2v"
WAN = "alibaba/wan-v2.6-i2v"
WAN_FLASH = "alibaba/wan-v2.6-i2v-flash"
GROK = "xai/grok-imagine-video"
SEEDANCE = "bytedance/seedance-v1.5-pro"
SEEDANCE_LITE = "bytedance/seedance-v1.0-lite-i2v"


def file_image(data: str) -> dict[str, str]:
    return {"type": "file", "mediaType": "image/png", "data": data}


def url_image(url: str) -> dict[str, str]:
    return {"type": "url", "url": url}


def assert_timing(video: Any, seconds: float, fps: int = 24) -> None:
    assert video.fps == fps
    assert abs(video.duration - seconds) <= 1 / fps + 1e-9, video.duration


# ------------------------------------------------------------------------------------------ families


def test_veo_1080p_crop_with_audio_from_bytes(gateway, decode_mp4, start_b64):
    body = {
        "prompt": "Camera slowly pans across the scene",
        "n": 1,
        "resolution": "1080p",
        "duration": 4,
        "providerOptions": {"vertex": {"resizeMode": "crop", "generateAudio": True}},
        "image": file_image(start_b64),
    }
    started = gateway.start(VEO, body)
    assert started.status_code == 200, started.text
    answer = started.json()
    job_id = answer["operation"]["gatewayJobId"]
    assert answer["providerMetadata"] == {"gateway": {"asyncJob": {"jobId": job_id, "status": "queued"}}}
    assert answer["warnings"] == []

    done = gateway.wait(VEO, answer["operation"])
    assert done["status"] == "completed", done
    job = done["providerMetadata"]["gateway"]["asyncJob"]
    assert job["jobId"] == job_id
    assert job["status"] == "completed"
    assert job["result"]["expiresAt"] > time.time() * 1000
    [video] = done["videos"]
    assert video["mediaType"] == "video/mp4"
    assert video["url"] == f"{gateway.emulator.root_url}/files/{job_id}-0.mp4"

    mp4 = decode_mp4(gateway.download(video))
    assert (mp4.width, mp4.height) == (1920, 1080)
    assert_timing(mp4, 4)
    assert mp4.has_audio
    # crop: a square image fills the whole 16:9 frame, no black bars at the sides.
    assert mp4.first[:, :40].mean() > 40


def test_kling_image_tail_last_frame_matches_tail(gateway, decode_mp4, image_host, padded, frame_diff):
    body = {
        "prompt": "Smooth transition between the two scenes",
        "n": 1,
        "aspectRatio": "1:1",
        "providerOptions": {"klingai": {"mode": "pro", "imageTail": _b64(image_host, "end.png")}},
        "image": file_image(_b64(image_host, "start.png")),
    }
    done = gateway.run(KLING, body)
    assert done["status"] == "completed", done
    mp4 = decode_mp4(gateway.download(done["videos"][0]))
    assert (mp4.width, mp4.height) == (720, 720)
    assert_timing(mp4, 5)  # the model's default duration
    assert not mp4.has_audio  # sound not asked for

    start = padded(image_host.image("start.png"), 720, 720)
    end = padded(image_host.image("end.png"), 720, 720)
    assert frame_diff(start, end) > 20, "the fixtures must differ for this test to mean anything"
    assert frame_diff(mp4.last, end) < 6
    assert frame_diff(mp4.first, start) < 6
    assert frame_diff(mp4.last, start) > 15


def test_kling_camera_control_moves_the_camera(gateway, decode_mp4, image_host):
    """Zooming out (zoom +10) in pad mode shows the black beyond the picture at the end."""
    body = {
        "prompt": "A serene landscape",
        "n": 1,
        "aspectRatio": "1:1",
        "providerOptions": {"klingai": {"cameraControl": {"type": "simple", "config": {"zoom": 10}}}},
        "image": url_image(image_host.url("start.png")),
    }
    done = gateway.run(KLING, body)
    assert done["status"] == "completed", done
    mp4 = decode_mp4(gateway.download(done["videos"][0]))
    corners = (slice(0, 60), slice(0, 60))
    assert mp4.first[corners].mean() > 30
    assert mp4.last[corners].mean() < 10


def test_kling_node_buffer_option_is_accepted(gateway, image_host):
    """The official Node client serialises a Buffer in providerOptions as {"type": "Buffer", ...}."""
    tail = image_host.files["end.png"][0]
    body = {
        "prompt": "Smooth transition",
        "n": 1,
        "aspectRatio": "1:1",
        "providerOptions": {"klingai": {"imageTail": {"type": "Buffer", "data": list(tail)}}},
        "image": file_image(_b64(image_host, "start.png")),
    }
    done = gateway.run(KLING, body)
    assert done["status"] == "completed", done


@pytest.mark.parametrize(
    ("model", "audio_option", "expect_audio"),
    [(WAN, None, True), (WAN_FLASH, None, False), (WAN_FLASH, True, True)],
)
def test_wan_url_image_size_duration_and_audio_default(
    gateway, decode_mp4, image_host, model, audio_option, expect_audio
):
    options = {} if audio_option is None else {"alibaba": {"audio": audio_option}}
    body = {
        "prompt": "The cat waves hello and smiles",
        "n": 1,
        "resolution": "1280x720",
        "duration": 2,
        # A presigned-style URL: the query string is the signature.
        "image": url_image(image_host.url("landscape.png", "X-Amz-Signature=abc123&X-Amz-Expires=600")),
        **({"providerOptions": options} if options else {}),
    }
    done = gateway.run(model, body)
    assert done["status"] == "completed", done
    mp4 = decode_mp4(gateway.download(done["videos"][0]))
    assert (mp4.width, mp4.height) == (1280, 720)
    assert_timing(mp4, 2)
    assert mp4.has_audio is expect_audio


@pytest.mark.parametrize(
    ("image", "extra", "size"),
    [
        ("portrait.jpg", {}, (480, 854)),  # default 480p, the input's 9:16
        ("start.png", {}, (480, 480)),  # default 480p, the input's 1:1
        (
            "start.png",
            {"aspectRatio": "16:9", "providerOptions": {"xai": {"resolution": "720p"}}},
            (1280, 720),
        ),
    ],
)
def test_grok_size_follows_input_aspect_by_default(gateway, decode_mp4, image_host, image, extra, size):
    body = {
        "prompt": "The cat blinks",
        "n": 1,
        "duration": 1,
        "image": url_image(image_host.url(image)),
        **extra,
    }
    done = gateway.run(GROK, body)
    assert done["status"] == "completed", done
    mp4 = decode_mp4(gateway.download(done["videos"][0]))
    assert (mp4.width, mp4.height) == size
    assert_timing(mp4, 1)


def test_seedance_first_last_frame_audio_and_return_last_frame(
    gateway, decode_mp4, image_host, padded, frame_diff
):
    body = {
        "prompt": "Create a 360-degree orbiting camera shot",
        "n": 1,
        "duration": 4,
        "providerOptions": {
            "bytedance": {
                "lastFrameImage": image_host.url("end.png"),
                "generateAudio": True,
                "returnLastFrame": True,
            }
        },
        "image": url_image(image_host.url("start.png")),
    }
    done = gateway.run(SEEDANCE, body)
    assert done["status"] == "completed", done
    job_id = done["providerMetadata"]["gateway"]["asyncJob"]["jobId"]
    mp4 = decode_mp4(gateway.download(done["videos"][0]))
    assert (mp4.width, mp4.height) == (1280, 720)
    assert_timing(mp4, 4)
    assert mp4.has_audio

    last = done["providerMetadata"]["bytedance"]["lastFrame"]
    assert last["mediaType"] == "image/png"
    assert last["url"].endswith(f"/files/{job_id}-0-last.png")
    png = Image.open(io.BytesIO(gateway.download(last)))
    assert png.format == "PNG"
    assert png.size == (1280, 720)
    png_rgb = np.asarray(png.convert("RGB"))
    assert frame_diff(png_rgb, mp4.last) < 4
    assert frame_diff(png_rgb, padded(image_host.image("end.png"), 1280, 720)) < 3


def test_seedance_adaptive_takes_input_aspect(gateway, decode_mp4, image_host):
    body = {
        "prompt": "The scene comes alive",
        "n": 1,
        "aspectRatio": "adaptive",
        "resolution": "854x480",
        "duration": 2,
        "image": url_image(image_host.url("portrait.jpg")),
    }
    done = gateway.run("bytedance/seedance-v1.0-pro-fast", body)
    assert done["status"] == "completed", done
    mp4 = decode_mp4(gateway.download(done["videos"][0]))
    assert (mp4.width, mp4.height) == (480, 854)


def test_seedance_references_shown_in_turn(gateway, decode_mp4, image_host, padded, frame_diff):
    names = ["ref-red.png", "ref-green.png", "ref-blue.png"]
    body = {
        "prompt": "A boy from [Image 1] and a corgi from [Image 2] on the lawn from [Image 3]",
        "n": 1,
        "aspectRatio": "16:9",
        "resolution": "854x480",
        "duration": 3,
        "providerOptions": {"bytedance": {"referenceImages": [image_host.url(n) for n in names]}},
    }
    done = gateway.run(SEEDANCE_LITE, body)
    assert done["status"] == "completed", done
    mp4 = decode_mp4(gateway.download(done["videos"][0]), keep=(24, 48))
    assert (mp4.width, mp4.height) == (854, 480)
    assert_timing(mp4, 3)
    refs = [padded(image_host.image(n), 854, 480) for n in names]
    for shot, frame_index in enumerate((0, 24, 48)):  # the first frame of each third
        diffs = [frame_diff(mp4.frame_at(frame_index), ref) for ref in refs]
        assert int(np.argmin(diffs)) == shot, diffs


def test_n_videos_per_job(gateway, decode_mp4, image_host):
    body = {"prompt": "Blink", "n": 2, "duration": 1, "image": url_image(image_host.url("start.png"))}
    done = gateway.run(GROK, body)
    assert done["status"] == "completed", done
    urls = [v["url"] for v in done["videos"]]
    assert len(set(urls)) == 2
    assert urls[1].endswith("-1.mp4")
    for video in done["videos"]:
        assert decode_mp4(gateway.download(video)).frames == 24


def test_request_warnings_in_start_and_completed_answers(gateway, image_host):
    body = {
        "prompt": "Blink",
        "n": 1,
        "duration": 1,
        "resolution": "480p",
        "image": url_image(image_host.url("start.png")),
    }
    started = gateway.start(GROK, body)
    assert started.status_code == 200, started.text
    warnings = started.json()["warnings"]
    assert warnings
    assert all(w["type"] == "other" for w in warnings)
    assert any("resolution" in w["message"] for w in warnings)
    done = gateway.wait(GROK, started.json()["operation"])
    assert done["warnings"] == warnings


def test_status_passes_through_queued_and_running(gateway, image_host):
    body = {"prompt": "Blink", "n": 1, "duration": 1, "image": url_image(image_host.url("landscape.png"))}
    started = gateway.start(GROK, body)
    operation = started.json()["operation"]
    seen = []
    while True:
        data = gateway.status(GROK, operation).json()
        seen.append(
            data["providerMetadata"]["gateway"]["asyncJob"]["status"]
            if data["status"] == "pending"
            else data["status"]
        )
        if data["status"] != "pending":
            break
        time.sleep(0.02)
    assert seen[0] == "queued"
    assert "running" in seen
    assert seen[-1] == "completed"
    # Status is safe to repeat after completion.
    assert gateway.status(GROK, operation).json() == gateway.status(GROK, operation).json()


# ------------------------------------------------------------------------------------------ billing


def test_idempotency_same_key_same_body_is_one_billed_operation(gateway, image_host):
    body = {"prompt": "Blink once", "n": 1, "duration": 1, "image": url_image(image_host.url("start.png"))}
    key = f"test-key-{time.monotonic_ns()}"
    before = gateway.emulator.stats()
    first = gateway.start(GROK, body, key=key)
    second = gateway.start(GROK, body, key=key)
    assert first.status_code == second.status_code == 200
    assert first.json()["operation"] == second.json()["operation"]
    after = gateway.emulator.stats()
    assert after["starts_billed"] - before["starts_billed"] == 1
    assert after["start_calls"] - before["start_calls"] == 2
    assert after["idempotent_replays"] - before["idempotent_replays"] == 1

    # The same image presigned again (another signature in the query) is the same request.
    resigned = {**body, "image": url_image(image_host.url("start.png", "X-Amz-Signature=other"))}
    assert gateway.start(GROK, resigned, key=key).json()["operation"] == first.json()["operation"]
    assert gateway.emulator.stats()["starts_billed"] == after["starts_billed"]

    changed = gateway.start(GROK, {**body, "duration": 2}, key=key)
    assert changed.status_code == 400
    assert changed.json()["error"]["type"] == "invalid_request_error"
    assert changed.json()["error"]["param"] == "idempotency-key"
    assert gateway.emulator.stats()["starts_billed"] == after["starts_billed"]
    gateway.wait(GROK, first.json()["operation"])


def test_repeated_request_renders_once(gateway, image_host):
    body = {
        "prompt": "Render me once",
        "n": 1,
        "duration": 1,
        "seed": 42,
        "image": url_image(image_host.url("landscape.png")),
    }
    first = gateway.run(GROK, body)
    before = gateway.emulator.stats()
    second = gateway.run(GROK, body)
    after = gateway.emulator.stats()
    assert first["videos"][0]["url"] != second["videos"][0]["url"]  # two jobs, two billed generations
    assert after["starts_billed"] - before["starts_billed"] == 1
    assert after["renders_done"] == before["renders_done"]
    assert after["render_cache_hits"] - before["render_cache_hits"] == 1
    assert gateway.download(first["videos"][0]) == gateway.download(second["videos"][0])


# ------------------------------------------------------------------------------------------ judgement


def test_invalid_request_is_400_with_first_param_and_every_issue(gateway, image_host):
    body = {
        "prompt": "Blink",
        "n": 1,
        "duration": 7,
        "providerOptions": {"klingai": {"cfgScale": 0.5}},
        "image": url_image(image_host.url("start.png")),
    }
    before = gateway.emulator.stats()["starts_billed"]
    answer = gateway.start(KLING, body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "duration"
    assert "5 or 10" in error["message"]
    assert "providerOptions.klingai.cfgScale" in error["message"]
    assert gateway.emulator.stats()["starts_billed"] == before


def test_url_only_family_refuses_image_bytes(gateway, start_b64):
    answer = gateway.start(WAN, {"prompt": "Wave", "n": 1, "image": file_image(start_b64)})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "prompt.image"


def test_unknown_model_is_404_model_not_found(gateway):
    answer = gateway.start("google/veo-9-imaginary", {"prompt": "x", "n": 1})
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["type"] == "model_not_found"
    assert error["param"] == {"modelId": "google/veo-9-imaginary"}


def test_missing_model_header_and_bad_bodies_are_400(gateway, emulator):
    headers = emulator.headers()
    answer = httpx.post(
        f"{emulator.base_url}/video-model/start", headers=headers, json={"prompt": "x", "n": 1}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "ai-model-id"
    answer = httpx.post(
        f"{emulator.base_url}/video-model/start", headers=emulator.headers(GROK), content=b"{not json"
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"
    answer = httpx.post(f"{emulator.base_url}/video-model/status", headers=emulator.headers(GROK), json={})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "operation"


def test_unknown_operation_is_404_not_found(gateway):
    answer = gateway.status(GROK, {"gatewayJobId": "job_does_not_exist"})
    assert answer.status_code == 404
    assert answer.json()["error"]["type"] == "not_found"


def test_unreachable_image_ends_job_in_error_without_leaking_the_signature(gateway, image_host):
    url = image_host.url("missing.png", "X-Amz-Signature=topsecret")
    done = gateway.run(GROK, {"prompt": "x", "n": 1, "duration": 1, "image": url_image(url)})
    assert done["status"] == "error"
    assert "prompt.image" in done["error"]
    assert "404" in done["error"]
    assert image_host.url("missing.png") in done["error"]
    assert "topsecret" not in done["error"]


def test_input_that_is_not_an_image_ends_job_in_error(gateway, image_host):
    url = image_host.url("not-an-image.png")
    done = gateway.run(GROK, {"prompt": "x", "n": 1, "duration": 1, "image": url_image(url)})
    assert done["status"] == "error"
    assert "not a decodable image" in done["error"]


# ------------------------------------------------------------------------------------------ tooling


def test_health_and_stats(emulator):
    health = httpx.get(emulator.root_url + "/").json()
    assert health["status"] == "ok"
    assert health["baseUrl"] == emulator.base_url
    assert GROK in health["models"]
    stats = emulator.stats()
    for key in ("starts_billed", "start_calls", "polls_served", "renders_done", "render_cache_hits"):
        assert isinstance(stats[key], int)
    assert set(stats["jobs"]) == {"queued", "running", "completed", "error", "cancelled"}
    assert isinstance(stats["faults"], dict)


def test_unknown_route_answers_in_the_protocol_error_shape(emulator):
    answer = httpx.post(emulator.base_url + "/image-model", headers=emulator.headers(GROK), json={})
    assert answer.status_code == 404
    assert answer.json()["error"]["type"] == "not_found"


# ------------------------------------------------------------------------------------------ strict


@pytest.fixture(scope="module")
def strict_emulator():
    """An emulator with an API key, a 2.5 s latency and result files that live 2 s."""
    with EmulatorProcess(api_key="the-right-key", latency=2.5, file_ttl=2) as process:
        yield process


def test_api_key_is_required_and_checked(strict_emulator, image_host):
    url = f"{strict_emulator.base_url}/video-model/start"
    body = {"prompt": "x", "n": 1, "duration": 1, "image": url_image(image_host.url("start.png"))}
    headers = strict_emulator.headers(GROK)
    for authorization in (None, "Bearer", "Basic abc", "Bearer wrong-key"):
        sent = {k: v for k, v in headers.items() if k != "authorization"}
        if authorization is not None:
            sent["authorization"] = authorization
        answer = httpx.post(url, headers=sent, json=body)
        assert answer.status_code == 401, authorization
        assert answer.json()["error"]["type"] == "authentication_error"
        assert "the-right-key" not in answer.text
    assert strict_emulator.stats()["starts_billed"] == 0
    assert httpx.post(url, headers=headers, json=body).status_code == 200


def test_sse_sends_keep_alives_then_one_result(strict_emulator, image_host, decode_mp4, gateway_for):
    body = {
        "prompt": "Blink",
        "n": 1,
        "duration": 1,
        "providerOptions": {},
        "image": url_image(image_host.url("landscape.png")),
    }
    headers = {**strict_emulator.headers(GROK), "accept": "text/event-stream"}
    decoder = SseDecoder()
    keep_alives, events = 0, []
    began = time.monotonic()
    with httpx.stream(
        "POST", f"{strict_emulator.base_url}/video-model", headers=headers, json=body, timeout=30
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line == ": keep-alive":
                keep_alives += 1
                assert not events, "keep-alives come before the event"
            events += decoder.feed((line + "\n").encode())
    events += decoder.close()
    elapsed = time.monotonic() - began
    assert elapsed >= 2.5
    assert keep_alives >= 2  # one at once, then about one a second
    [event] = events
    assert event["type"] == "result"
    assert event["providerMetadata"]["gateway"]["generationId"]
    mp4 = decode_mp4(gateway_for(strict_emulator).download(event["videos"][0]))
    assert (mp4.width, mp4.height) == (854, 480)
    assert_timing(mp4, 1)


@pytest.mark.slow
def test_result_files_expire(strict_emulator, image_host, gateway_for):
    gateway = gateway_for(strict_emulator)
    body = {"prompt": "Expire", "n": 1, "duration": 1, "image": url_image(image_host.url("start.png"))}
    done = gateway.run(GROK, body)
    assert done["status"] == "completed", done
    expires_at = done["providerMetadata"]["gateway"]["asyncJob"]["result"]["expiresAt"] / 1000
    video = done["videos"][0]
    assert gateway.download(video)[4:8] == b"ftyp"
    time.sleep(max(0.0, expires_at - time.time()) + 0.2)
    answer = httpx.get(video["url"])
    assert answer.status_code in (404, 410)
    assert answer.json()["error"]["type"] == "not_found"
    assert "expired" in answer.json()["error"]["message"]


def test_base64_results(image_host, decode_mp4, gateway_for):
    with EmulatorProcess(latency=0.2, results="base64") as process:
        gateway = gateway_for(process)
        body = {
            "prompt": "x",
            "n": 1,
            "duration": 2,
            "providerOptions": {"bytedance": {"returnLastFrame": True}},
            "image": url_image(image_host.url("landscape.png")),
        }
        done = gateway.run("bytedance/seedance-v1.0-pro", body)
    assert done["status"] == "completed", done
    [video] = done["videos"]
    assert video["type"] == "base64"
    assert video["mediaType"] == "video/mp4"
    mp4 = decode_mp4(gateway.download(video))
    assert (mp4.width, mp4.height) == (1280, 720)
    assert_timing(mp4, 2)
    last = done["providerMetadata"]["bytedance"]["lastFrame"]
    assert last["type"] == "base64"
    assert gateway.download(last)[:8] == b"\x89PNG\r\n\x1a\n"


def _b64(image_host, name: str) -> str:
    return base64.b64encode(image_host.files[name][0]).decode("ascii")


# ------------------------------------------------------------------------------------------ config


def test_config_lists_every_family_model_in_the_official_shape(emulator):
    from airflow_video_gen.families import BUILT_IN_FAMILIES

    headers = {"authorization": f"Bearer {emulator.api_key}", "ai-gateway-protocol-version": "0.0.1"}
    answer = httpx.get(emulator.base_url + "/config", headers=headers)
    assert answer.status_code == 200, answer.text
    models = answer.json()["models"]
    expected = {m: spec for f in BUILT_IN_FAMILIES for m, spec in f.models.items()}
    assert [m["id"] for m in models] == list(expected)
    for model in models:
        assert model["modelType"] == "video"
        assert model["description"] == expected[model["id"]].description
        assert model["name"]
        assert model["specification"] == {
            "specificationVersion": "v4",
            "provider": model["specification"]["provider"],
            "modelId": model["id"],
        }
    health = httpx.get(emulator.root_url + "/").json()
    assert health["models"] == list(expected)


def test_config_checks_the_api_key(strict_emulator):
    before = strict_emulator.stats()["config_calls"]
    for authorization in (None, "Bearer wrong-key"):
        headers = {"authorization": authorization} if authorization else {}
        answer = httpx.get(strict_emulator.base_url + "/config", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["error"]["type"] == "authentication_error"
    assert strict_emulator.stats()["config_calls"] == before
    good = httpx.get(strict_emulator.base_url + "/config", headers=strict_emulator.headers())
    assert good.status_code == 200
    assert strict_emulator.stats()["config_calls"] == before + 1
