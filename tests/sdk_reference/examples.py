"""Every ``generateVideo({...})`` example of the image-to-video seed document, as JSON.

Each example is the call's arguments without ``model`` (``call``), the model id, and ``bufferFiles``:
dotted paths inside ``call`` whose value, in the TypeScript original, is a Node ``Buffer`` read from a
file (``fs.readFileSync('start.png')``). In ``call`` those places hold a placeholder string
(``"<Buffer tests/fixtures/images/start.png>"``); :func:`materialize_call` swaps in the bytes.
File paths are relative to the repository root.

The captures in ``tests/fixtures/sdk_requests/<name>.json`` record what the official client sent for
each example, so the project's own request building can be compared against them.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, TypedDict

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGES_DIR = "tests/fixtures/images"
START_PNG = f"{IMAGES_DIR}/start.png"
END_PNG = f"{IMAGES_DIR}/end.png"


class VideoExample(TypedDict):
    """One seed example: ``generateVideo({model, ...call})`` with Buffers at ``bufferFiles``."""

    name: str
    model: str
    call: dict[str, Any]
    bufferFiles: dict[str, str]


def buffer_placeholder(path: str) -> str:
    """The placeholder that stands in ``call`` for a Buffer read from ``path``."""
    return f"<Buffer {path}>"


EXAMPLES: tuple[VideoExample, ...] = (
    {
        "name": "veo_basic",
        "model": "google/veo-3.1-generate-001",
        "call": {
            "prompt": {
                "image": "https://example.com/landscape.png",
                "text": "Camera slowly pans across the scene as clouds drift by",
            },
            "resolution": "1080p",
            "providerOptions": {"vertex": {"resizeMode": "crop", "generateAudio": True}},
        },
        "bufferFiles": {},
    },
    {
        "name": "kling_basic",
        "model": "klingai/kling-v2.6-i2v",
        "call": {
            "prompt": {
                "image": "https://example.com/cat.png",
                "text": "The cat slowly turns its head and blinks",
            },
            "duration": 5,
            "providerOptions": {"klingai": {"mode": "std"}},
        },
        "bufferFiles": {},
    },
    {
        "name": "kling_first_last_frame",
        "model": "klingai/kling-v2.6-i2v",
        "call": {
            "prompt": {
                "image": buffer_placeholder(START_PNG),
                "text": "Smooth transition between the two scenes",
            },
            "providerOptions": {"klingai": {"imageTail": buffer_placeholder(END_PNG), "mode": "pro"}},
        },
        "bufferFiles": {"prompt.image": START_PNG, "providerOptions.klingai.imageTail": END_PNG},
    },
    {
        "name": "kling_voice",
        "model": "klingai/kling-v2.6-i2v",
        "call": {
            "prompt": {
                "image": "https://example.com/person.png",
                "text": 'The person<<<voice_1>>> says: "Hello, welcome to my channel"',
            },
            "providerOptions": {
                "klingai": {"mode": "std", "sound": "on", "voiceList": [{"voiceId": "your_voice_id"}]}
            },
        },
        "bufferFiles": {},
    },
    {
        "name": "kling_camera_control",
        "model": "klingai/kling-v2.6-i2v",
        "call": {
            "prompt": {"image": "https://example.com/landscape.png", "text": "A serene mountain landscape"},
            "providerOptions": {
                "klingai": {
                    "mode": "std",
                    "cameraControl": {
                        "type": "simple",
                        "config": {"zoom": 5, "horizontal": 0, "vertical": 0, "pan": 0, "tilt": 0, "roll": 0},
                    },
                }
            },
        },
        "bufferFiles": {},
    },
    {
        "name": "kling_motion_brush",
        "model": "klingai/kling-v2.6-i2v",
        "call": {
            "prompt": {"image": "https://example.com/scene.png", "text": "A ball bouncing across the scene"},
            "providerOptions": {
                "klingai": {
                    "mode": "std",
                    "dynamicMasks": [
                        {
                            "mask": "https://example.com/ball-mask.png",
                            "trajectories": [
                                {"x": 100, "y": 200},
                                {"x": 200, "y": 300},
                                {"x": 300, "y": 200},
                                {"x": 400, "y": 300},
                            ],
                        }
                    ],
                }
            },
        },
        "bufferFiles": {},
    },
    {
        "name": "kling_multi_shot",
        "model": "klingai/kling-v3.0-i2v",
        "call": {
            "prompt": {"image": "https://example.com/start-frame.png", "text": ""},
            "aspectRatio": "16:9",
            "duration": 10,
            "providerOptions": {
                "klingai": {
                    "mode": "pro",
                    "multiShot": True,
                    "shotType": "customize",
                    "multiPrompt": [
                        {"index": 1, "prompt": "The character looks up at the sky.", "duration": "4"},
                        {"index": 2, "prompt": "A bird flies across the frame.", "duration": "3"},
                        {"index": 3, "prompt": "The character smiles and waves.", "duration": "3"},
                    ],
                    "sound": "on",
                }
            },
        },
        "bufferFiles": {},
    },
    {
        "name": "wan_basic",
        "model": "alibaba/wan-v2.6-i2v-flash",
        "call": {
            "prompt": {"image": "https://example.com/cat.png", "text": "The cat waves hello and smiles"},
            "duration": 5,
            "providerOptions": {"alibaba": {"audio": True}},
        },
        "bufferFiles": {},
    },
    {
        "name": "grok_basic",
        "model": "xai/grok-imagine-video",
        "call": {
            "prompt": {
                "image": "https://example.com/cat.png",
                "text": "The cat slowly turns its head and blinks",
            },
            "duration": 5,
            "providerOptions": {"xai": {"pollTimeoutMs": 600000}},
        },
        "bufferFiles": {},
    },
    {
        "name": "seedance_basic",
        "model": "bytedance/seedance-v1.5-pro",
        "call": {
            "prompt": {
                "image": "https://example.com/cat.png",
                "text": "The cat slowly turns its head and blinks",
            },
            "duration": 5,
            "providerOptions": {"bytedance": {"pollTimeoutMs": 600000}},
        },
        "bufferFiles": {},
    },
    {
        "name": "seedance_first_last_frame",
        "model": "bytedance/seedance-v1.5-pro",
        "call": {
            "prompt": {
                "image": "https://example.com/first-frame.jpg",
                "text": "Create a 360-degree orbiting camera shot based on this photo",
            },
            "duration": 5,
            "providerOptions": {
                "bytedance": {
                    "lastFrameImage": "https://example.com/last-frame.jpg",
                    "generateAudio": True,
                    "watermark": False,
                    "pollTimeoutMs": 600000,
                }
            },
        },
        "bufferFiles": {},
    },
    {
        "name": "seedance_multi_reference",
        "model": "bytedance/seedance-v1.0-lite-i2v",
        "call": {
            "prompt": (
                "A boy wearing glasses and a blue T-shirt from [Image 1] and a corgi dog from [Image 2], "
                "sitting on the lawn from [Image 3], in 3D cartoon style"
            ),
            "aspectRatio": "16:9",
            "duration": 5,
            "providerOptions": {
                "bytedance": {
                    "referenceImages": [
                        "https://example.com/boy.png",
                        "https://example.com/corgi.png",
                        "https://example.com/lawn.png",
                    ],
                    "watermark": False,
                    "pollTimeoutMs": 600000,
                }
            },
        },
        "bufferFiles": {},
    },
)

EXAMPLES_BY_NAME: dict[str, VideoExample] = {example["name"]: example for example in EXAMPLES}


def _set_path(target: dict[str, Any], dotted: str, value: Any) -> None:
    node: Any = target
    keys = dotted.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def materialize_call(example: VideoExample, root: Path = REPO_ROOT) -> dict[str, Any]:
    """A deep copy of ``example["call"]`` with each Buffer placeholder replaced by the file's bytes."""
    call = copy.deepcopy(example["call"])
    for dotted, path in example["bufferFiles"].items():
        _set_path(call, dotted, (root / path).read_bytes())
    return call
