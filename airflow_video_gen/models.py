"""The public request API: a checked image-to-video request and the error that lists its problems.

Public API::

    from airflow_video_gen.models import VideoRequest, InvalidVideoRequest

    req = VideoRequest.from_sdk_call("klingai/kling-v2.6-i2v", {"prompt": {"image": b"...", "text": "..."}})
    body = req.to_gateway_body()
"""

from __future__ import annotations

from airflow_video_gen.request import InvalidVideoRequest, Issue, VideoRequest

__all__ = ["InvalidVideoRequest", "Issue", "VideoRequest"]
