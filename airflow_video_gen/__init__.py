"""Apache Airflow provider for image-to-video generation through AI Gateway.

Kept light: Airflow imports this module (through the ``apache_airflow_provider`` entry point) in
every process, so nothing heavy is imported here.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_INTEGRATION = "AI Gateway Video"

#: The ``ai_gateway`` connection form, shared by the provider info and the hook.
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "login", "port"],
    "relabeling": {"host": "Base URL", "password": "API key"},
    "placeholders": {
        "host": "https://ai-gateway.vercel.sh/v4/ai",
        "password": "AI Gateway API key",
        "extra": '{"team": "my-team", "timeout": 60, "verify": true}',
    },
}

_CONN_FIELDS: dict[str, Any] = {
    "team": {
        "label": "Team",
        "description": "Sent as the x-vercel-ai-gateway-team header.",
        "schema": {"type": ["string", "null"]},
    },
    "timeout": {
        "label": "Request timeout (seconds)",
        "description": "Connect and read timeout of each call. Defaults to 60.",
        "schema": {"type": ["number", "null"], "minimum": 1},
    },
    "verify": {
        "label": "Verify TLS certificates",
        "description": "Turn off only for a local gateway with a self-signed certificate.",
        "schema": {"type": ["boolean", "null"]},
    },
}

#: ``[video_gen]``: callbacks that end waits early (``airflow_video_gen.triggers.callbacks``).
_CONFIG: dict[str, Any] = {
    "video_gen": {
        "description": "AI Gateway video generation: callbacks that end a wait early.",
        "options": {
            "callback_url": {
                "description": "The URL the gateway calls back when a generation ends: this "
                "provider's endpoint on the api-server, <api-server URL>/video-gen-callbacks/gateway, "
                "reachable from the gateway. Set, a wait ends when the callback comes and polls only "
                "as the fallback. Empty: waits poll.",
                "version_added": "0.1.0",
                "type": "string",
                "example": "https://airflow.example.com/video-gen-callbacks/gateway",
                "default": "",
            },
            "callback_fallback_interval": {
                "description": "Seconds between status calls while a wait expects a callback.",
                "version_added": "0.1.0",
                "type": "float",
                "example": "60",
                "default": "60",
            },
            "callback_look_interval": {
                "description": "Seconds between a triggerer's looks for callbacks (one metadata "
                "database read for all its waits).",
                "version_added": "0.1.0",
                "type": "float",
                "example": "2",
                "default": "2",
            },
        },
    }
}

#: Modules registered with Airflow, by kind.
_MODULES: dict[str, list[str]] = {
    "hooks": ["airflow_video_gen.hooks.gateway"],
    "operators": [
        "airflow_video_gen.operators.submit",
        "airflow_video_gen.operators.staging",
        "airflow_video_gen.operators.archive",
        "airflow_video_gen.operators.join",
        "airflow_video_gen.operators.batch",
    ],
    "sensors": ["airflow_video_gen.sensors.generation", "airflow_video_gen.sensors.batch"],
    "triggers": ["airflow_video_gen.triggers.generation", "airflow_video_gen.triggers.batch"],
}


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow's ProvidersManager (``airflow providers list``)."""
    info: dict[str, Any] = {
        "package-name": "airflow-video-gen",
        "name": "AI Gateway Video",
        "description": "Image-to-video generation through AI Gateway: Google Veo, KlingAI, Wan, "
        "Grok Imagine Video and ByteDance Seedance, with deferrable waiting and S3 archival.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://vercel.com/docs/ai-gateway",
                "tags": ["ai"],
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_video_gen.hooks.gateway.VideoGatewayHook",
                "hook-name": "AI Gateway",
                "connection-type": "ai_gateway",
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
                "conn-fields": _CONN_FIELDS,
            }
        ],
    }
    for kind, modules in _MODULES.items():
        info[kind] = [{"integration-name": _INTEGRATION, "python-modules": modules}]
    info["config"] = _CONFIG
    info["extra-links"] = [
        "airflow_video_gen.utils.gallery_links.VideoGalleryLink",
        "airflow_video_gen.utils.gallery_links.ArchivedVideosS3Link",
    ]
    return info
