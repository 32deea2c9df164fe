"""Which providers go through the sentinel, and which variable carries their base URL.

``sentinel = true`` in a provider table asks for it. The variable is the
adapter's (``OPENAI_BASE_URL`` for qwen, ``ANTHROPIC_BASE_URL`` for claude,
``GOOGLE_GEMINI_BASE_URL`` for gemini), or the provider's own
``sentinel_env = "NAME"``; the provider must set it to the real API's base
URL, which the sentinel forwards to. Anything else is a config error naming
the table and key, raised when the orchestrator is built, before any job.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._adapter import Adapter
from ._config import OrchestratorConfig
from ._errors import ConfigValueError


def sentinel_variables(
    config: OrchestratorConfig, adapters: Mapping[str, Adapter]
) -> dict[tuple[str, str], str]:
    """``{(backend, provider): base-URL variable}`` for every provider that asks."""
    chosen: dict[tuple[str, str], str] = {}
    file = config.config_dir / "provider_metadata.toml"
    for backend, providers in config.providers.items():
        for provider in providers:
            table = f"{backend}.{provider.name}"
            wanted = provider.options.get("sentinel", False)
            if not isinstance(wanted, bool):
                raise ConfigValueError(
                    "must be true or false", file=file, table=table, key="sentinel"
                )
            if not wanted:
                continue
            variable = provider.options.get("sentinel_env") or getattr(
                adapters[backend], "base_url_env", None
            )
            if not isinstance(variable, str) or not variable:
                raise ConfigValueError(
                    f"the {adapters[backend].name} adapter has no base-URL variable; name the "
                    'one the command reads with sentinel_env = "NAME"',
                    file=file,
                    table=table,
                    key="sentinel",
                )
            upstream = provider.env.get(variable, "")
            if not upstream.startswith(("http://", "https://")):
                raise ConfigValueError(
                    f"sentinel = true needs {variable} set to the provider's API base URL "
                    "(http:// or https://), which the sentinel forwards to",
                    file=file,
                    table=table,
                    key=variable,
                )
            chosen[(backend, provider.name)] = variable
    return chosen
