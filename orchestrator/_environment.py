"""The child process's environment: a new mapping, never ``os.environ`` itself.

The spec says provider settings are "exported during execution and cleared
afterwards". Writing them into the global environment and deleting them later
leaks one job's keys into every other job running at the same time; building a
fresh mapping per child and handing it to the process gives the same
behaviour with nothing to clean up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ._provider_metadata import ProviderConfig


def child_environment(
    provider: ProviderConfig | None,
    base: Mapping[str, str] | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Return a new dict: ``base`` overlaid with the provider's settings, then ``extra``.

    Args:
        provider: whose UPPERCASE settings to apply; None in fallback mode.
        base: the inherited environment; defaults to a copy of ``os.environ``.
        extra: settings the caller adds last (e.g. an adapter's model variable).

    The provider wins over the inherited environment (the spec's "Priority").
    Neither ``base`` nor ``os.environ`` is modified.
    """
    environment = dict(os.environ if base is None else base)
    if provider is not None:
        environment.update(provider.env)
    if extra:
        environment.update(extra)
    return environment
