"""``python -m airflow_video_gen.devtools.emulator [options]``: the same as ``airflow-video-gen emulator``."""

from __future__ import annotations

import sys

from airflow_video_gen.devtools.emulator.command import main

if __name__ == "__main__":
    sys.exit(main())
