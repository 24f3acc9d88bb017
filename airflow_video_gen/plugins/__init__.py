"""Airflow plugins of the provider: what it adds to Airflow's api-server and UI.

Registered once, as ``airflow.plugins`` entry points, which Airflow loads however providers are
discovered. Not also in the provider info (``plugins``), as some of Airflow's own providers do: with
``[core] lazy_discover_providers = False`` Airflow reads both, reports the second as an import
error, and the Task SDK's loader stops at it, dropping every provider plugin after it.
"""
