"""The request every family shares: keywords, an SDK call or a wire body -> one typed, checked
request -> the wire body. Image inputs, the settings model, the checks and their errors."""

from __future__ import annotations

from airflow_video_gen.request.errors import InvalidVideoRequest, Issue
from airflow_video_gen.request.request import VideoRequest

__all__ = ["InvalidVideoRequest", "Issue", "VideoRequest"]
