"""Hooks to the gateway. This package's root imports nothing: the trigger modules, which a
triggerer imports on its event loop, read :data:`DEFAULT_CONN_ID` from here without the hook's
HTTP stack (see :mod:`airflow_video_gen.triggers.off_loop`)."""

#: The ``ai_gateway`` connection used when none is named.
DEFAULT_CONN_ID = "ai_gateway_default"
