"""How a task fails when a call fails: permanently (``AirflowFailException``) when no retry can
help, else as a failed try whose message says truthfully what Airflow does next."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import BaseOperator, get_current_context
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from airflow_video_gen.protocol import GatewayError, MissingApiKeyError


def retry_note(task: BaseOperator, context: Mapping[str, Any] | None = None) -> str:
    """What happens after this try fails with a transient error (an ``AirflowException``), in the
    words every such message of this package ends with: ``try 1 of 3: Airflow retries it`` or
    ``that was the last try (retries=2): the task fails``.

    Read as Airflow decides it: the try is retried while ``try_number <= max_tries`` of the running
    task instance (``max_tries`` grows when a task is cleared).

    :param task: The running operator (its ``retries`` and ``retry_policy``).
    :param context: The task's context (default: the running one, when there is one).
    """
    if context is None:
        try:
            context = get_current_context()
        except RuntimeError:  # not inside a running task
            context = None
    ti = context.get("ti") if context else None
    retries = int(getattr(task, "retries", 0) or 0)
    try_number = getattr(ti, "try_number", None)
    if not isinstance(try_number, int):
        return f"Airflow retries it if tries are left (retries={retries})"
    max_tries = getattr(ti, "max_tries", None)
    if not isinstance(max_tries, int):
        max_tries = retries
    if max_tries and try_number <= max_tries:
        note = f"try {try_number} of {max_tries + 1}: Airflow retries it"
        if getattr(task, "retry_policy", None) is not None:
            note += " unless the task's retry_policy decides otherwise"
        return note
    return f"that was the last try (retries={retries}): the task fails"


def gateway_failure(
    task: BaseOperator, context: Mapping[str, Any] | None, exc: GatewayError, doing: str
) -> AirflowException:
    """The exception a task raises when a gateway call fails (the hook has already retried it).

    - no API key (:class:`~airflow_video_gen.protocol.MissingApiKeyError`): its message alone,
      with no retry;
    - transient (429, 424, 5xx, no answer): ``<doing> failed: <error>; <retry note>``, so
      Airflow's retries apply (see :func:`retry_note`);
    - anything else: ``<doing> failed: <error>``, with no retry.

    :param doing: What was being done, for the message (``"Reading the status of <model>"``).
    """
    if isinstance(exc, MissingApiKeyError):
        return AirflowFailException(str(exc))
    if exc.retryable:
        return AirflowException(f"{doing} failed: {exc}; {retry_note(task, context)}")
    return AirflowFailException(f"{doing} failed: {exc}")


#: S3 error codes no retry fixes: the credentials or the policy must change.
S3_DENIED = frozenset(
    {"AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"}
)


def s3_failure(
    task: BaseOperator,
    context: Mapping[str, Any] | None,
    exc: ClientError | BotoCoreError,
    *,
    param: str,
    uri: str,
) -> AirflowException:
    """The exception a task raises when S3 fails on ``uri``, which comes from its parameter
    ``param``: a missing bucket, refused or missing credentials fail without retry and say what to
    change; anything else fails the try with the :func:`retry_note`."""
    name = type(task).__name__
    conn = getattr(task, "aws_conn_id", None)
    given = getattr(task, param, uri)
    code = str(exc.response.get("Error", {}).get("Code", "")) if isinstance(exc, ClientError) else ""
    if code == "NoSuchBucket":
        bucket = uri[len("s3://") :].split("/", 1)[0]
        return AirflowFailException(
            f"S3 bucket '{bucket}' does not exist ({name} {param}={given}); create it or fix {param}"
        )
    if code in S3_DENIED or isinstance(exc, NoCredentialsError):
        return AirflowFailException(
            f"S3 refused {uri} to connection {conn!r} ({name} {param}): {exc}; check the connection's "
            "credentials and the bucket's policy"
        )
    return AirflowException(f"S3 failed on {uri} ({name} {param}): {exc}; {retry_note(task, context)}")
