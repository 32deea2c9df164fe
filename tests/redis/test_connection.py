"""Connecting to Redis: what a user without the extra, or with a bad URL, is told."""

from __future__ import annotations

import sys

import pytest

from orchestrator import UsageError


def test_without_coredis_the_package_imports_and_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``orchestrator.redis`` imports without the extra; using it is a usage error that
    names the extra to install (exit 2 from the CLI), not an ImportError."""
    monkeypatch.setitem(sys.modules, "coredis", None)
    from orchestrator.redis._connection import check_redis_url

    with pytest.raises(UsageError, match=r"pip install 'provider-orchestrator\[redis\]'"):
        check_redis_url("redis://127.0.0.1:6379/0")


def test_a_url_of_another_scheme_is_refused_without_repeating_it() -> None:
    from orchestrator.redis._connection import check_redis_url

    with pytest.raises(UsageError, match="must start with redis://") as refused:
        check_redis_url("http://user:s3cret@host/0")
    assert "s3cret" not in str(refused.value)
