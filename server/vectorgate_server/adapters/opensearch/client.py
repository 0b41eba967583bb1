"""The ``AsyncOpenSearch`` client of a store: its authentication and the cluster version."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from ...errors import BackendUnavailable

if TYPE_CHECKING:
    from ..configs import OpenSearchConfig

_VERSION_RE: Final = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(number: str) -> tuple[int, int]:
    """(major, minor) of a cluster's ``version.number``; an unreadable one counts as new."""
    match = _VERSION_RE.search(number)
    if match is None:
        return (99, 0)
    return (int(match.group(1)), int(match.group(2)))


def client_auth(config: OpenSearchConfig) -> tuple[Any, Any]:
    """(http_auth, connection_class) of a configured store (None, None without auth)."""
    auth = config.auth
    if auth is not None and auth.type == "basic":
        assert auth.username is not None and auth.password is not None
        return (auth.username, auth.password.get_secret_value()), None
    if auth is not None and auth.type == "aws_sigv4":
        return _sigv4_auth(config.name, auth.region, auth.service)
    return None, None


def _sigv4_auth(store: str, region: str | None, service: str) -> tuple[Any, Any]:
    """(http_auth, connection_class) for AWS SigV4, from the default AWS credential chain.

    opensearch-py's signer uses ``botocore`` (not ``boto3``) to sign; it is
    imported only when a store is configured with ``aws_sigv4``.
    """
    try:
        import botocore.session
    except ImportError as exc:
        raise BackendUnavailable(
            f"store {store!r}: auth type aws_sigv4 needs the 'botocore' package "
            "(pip install botocore)"
        ) from exc
    from opensearchpy import AsyncHttpConnection, AWSV4SignerAsyncAuth

    session = botocore.session.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise BackendUnavailable(
            f"store {store!r}: aws_sigv4 found no AWS credentials (environment, shared "
            "credentials file, or instance / container role)"
        )
    resolved_region = region or session.get_config_variable("region")
    if not resolved_region:
        raise BackendUnavailable(
            f"store {store!r}: aws_sigv4 needs a region (auth.region or AWS_REGION)"
        )
    return AWSV4SignerAsyncAuth(credentials, resolved_region, service), AsyncHttpConnection
