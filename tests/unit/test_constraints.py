"""Every documented constraint of the seed, one case each way.

Each row is a call that must pass and its twin that must fail on the named parameter, with a
message that names the model and says what is allowed.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_video_gen.models import InvalidVideoRequest, VideoRequest
from tests.imaging import make_image

URL = "https://example.com/cat.png"
URL2 = "https://example.com/end.png"
VEO = "google/veo-3.1-generate-001"
K26 = "klingai/kling-v2.6-i2v"
K30 = "klingai/kling-v3.0-i2v"
K25 = "klingai/kling-v2.5-turbo-i2v"
WAN = "alibaba/wan-v2.6-i2v"
GROK = "xai/grok-imagine-video"
S15 = "bytedance/seedance-v1.5-pro"
S10 = "bytedance/seedance-v1.0-pro"
SFAST = "bytedance/seedance-v1.0-pro-fast"
SLITE = "bytedance/seedance-v1.0-lite-i2v"

PROVIDER = {
    "google": "vertex",
    "klingai": "klingai",
    "alibaba": "alibaba",
    "xai": "xai",
    "bytedance": "bytedance",
}


def call(model: str, image: Any = URL, text: str | None = "The cat blinks", **kw: Any) -> dict[str, Any]:
    """A seed-shaped call; ``opts`` go under the model's provider key."""
    opts = kw.pop("opts", None)
    out: dict[str, Any] = {"prompt": {"image": image, "text": text} if image is not None else text, **kw}
    if out["prompt"] is None:
        del out["prompt"]
    if opts is not None:
        out["providerOptions"] = {PROVIDER[model.split("/")[0]]: opts}
    return out


