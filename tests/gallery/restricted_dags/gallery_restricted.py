"""A DAG of another team's bundle: the gallery's access test reads it as a user outside that team."""

from __future__ import annotations

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG("gallery_restricted", schedule=None) as dag:
    EmptyOperator(task_id="nothing")
