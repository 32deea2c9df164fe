"""Which providers go through the sentinel, and which variable carries their base URL.

The variable is the adapter's (``OPENAI_BASE_URL`` for qwen,
``ANTHROPIC_BASE_URL`` for claude, ``GOOGLE_GEMINI_BASE_URL`` for gemini), or
the provider's own ``sentinel_env = "NAME"``.

Keyholder, on with the sentinel: the adapter's key variables (``OPENAI_API_KEY``,
``ANTHROPIC_API_KEY``, ``GEMINI_API_KEY``...) reach the child as per-attempt
placeholders and the sentinel adds the real key upstream; ``keyholder = false``
gives the child the real key as before.

On by default: a provider that sets that variable to an ``http(s)://`` URL
goes through the sentinel, because a CLI that retries a 429 in silence (qwen)
is otherwise seen only by a timeout; ``sentinel = false`` opts out. A
provider that does not set it (a subscription login, codex's ``-c``
providers) is watched through its CLI's own signals instead.
``sentinel = true`` insists: then a missing or non-URL variable is a config
error naming the table and key, raised before any job.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._adapter import Adapter
from ._config import OrchestratorConfig
from ._errors import ConfigValueError
from ._provider_metadata import ProviderConfig


def sentinel_variables(
    config: OrchestratorConfig, adapters: Mapping[str, Adapter]
) -> dict[tuple[str, str], str]:
    """``{(backend, provider): base-URL variable}`` for every provider that asks."""
    chosen: dict[tuple[str, str], str] = {}
    file = config.config_dir / "provider_metadata.toml"
    for backend, providers in config.providers.items():
        for provider in providers:
            table = f"{backend}.{provider.name}"
            wanted = provider.options.get("sentinel")
            for key in ("sentinel", "keyholder"):
                if not isinstance(provider.options.get(key, False), bool):
                    raise ConfigValueError("must be true or false", file=file, table=table, key=key)
            named = provider.options.get("sentinel_key_env", ())
            names = [named] if isinstance(named, str) else named
            if not isinstance(names, list | tuple) or not all(
                isinstance(name, str) and name for name in names
            ):
                raise ConfigValueError(
                    "must be a variable name or a list of them",
                    file=file,
                    table=table,
                    key="sentinel_key_env",
                )
            pool = provider.options.get("key_pool")
            if pool is not None and pool is not False and not (isinstance(pool, str) and pool):
                raise ConfigValueError(
                    "must be a pool name, or false", file=file, table=table, key="key_pool"
                )
            if wanted is False:
                continue
            variable = base_url_variable(provider, adapters[backend])
            if wanted is None:  # the default: wherever the base URL is ours to set
                if variable is not None and is_url(provider.env.get(variable, "")):
                    chosen[(backend, provider.name)] = variable
                continue
            if variable is None:
                raise ConfigValueError(
                    f"the {adapters[backend].name} adapter has no base-URL variable; name the "
                    'one the command reads with sentinel_env = "NAME"',
                    file=file,
                    table=table,
                    key="sentinel",
                )
            if not is_url(provider.env.get(variable, "")):
                raise ConfigValueError(
                    f"sentinel = true needs {variable} set to the provider's API base URL "
                    "(http:// or https://), which the sentinel forwards to",
                    file=file,
                    table=table,
                    key=variable,
                )
            chosen[(backend, provider.name)] = variable
    return chosen


def held_keys(
    config: OrchestratorConfig,
    adapters: Mapping[str, Adapter],
    through_sentinel: Mapping[tuple[str, str], str],
) -> dict[tuple[str, str], tuple[str, ...]]:
    """``{(backend, provider): the key variables its settings set that the sentinel
    holds}``, for the providers the sentinel watches (a key the child inherits from the
    orchestrator's own environment is held too, at run time)."""
    held: dict[tuple[str, str], tuple[str, ...]] = {}
    for backend, providers in config.providers.items():
        for provider in providers:
            if (backend, provider.name) not in through_sentinel:
                continue
            keys = tuple(v for v in key_variables(provider, adapters[backend]) if v in provider.env)
            if keys:
                held[(backend, provider.name)] = keys
    return held


def key_pools(
    config: OrchestratorConfig, held: Mapping[tuple[str, str], tuple[str, ...]]
) -> dict[tuple[str, str], tuple[str, ...]]:
    """``{(backend, provider): the other providers of its key pool}``, in rotation order
    from the one after it.

    A pool is providers of one backend whose keys the sentinel holds (``held``) and whose
    settings are the same but for their keys (same base URL, same model, same command):
    the same endpoint and model with several keys. ``key_pool = "name"`` puts providers
    in a pool by name instead; ``key_pool = false`` keeps a provider out.
    """
    pools: dict[tuple[str, str], tuple[str, ...]] = {}
    for backend, providers in config.providers.items():
        groups: dict[object, list[str]] = {}
        for provider in providers:
            keys = held.get((backend, provider.name))
            chosen = provider.options.get("key_pool")
            if not keys or chosen is False:
                continue
            if isinstance(chosen, str):
                group: object = ("named", chosen)
            else:
                rest = tuple(sorted((k, v) for k, v in provider.env.items() if k not in keys))
                group = ("same", rest, provider.command, tuple(provider.args))
            groups.setdefault(group, []).append(provider.name)
        for members in groups.values():
            for position, name in enumerate(members):
                others = members[position + 1 :] + members[:position]
                if others:
                    pools[(backend, name)] = tuple(others)
    return pools


def key_variables(provider: ProviderConfig, adapter: Adapter) -> tuple[str, ...]:
    """The variables whose keys the sentinel holds for a provider it watches: the
    adapter's key variables and the provider's ``sentinel_key_env`` (for commands whose
    adapter does not know them), unless the provider says ``keyholder = false`` (both
    checked by :func:`sentinel_variables`)."""
    if provider.options.get("keyholder", True) is False:
        return ()
    own = provider.options.get("sentinel_key_env", ())
    own = (own,) if isinstance(own, str) else tuple(own)
    return tuple(dict.fromkeys((*getattr(adapter, "key_env", ()), *own)))


def base_url_variable(provider: ProviderConfig, adapter: Adapter) -> str | None:
    """The variable holding the provider's API base URL: ``sentinel_env``, else the adapter's."""
    variable = provider.options.get("sentinel_env") or getattr(adapter, "base_url_env", None)
    return variable if isinstance(variable, str) and variable else None


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))