def cam(**axes: float) -> dict[str, Any]:
    return {
        "type": "simple",
        "config": {a: axes.get(a, 0) for a in ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")},
    }


def points(n: int) -> list[dict[str, int]]:
    return [{"x": 10 * i, "y": 20 + i} for i in range(n)]


def voices(n: int) -> list[dict[str, str]]:
    return [{"voiceId": f"v{i}"} for i in range(n)]


def shots(*durations: str) -> list[dict[str, Any]]:
    return [{"index": i + 1, "prompt": f"shot {i + 1}", "duration": d} for i, d in enumerate(durations)]


PNG = make_image(640, 360)
SQUARE = make_image(400, 400)
SMALL = make_image(299, 400)
TALL = make_image(300, 800)
WEBP = make_image(640, 360, fmt="WEBP")
MASK = make_image(640, 360, color="white")
MASK_BIG = make_image(1280, 720, color="white")

# (id, model, good call, bad call, param the bad call is refused on, text the message must contain)
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], str, str]] = [
    # --- every family
    ("unknown-argument", VEO, call(VEO), call(VEO, resolutoin="720p"), "resolutoin", "resolution"),
    ("n-at-least-1", VEO, call(VEO, n=2), call(VEO, n=0), "n", "at least 1"),
    ("seed-range", VEO, call(VEO, seed=7), call(VEO, seed=-1), "seed", "0 to 4294967295"),
    ("fps-whole", VEO, call(VEO, fps=24), call(VEO, fps=23.5), "fps", "whole number"),
    (
        "aspect-ratio-form",
        VEO,
        call(VEO, aspectRatio="9:16"),
        call(VEO, aspectRatio="wide"),
        "aspectRatio",
        "W:H",
    ),
    ("start-image-required", VEO, call(VEO), call(VEO, image=None), "prompt.image", "start image"),
    (
        "generate-audio-bool",
        VEO,
        call(VEO, generateAudio=True),
        call(VEO, generateAudio="yes"),
        "generateAudio",
        "true or false",
    ),
    (
        "image-scheme",
        VEO,
        call(VEO, image="http://127.0.0.1/x.png"),
        call(VEO, image="ftp://x/y.png"),
        "prompt.image",
        "https://",
    ),
    (
        "image-bytes-decodable",
        VEO,
        call(VEO, image=PNG),
        call(VEO, image=b"\x89PNG not really"),
        "prompt.image",
        "not a decodable image",
    ),
    (
        "unknown-option",
        VEO,
        call(VEO, opts={"negativePrompt": "blur"}),
        call(VEO, opts={"negative_prompt": "blur"}),
        "providerOptions.vertex.negative_prompt",
        "negativePrompt",
    ),
    (
        "poll-interval-positive",
        VEO,
        call(VEO, opts={"pollIntervalMs": 1000}),
        call(VEO, opts={"pollIntervalMs": 0}),
        "providerOptions.vertex.pollIntervalMs",
        "greater than 0",
    ),
    (
        "poll-timeout-positive",
        VEO,
        call(VEO, opts={"pollTimeoutMs": 600000}),
        call(VEO, opts={"pollTimeoutMs": -5}),
        "providerOptions.vertex.pollTimeoutMs",
        "greater than 0",
    ),
    # --- Veo
    ("veo-duration", VEO, call(VEO, duration=6), call(VEO, duration=5), "duration", "4, 6 or 8"),
    (
        "veo-resolution",
        VEO,
        call(VEO, resolution="1080p"),
        call(VEO, resolution="4k"),
        "resolution",
        "'720p' or '1080p'",
    ),
    (
        "veo-resize-mode",
        VEO,
        call(VEO, opts={"resizeMode": "crop"}),
        call(VEO, opts={"resizeMode": "stretch"}),
        "providerOptions.vertex.resizeMode",
        "'pad' or 'crop'",
    ),
    (
        "veo-person-generation",
        VEO,
        call(VEO, opts={"personGeneration": "allow_all"}),
        call(VEO, opts={"personGeneration": "everyone"}),
        "providerOptions.vertex.personGeneration",
        "'dont_allow'",
    ),
    (
        "veo-generate-audio",
        VEO,
        call(VEO, opts={"generateAudio": True}),
        call(VEO, opts={"generateAudio": "on"}),
        "providerOptions.vertex.generateAudio",
        "boolean",
    ),
    (
        "veo-enhance-prompt",
        VEO,
        call(VEO, opts={"enhancePrompt": False}),
        call(VEO, opts={"enhancePrompt": 1}),
        "providerOptions.vertex.enhancePrompt",
        "boolean",
    ),
    (
        "veo-negative-prompt",
        VEO,
        call(VEO, opts={"negativePrompt": "blur"}),
        call(VEO, opts={"negativePrompt": 5}),
        "providerOptions.vertex.negativePrompt",
        "string",
    ),
    # --- KlingAI
    ("kling-duration-v2", K26, call(K26, duration=10), call(K26, duration=7), "duration", "5 or 10"),
    ("kling-duration-v2.5", K25, call(K25, duration=5), call(K25, duration=15), "duration", "5 or 10"),
    ("kling-duration-v3-max", K30, call(K30, duration=15), call(K30, duration=16), "duration", "3 to 15"),
    ("kling-duration-v3-min", K30, call(K30, duration=3), call(K30, duration=2), "duration", "3 to 15"),
    (
        "kling-text-length",
        K26,
        call(K26, text="x" * 2500),
        call(K26, text="x" * 2501),
        "prompt.text",
        "at most 2500",
    ),
    (
        "kling-mode",
        K26,
        call(K26, opts={"mode": "pro"}),
        call(K26, opts={"mode": "ultra"}),
        "providerOptions.klingai.mode",
        "'std' or 'pro'",
    ),
    (
        "kling-negative-length",
        K26,
        call(K26, opts={"negativePrompt": "x" * 2500}),
        call(K26, opts={"negativePrompt": "x" * 2501}),
        "providerOptions.klingai.negativePrompt",
        "at most 2500",
    ),
    (
        "kling-cfg-range",
        K30,
        call(K30, opts={"cfgScale": 1}),
        call(K30, opts={"cfgScale": 1.5}),
        "providerOptions.klingai.cfgScale",
        "less than or equal to 1",
    ),
    (
        "kling-cfg-range-low",
        K30,
        call(K30, opts={"cfgScale": 0}),
        call(K30, opts={"cfgScale": -0.1}),
        "providerOptions.klingai.cfgScale",
        "greater than or equal to 0",
    ),
    (
        "kling-cfg-v3-only",
        K30,
        call(K30, opts={"cfgScale": 0.5}),
        call(K26, opts={"cfgScale": 0.5}),
        "providerOptions.klingai.cfgScale",
        "klingai/kling-v3.0-i2v",
    ),
    (
        "kling-sound-enum",
        K26,
        call(K26, opts={"sound": "on"}),
        call(K26, opts={"sound": "loud"}),
        "providerOptions.klingai.sound",
        "'on' or 'off'",
    ),
    (
        "kling-sound-v2.6+",
        K25,
        call(K25, opts={"sound": "off"}),
        call(K25, opts={"sound": "on"}),
        "providerOptions.klingai.sound",
        "klingai/kling-v2.6-i2v",
    ),
    (
        "kling-voices-max-2",
        K30,
        call(K30, opts={"sound": "on", "voiceList": voices(2)}),
        call(K30, opts={"sound": "on", "voiceList": voices(3)}),
        "providerOptions.klingai.voiceList",
        "at most 2",
    ),
    (
        "kling-voices-need-sound",
        K26,
        call(K26, opts={"sound": "on", "voiceList": voices(1)}),
        call(K26, opts={"voiceList": voices(1)}),
        "providerOptions.klingai.voiceList",
        "sound: 'on'",
    ),
    (
        "kling-voices-v2.6+",
        K26,
        call(K26, opts={"sound": "on", "voiceList": voices(1)}),
        call(K25, opts={"voiceList": voices(1)}),
        "providerOptions.klingai.voiceList",
        "supported by",
    ),
    (
        "kling-voices-not-elements",
        K30,
        call(K30, opts={"elementList": [{"id": 1}]}),
        call(K30, opts={"sound": "on", "voiceList": voices(1), "elementList": [{"id": 1}]}),
        "providerOptions.klingai.voiceList",
        "elementList",
    ),
    (
        "kling-voice-id",
        K26,
        call(K26, opts={"sound": "on", "voiceList": [{"voiceId": "a"}]}),
        call(K26, opts={"sound": "on", "voiceList": [{"voice": "a"}]}),
        "providerOptions.klingai.voiceList[0].voiceId",
        "required",
    ),
    (
        "kling-elements-max-3",
        K30,
        call(K30, opts={"elementList": [{}, {}, {}]}),
        call(K30, opts={"elementList": [{}, {}, {}, {}]}),
        "providerOptions.klingai.elementList",
        "at most 3",
    ),
    (
        "kling-elements-v3",
        K30,
        call(K30, opts={"elementList": [{}]}),
        call(K26, opts={"elementList": [{}]}),
        "providerOptions.klingai.elementList",
        "klingai/kling-v3.0-i2v",
    ),
    (
        "kling-multishot-v3",
        K30,
        call(K30, duration=10, opts={"multiShot": True, "multiPrompt": shots("5", "5")}),
        call(K26, duration=10, opts={"multiShot": True, "multiPrompt": shots("5", "5")}),
        "providerOptions.klingai.multiShot",
        "klingai/kling-v3.0-i2v",
    ),
    (
        "kling-multishot-needs-prompts",
        K30,
        call(K30, opts={"multiShot": True, "multiPrompt": shots("5")}),
        call(K30, opts={"multiShot": True}),
        "providerOptions.klingai.multiPrompt",
        "required",
    ),
    (
        "kling-prompts-need-multishot",
        K30,
        call(K30, opts={"multiShot": True, "multiPrompt": shots("5")}),
        call(K30, opts={"multiPrompt": shots("5")}),
        "providerOptions.klingai.multiShot",
        "must be true",
    ),
    (
        "kling-shot-duration-string",
        K30,
        call(K30, opts={"multiShot": True, "multiPrompt": shots("5")}),
        call(K30, opts={"multiShot": True, "multiPrompt": [{"index": 1, "prompt": "a", "duration": 5}]}),
        "providerOptions.klingai.multiPrompt[0].duration",
        "string",
    ),
    (
        "kling-shot-index-order",
        K30,
        call(K30, duration=6, opts={"multiShot": True, "multiPrompt": shots("3", "3")}),
        call(
            K30,
            duration=6,
            opts={
                "multiShot": True,
                "multiPrompt": [
                    {"index": 2, "prompt": "a", "duration": "3"},
                    {"index": 1, "prompt": "b", "duration": "3"},
                ],
            },
        ),
        "providerOptions.klingai.multiPrompt",
        "1, 2, 3",
    ),
    (
        "kling-watermark-info",
        K26,
        call(K26, opts={"watermarkInfo": {"enabled": True}}),
        call(K26, opts={"watermarkInfo": {"enabled": "yes"}}),
        "providerOptions.klingai.watermarkInfo.enabled",
        "boolean",
    ),
    (
        "kling-tail-vs-camera",
        K26,
        call(K26, opts={"imageTail": URL2}),
        call(K26, opts={"imageTail": URL2, "cameraControl": cam(zoom=5)}),
        "providerOptions.klingai.cameraControl",
        "cannot be combined",
    ),
    (
        "kling-tail-vs-brush",
        K26,
        call(K26, opts={"staticMask": URL2}),
        call(K26, opts={"imageTail": URL2, "staticMask": URL2}),
        "providerOptions.klingai.staticMask",
        "cannot be combined",
    ),
    (
        "kling-brush-vs-camera",
        K26,
        call(K26, opts={"cameraControl": cam(pan=-3)}),
        call(
            K26,
            opts={"dynamicMasks": [{"mask": URL2, "trajectories": points(4)}], "cameraControl": cam(pan=-3)},
        ),
        "providerOptions.klingai.cameraControl",
        "cannot be combined",
    ),
    (
        "kling-camera-type",
        K26,
        call(K26, opts={"cameraControl": {"type": "down_back"}}),
        call(K26, opts={"cameraControl": {"type": "spin"}}),
        "providerOptions.klingai.cameraControl.type",
        "'simple'",
    ),
    (
        "kling-camera-config-required",
        K26,
        call(K26, opts={"cameraControl": cam(tilt=2)}),
        call(K26, opts={"cameraControl": {"type": "simple"}}),
        "providerOptions.klingai.cameraControl.config",
        "required",
    ),
    (
        "kling-camera-axis-range",
        K26,
        call(K26, opts={"cameraControl": cam(roll=-10)}),
        call(K26, opts={"cameraControl": cam(roll=-11)}),
        "providerOptions.klingai.cameraControl.config.roll",
        "greater than or equal to -10",
    ),
    (
        "kling-camera-one-axis",
        K26,
        call(K26, opts={"cameraControl": cam(zoom=5)}),
        call(K26, opts={"cameraControl": cam(zoom=5, pan=2)}),
        "providerOptions.klingai.cameraControl.config",
        "exactly one axis",
    ),
    (
        "kling-camera-no-axis",
        K26,
        call(K26, opts={"cameraControl": cam(horizontal=1)}),
        call(K26, opts={"cameraControl": cam()}),
        "providerOptions.klingai.cameraControl.config",
        "exactly one axis",
    ),
    (
        "kling-masks-max-6",
        K26,
        call(K26, opts={"dynamicMasks": [{"mask": URL2, "trajectories": points(2)}] * 6}),
        call(K26, opts={"dynamicMasks": [{"mask": URL2, "trajectories": points(2)}] * 7}),
        "providerOptions.klingai.dynamicMasks",
        "at most 6",
    ),
    (
        "kling-trajectory-min-2",
        K26,
        call(K26, opts={"dynamicMasks": [{"mask": URL2, "trajectories": points(2)}]}),
        call(K26, opts={"dynamicMasks": [{"mask": URL2, "trajectories": points(1)}]}),
        "providerOptions.klingai.dynamicMasks[0].trajectories",
        "at least 2",
    ),
    (
        "kling-trajectory-max-77-at-5s",
        K26,
        call(K26, duration=10, opts={"dynamicMasks": [{"mask": URL2, "trajectories": points(78)}]}),
        call(K26, duration=5, opts={"dynamicMasks": [{"mask": URL2, "trajectories": points(78)}]}),
        "providerOptions.klingai.dynamicMasks[0].trajectories",
        "2 to 77",
    ),
    (
        "kling-trajectory-point",
        K26,
        call(K26, opts={"dynamicMasks": [{"mask": URL2, "trajectories": points(2)}]}),
        call(
            K26,
            opts={"dynamicMasks": [{"mask": URL2, "trajectories": [{"x": 1, "y": 2}, {"x": -1, "y": 2}]}]},
        ),
        "providerOptions.klingai.dynamicMasks[0].trajectories[1].x",
        "greater than or equal to 0",
    ),
    (
        "kling-mask-format",
        K26,
        call(K26, image=PNG, opts={"staticMask": MASK}),
        call(K26, image=PNG, opts={"staticMask": make_image(640, 360, fmt="WEBP")}),
        "providerOptions.klingai.staticMask",
        "png masks",
    ),
    (
        "kling-mask-aspect",
        K26,
        call(K26, image=PNG, opts={"staticMask": MASK}),
        call(K26, image=PNG, opts={"staticMask": make_image(400, 400)}),
        "providerOptions.klingai.staticMask",
        "aspect ratio must match",
    ),
    (
        "kling-masks-same-size",
        K26,
        call(
            K26,
            image=PNG,
            opts={"staticMask": MASK, "dynamicMasks": [{"mask": MASK, "trajectories": points(2)}]},
        ),
        call(
            K26,
            image=PNG,
            opts={"staticMask": MASK, "dynamicMasks": [{"mask": MASK_BIG, "trajectories": points(2)}]},
        ),
        "providerOptions.klingai.dynamicMasks",
        "same resolution",
    ),
    (
        "kling-image-format",
        K26,
        call(K26, image=PNG),
        call(K26, image=WEBP),
        "prompt.image",
        "'JPEG' or 'PNG'",
    ),
    (
        "kling-image-min-side",
        K26,
        call(K26, image=SQUARE),
        call(K26, image=SMALL),
        "prompt.image",
        "at least 300 px",
    ),
    (
        "kling-image-aspect",
        K26,
        call(K26, image=make_image(300, 750)),
        call(K26, image=TALL),
        "prompt.image",
        "0.40 to 2.50",
    ),
    (
        "kling-image-tail-rules",
        K26,
        call(K26, image=PNG, opts={"imageTail": SQUARE}),
        call(K26, image=PNG, opts={"imageTail": SMALL}),
        "providerOptions.klingai.imageTail",
        "at least 300 px",
    ),
    # --- Wan
    ("wan-text-required", WAN, call(WAN), call(WAN, text=""), "prompt.text", "required"),
    ("wan-url-only", WAN, call(WAN), call(WAN, image=PNG), "prompt.image", "URLs only"),
    (
        "wan-resolution",
        WAN,
        call(WAN, resolution="1920x1080"),
        call(WAN, resolution="720p"),
        "resolution",
        "'1280x720' or '1920x1080'",
    ),
    ("wan-duration-max", WAN, call(WAN, duration=15), call(WAN, duration=16), "duration", "2 to 15"),
    ("wan-duration-min", WAN, call(WAN, duration=2), call(WAN, duration=1), "duration", "2 to 15"),
    (
        "wan-negative-length",
        WAN,
        call(WAN, opts={"negativePrompt": "x" * 500}),
        call(WAN, opts={"negativePrompt": "x" * 501}),
        "providerOptions.alibaba.negativePrompt",
        "at most 500",
    ),
    (
        "wan-audio-bool",
        WAN,
        call(WAN, opts={"audio": False}),
        call(WAN, opts={"audio": "false"}),
        "providerOptions.alibaba.audio",
        "boolean",
    ),
    (
        "wan-audio-url",
        WAN,
        call(WAN, opts={"audioUrl": "https://example.com/a.mp3"}),
        call(WAN, opts={"audioUrl": "file:///etc/passwd"}),
        "providerOptions.alibaba.audioUrl",
        "http(s) URL",
    ),
    (
        "wan-watermark-bool",
        WAN,
        call(WAN, opts={"watermark": True}),
        call(WAN, opts={"watermark": "no"}),
        "providerOptions.alibaba.watermark",
        "boolean",
    ),
    # --- Grok
    ("grok-duration-max", GROK, call(GROK, duration=15), call(GROK, duration=16), "duration", "1 to 15"),
    ("grok-duration-min", GROK, call(GROK, duration=1), call(GROK, duration=0), "duration", "1 to 15"),
    (
        "grok-resolution",
        GROK,
        call(GROK, opts={"resolution": "720p"}),
        call(GROK, opts={"resolution": "1080p"}),
        "providerOptions.xai.resolution",
        "'480p' or '720p'",
    ),
    ("grok-url-only", GROK, call(GROK), call(GROK, image=PNG), "prompt.image", "URLs only"),
    (
        "grok-aspect-ratio",
        GROK,
        call(GROK, aspectRatio="1:1"),
        call(GROK, aspectRatio="1x1"),
        "aspectRatio",
        "W:H",
    ),
    # --- Seedance
    (
        "seedance-aspect-ratio",
        S15,
        call(S15, aspectRatio="adaptive"),
        call(S15, aspectRatio="2:1"),
        "aspectRatio",
        "'21:9'",
    ),
    (
        "seedance-resolution",
        S15,
        call(S15, resolution="854x480"),
        call(S15, resolution="720p"),
        "resolution",
        "'854x480'",
    ),
    (
        "seedance-lite-720p",
        S10,
        call(S10, resolution="1920x1080"),
        call(SLITE, resolution="1920x1080"),
        "resolution",
        "'854x480' or '1280x720'",
    ),
    ("seedance-duration-v1.5", S15, call(S15, duration=4), call(S15, duration=3), "duration", "4 to 12"),
    ("seedance-duration-v1.0", S10, call(S10, duration=2), call(S10, duration=13), "duration", "2 to 12"),
    ("seedance-fps-24", S15, call(S15, fps=24), call(S15, fps=30), "fps", "24"),
    ("seedance-url-only", S15, call(S15), call(S15, image=PNG), "prompt.image", "URLs only"),
    (
        "seedance-last-frame-url",
        S15,
        call(S15, opts={"lastFrameImage": URL2}),
        call(S15, opts={"lastFrameImage": PNG}),
        "providerOptions.bytedance.lastFrameImage",
        "URLs only",
    ),
    (
        "seedance-no-last-frame-on-fast",
        S10,
        call(S10, opts={"lastFrameImage": URL2}),
        call(SFAST, opts={"lastFrameImage": URL2}),
        "providerOptions.bytedance.lastFrameImage",
        "not supported by bytedance/seedance-v1.0-pro-fast",
    ),
    (
        "seedance-references-lite-only",
        SLITE,
        call(SLITE, opts={"referenceImages": [URL]}),
        call(S10, opts={"referenceImages": [URL]}),
        "providerOptions.bytedance.referenceImages",
        "bytedance/seedance-v1.0-lite-i2v",
    ),
    (
        "seedance-references-max-4",
        SLITE,
        call(SLITE, opts={"referenceImages": [URL] * 4}),
        call(SLITE, opts={"referenceImages": [URL] * 5}),
        "providerOptions.bytedance.referenceImages",
        "at most 4",
    ),
    (
        "seedance-references-min-1",
        SLITE,
        call(SLITE, opts={"referenceImages": [URL]}),
        call(SLITE, opts={"referenceImages": []}),
        "providerOptions.bytedance.referenceImages",
        "at least 1",
    ),
    (
        "seedance-references-without-start",
        SLITE,
        call(SLITE, image=None, text="[Image 1] on a lawn", opts={"referenceImages": [URL]}),
        call(SLITE, image=None, text="[Image 1] on a lawn"),
        "prompt.image",
        "start image",
    ),
    (
        "seedance-audio-v1.5-only",
        S15,
        call(S15, opts={"generateAudio": True}),
        call(S10, opts={"generateAudio": True}),
        "providerOptions.bytedance.generateAudio",
        "bytedance/seedance-v1.5-pro",
    ),
    (
        "seedance-top-level-audio-v1.5-only",
        S15,
        call(S15, generateAudio=True),
        call(SLITE, generateAudio=True),
        "generateAudio",
        "bytedance/seedance-v1.5-pro",
    ),
    (
        "seedance-service-tier",
        S15,
        call(S15, opts={"serviceTier": "flex"}),
        call(S15, opts={"serviceTier": "batch"}),
        "providerOptions.bytedance.serviceTier",
        "'default' or 'flex'",
    ),
    (
        "seedance-camera-fixed",
        S15,
        call(S15, opts={"cameraFixed": True}),
        call(S15, opts={"cameraFixed": "true"}),
        "providerOptions.bytedance.cameraFixed",
        "boolean",
    ),
    (
        "seedance-return-last-frame",
        S15,
        call(S15, opts={"returnLastFrame": True}),
        call(S15, opts={"returnLastFrame": 1}),
        "providerOptions.bytedance.returnLastFrame",
        "boolean",
    ),
    (
        "seedance-watermark",
        S15,
        call(S15, opts={"watermark": False}),
        call(S15, opts={"watermark": None, "watermarks": True}),
        "providerOptions.bytedance.watermarks",
        "watermark",
    ),
]


