"""Airflow plugins of the provider: what it adds to Airflow's api-server and UI.

Registered twice, as Airflow's own providers do: in the provider info (``plugins``) and as
``airflow.plugins`` entry points, since Airflow loads a provider's plugins from its info only when
providers are not discovered lazily (``[core] lazy_discover_providers = False``).
"""
