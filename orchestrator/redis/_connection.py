"""Connecting to Redis (coredis 6, on anyio) and riding out its restarts.

coredis is an optional dependency (the ``redis`` extra): importing it lazily
turns a missing install into one clear error instead of an ImportError at
start-up for people who never use Redis.
"""

from __future__ import annotations

import random
import ssl
import urllib.parse
import warnings
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

import anyio
import structlog

from .._errors import ServiceUnavailableError, UsageError

if TYPE_CHECKING:
    import coredis

    #: A client for one server, or for a Redis Cluster found from any of its nodes.
    RedisClient = coredis.Redis[str] | coredis.RedisCluster[str]

logger = structlog.get_logger("orchestrator.redis")
T = TypeVar("T")

#: Seconds between reconnection attempts, growing to the last value.
BACKOFF = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)


class RedisUnavailableError(UsageError):
    """``--redis`` was given but coredis is not installed."""


def redis_errors() -> tuple[type[BaseException], ...]:
    """The errors that mean "Redis is not reachable right now": worth waiting out."""
    import coredis.exceptions

    return (coredis.exceptions.ConnectionError, TimeoutError, OSError)


#: URL schemes coredis connects with.
SCHEMES = ("redis://", "rediss://", "unix://")


def check_redis_url(url: str) -> None:
    """Fail early, before any job starts, on a URL or an install that cannot work.

    The message never repeats the URL: it may carry a password.
    """
    if not url.startswith(SCHEMES):
        raise UsageError(
            "Error: the Redis URL must start with redis://, rediss:// or unix:// "
            "(redis://HOST:PORT/DB)"
        )
    try:
        import coredis  # noqa: F401
    except ImportError:
        raise RedisUnavailableError(
            "Error: Redis support needs coredis: pip install 'provider-orchestrator[redis]'"
        ) from None


def connect(url: str) -> coredis.Redis[str]:
    """A client for ``url``: ``redis://[USER:PASSWORD@]HOST:PORT/DB``, or ``rediss://`` for
    TLS with ``?ssl_ca_certs=CA&ssl_cert_reqs=required`` (also ``ssl_certfile``,
    ``ssl_keyfile``, ``ssl_check_hostname``); use it as ``async with client``."""
    check_redis_url(url)
    import coredis

    # decode_components: a user name or password written percent-encoded in the URL, as
    # URLs require for ':', '/', '@'... ('s3cret%3Apass' is the password 's3cret:pass').
    return coredis.Redis.from_url(url, decode_responses=True, decode_components=True)


@asynccontextmanager
async def connected(url: str, *, wait: bool = False) -> AsyncIterator[RedisClient]:
    """``async with connected(url) as client``: the client, closed on the way out; a
    cluster client when the server at ``url`` is a node of a Redis Cluster (it finds
    the other nodes, and follows redirects and failovers).

    Redis must answer at once (else ``ServiceUnavailableError``, exit 3), or
    with ``wait`` (a worker started before Redis) whenever it comes up.
    """
    try:
        async with _opened(url, wait=wait) as client:
            yield client
    except BaseExceptionGroup as group:
        # coredis connects inside its own task group: a refused connection
        # arrives wrapped. Only Redis being away becomes the plain message.
        refused, _ = group.split(_login_errors())
        if refused is not None:
            raise _login_refused(url, _innermost(refused)) from group
        unreachable, rest = group.split(redis_errors())
        if unreachable is None or rest is not None:
            raise
        raise ServiceUnavailableError(
            f"Error: cannot reach Redis at {describe(url)}: {_innermost(unreachable)}"
        ) from group
    except _login_errors() as exc:
        raise _login_refused(url, str(exc)) from exc