@pytest.mark.parametrize(("case", "model", "good", "bad", "param", "says"), CASES, ids=[c[0] for c in CASES])
def test_constraint_each_way(
    case: str, model: str, good: dict[str, Any], bad: dict[str, Any], param: str, says: str
) -> None:
    VideoRequest.from_sdk_call(model, good)
    # Version gates fail on another model of the family than the one the good call uses.
    bad_model = _OTHER_MODEL.get(case, model)
    with pytest.raises(InvalidVideoRequest) as info:
        VideoRequest.from_sdk_call(bad_model, bad)
    issues: dict[str, str] = {}
    for e in info.value.errors:
        issues[e["param"]] = issues.get(e["param"], "") + e["message"] + "\n"
    assert param in issues, f"expected an error on {param}, got {info.value.errors}"
    assert says in issues[param]
    assert all(bad_model in e["message"] for e in info.value.errors), info.value.errors
    assert param in str(info.value)


_OTHER_MODEL = {
    "kling-cfg-v3-only": K26,
    "kling-sound-v2.6+": K25,
    "kling-voices-v2.6+": K25,
    "kling-elements-v3": K26,
    "kling-multishot-v3": K26,
    "seedance-lite-720p": SLITE,
    "seedance-no-last-frame-on-fast": SFAST,
    "seedance-references-lite-only": S10,
    "seedance-audio-v1.5-only": S10,
    "seedance-top-level-audio-v1.5-only": SLITE,
}


def test_every_error_is_reported_at_once() -> None:
    bad = call(
        K26,
        duration=7,
        opts={"mode": "ultra", "cfgScale": 2, "cameraControl": cam(zoom=5, pan=1), "imageTail": URL2},
    )
    with pytest.raises(InvalidVideoRequest) as info:
        VideoRequest.from_sdk_call(K26, bad)
    params = [e["param"] for e in info.value.errors]
    for expected in (
        "duration",
        "providerOptions.klingai.mode",
        "providerOptions.klingai.cfgScale",
        "providerOptions.klingai.cameraControl",
        "providerOptions.klingai.cameraControl.config",
    ):
        assert expected in params


def test_strict_refuses_an_unlisted_model_and_names_the_closest_one() -> None:
    with pytest.raises(InvalidVideoRequest) as info:
        VideoRequest.from_sdk_call("klingai/kling-v2.6", call(K26), strict=True)
    assert info.value.errors[0]["param"] == "model"
    assert "klingai/kling-v2.6-i2v" in info.value.errors[0]["message"]


def test_a_newer_id_of_a_known_family_is_checked_with_its_version_independent_rules() -> None:
    request = VideoRequest.from_sdk_call("klingai/kling-v3.1-i2v", call(K26, duration=20))
    (warning,) = request.warnings
    assert "klingai/kling-v3.1-i2v is not in this package's KlingAI tables" in warning
    assert "Not checked: duration" in warning
    assert request.to_gateway_body()["duration"] == 20
    # The rules that hold for every KlingAI version still refuse.
    with pytest.raises(InvalidVideoRequest) as info:
        VideoRequest.from_sdk_call(
            "klingai/kling-v3.1-i2v", call(K26, opts={"cameraControl": cam(zoom=5, pan=1), "mode": "ultra"})
        )
    params = {e["param"] for e in info.value.errors}
    assert params == {"providerOptions.klingai.cameraControl.config", "providerOptions.klingai.mode"}