@asynccontextmanager
async def _opened(url: str, *, wait: bool) -> AsyncIterator[RedisClient]:
    client = connect(url)
    async with client:
        if wait:
            await until_done(client.ping, what="connect")
        else:
            await client.ping()
        if not await _in_cluster_mode(client):
            yield client
            return
    import coredis

    with warnings.catch_warnings():
        # coredis 6's own from_url hands its pool the startup node in the form it has
        # deprecated; nothing a caller can change.
        warnings.filterwarnings("ignore", "Use coredis.connection.TCPLocation", DeprecationWarning)
        cluster = coredis.RedisCluster.from_url(url, decode_responses=True, decode_components=True)
    try:
        async with cluster:
            _clusters.add(cluster)
            try:
                yield cluster
            finally:
                _clusters.discard(cluster)
    finally:
        # coredis 6 never closes the channel its slot map's monitor reads errors from
        # (a ResourceWarning when the client is collected).
        for stream in getattr(cluster.connection_pool.cluster_layout, "_error_stream", ()):
            stream.close()


#: The cluster clients open in this process (see :func:`_report_to_clusters`).
_clusters: weakref.WeakSet[coredis.RedisCluster[str]] = weakref.WeakSet()


def _report_to_clusters(error: BaseException) -> None:
    """Tell every open cluster client that a request failed to connect.

    coredis 6 refreshes its slot map after a few such errors, but counts only those of
    single commands: a pipeline (a transaction) to a master that died would go on
    failing after its replica took over. Reported here, the next try finds the new
    master.
    """
    import coredis.exceptions

    for cluster in list(_clusters):
        cluster.connection_pool.cluster_layout.report_errors(
            None, coredis.exceptions.ConnectionError(str(error))
        )


async def _in_cluster_mode(client: coredis.Redis[str]) -> bool:
    """The server says ``cluster_enabled:1`` (a user not allowed INFO: taken as no)."""
    import coredis.exceptions

    try:
        info = await client.info("cluster")
    except coredis.exceptions.ResponseError:
        return False
    return str(info.get("cluster_enabled", "0")) == "1"


def key_prefix(client: RedisClient, prefix: str) -> str:
    """The prefix keys are made with. On a cluster every key shares one hash tag
    (``{orchestrator}:jobs``): each script's keys are then in one slot, as a cluster
    requires. A prefix that has a hash tag already is kept as it is."""
    import coredis

    if isinstance(client, coredis.RedisCluster) and "{" not in prefix:
        return f"{{{prefix}}}"
    return prefix


def _login_errors() -> tuple[type[BaseException], ...]:
    import coredis.exceptions

    return (coredis.exceptions.AuthenticationError, coredis.exceptions.AuthorizationError)


def _login_refused(url: str, reason: str) -> UsageError:
    """A wrong user, password or permission: no retry helps, so a usage error (exit 2)."""
    return UsageError(
        f"Error: Redis at {describe(url)} refused the login: {reason} (check the user and "
        "password in the Redis URL, and the user's ACL)"
    )


def describe(url: str) -> str:
    """``HOST:PORT/DB`` of a Redis URL, never its user name or password."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or '/0'}"


def _innermost(group: BaseExceptionGroup[BaseException]) -> str:
    """The first error of the group, with the TLS reason behind it when there is one
    (coredis says only "Unable to establish a connection")."""
    leaf: BaseException = group
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    cause: BaseException | None = leaf
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            reason = getattr(cause, "verify_message", None) or cause.reason or str(cause)
            return (
                f"{leaf}: TLS: {reason} (check ssl_ca_certs, ssl_certfile and ssl_keyfile in "
                "the Redis URL)"
            )
        cause = cause.__cause__ or cause.__context__
    return str(leaf)


async def until_done(operation: Callable[[], Awaitable[T]], *, what: str) -> T:
    """Run ``operation`` until Redis answers it, waiting out restarts and outages.

    For the steps that must not be lost (storing a result, acknowledging a
    job): a worker holding a finished result keeps it until Redis is back.
    Cancellation still ends the wait.
    """
    errors = redis_errors()
    for attempt in range(1_000_000_000):
        try:
            return await operation()
        except errors as exc:
            _report_to_clusters(exc)
            delay = BACKOFF[min(attempt, len(BACKOFF) - 1)] * (0.5 + random.random())
            if attempt in (0, 10, 100) or attempt % 1000 == 0:
                logger.warning("redis unavailable, retrying", step=what, error=str(exc))
            await anyio.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