def test_a_model_of_an_unknown_creator_gets_the_common_checks_only() -> None:
    options = {"runway": {"motion": 7}}
    request = VideoRequest.from_sdk_call(
        "runway/gen-5", {"prompt": "a cat", "duration": 9, "providerOptions": options}
    )
    assert "a creator this package has no family for" in request.warnings[0]
    body = request.to_gateway_body()
    assert body == {"prompt": "a cat", "n": 1, "duration": 9, "providerOptions": options}
    with pytest.raises(InvalidVideoRequest, match="seed: must be a whole number"):
        VideoRequest.from_sdk_call("runway/gen-5", {"prompt": "a cat", "seed": "x"})


def test_invalid_request_is_a_value_error_and_pickles() -> None:
    import pickle

    with pytest.raises(ValueError, match="duration") as info:
        VideoRequest.from_sdk_call(VEO, call(VEO, duration=5))
    again = pickle.loads(pickle.dumps(info.value))
    assert again.errors == info.value.errors


@pytest.mark.parametrize(
    ("model", "the_call", "warning"),
    [
        (
            K30,
            call(K30, duration=10, opts={"multiShot": True, "multiPrompt": shots("4", "3")}),
            "add up to 7 s",
        ),
        (
            K26,
            call(K26, opts={"cameraControl": {"type": "forward_up", "config": {"zoom": 3}}}),
            "only read for type",
        ),
        (GROK, call(GROK, resolution="720p"), "not a documented setting"),
        (WAN, call(WAN, opts={"audioUrl": "https://example.com/a.ogg"}), "WAV or MP3"),
        (VEO, call(VEO, providerOptions={"klingai": {"mode": "std"}}), "providerOptions.klingai"),
        (K26, call(K26, text="Hi <<<voice_2>>>", opts={"sound": "on", "voiceList": voices(1)}), "voice_2"),
    ],
)
def test_plausibility_checks_warn_without_failing(model: str, the_call: dict[str, Any], warning: str) -> None:
    request = VideoRequest.from_sdk_call(model, the_call)
    assert any(warning in w for w in request.warnings), request.warnings
