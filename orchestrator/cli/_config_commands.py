"""``orchestrator config check``: load both files and show what will run."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Annotated

import typer

from .._config import OrchestratorConfig, load_config
from .._provider_metadata import ProviderConfig
from .._redaction import Redactor
from .._registry import adapters_for, load_adapter
from .._sentinel_config import held_keys, key_pools, sentinel_variables
from ._options import ConfigDirOption

config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)

REDACTED = "<redacted>"


ProgramsOption = Annotated[
    bool,
    typer.Option(
        "--programs/--no-programs",
        help="Look for each provider's program on the PATH its child would get "
        "(--no-programs: checking a config meant for another machine).",
    ),
]


@config_app.command("check")
def check_command(config_dir: ConfigDirOption = None, programs: ProgramsOption = True) -> None:
    """Validate the config and list each backend's providers in rotation order.

    Everything run would trip on is listed at once, on stderr: errors in the files
    (exit 2, nothing else shown), then programs not found and extras not installed
    (exit 2 after the listing). Warnings do not change the exit code. Credential
    settings are never shown; others (base URLs, models) are, with any credential
    inside a URL masked.
    """
    config = load_config(config_dir)
    for warning in config.warnings:
        print(warning, file=sys.stderr)
    print("\n".join(describe_config(config)))
    for unwatched in unwatched_limits(config):
        print(unwatched, file=sys.stderr)
    problems = [*(missing_programs(config) if programs else ()), *missing_extras(config)]
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        print(f"config check: {count} that run would trip on", file=sys.stderr)
        raise typer.Exit(2)


def missing_extras(
    config: OrchestratorConfig, installed: Callable[[str], bool] | None = None
) -> Iterator[str]:
    """An error per optional library the config needs and this Python lacks."""
    installed = installed or _importable
    telemetry = config.telemetry
    if telemetry.prometheus_port is not None and not installed("prometheus_client"):
        yield (
            "Error: [telemetry] prometheus_port needs prometheus-client: "
            "pip install 'provider-orchestrator[prometheus]'"
        )
    if telemetry.opentelemetry and not installed("opentelemetry"):
        yield (
            "Error: [telemetry] opentelemetry needs opentelemetry-api: "
            "pip install 'provider-orchestrator[otel]'"
        )
    adapters = adapters_for(config)
    watched = sentinel_variables(config, adapters)
    lacking = [module for module in ("httpx", "h11") if not installed(module)]
    if watched and lacking:
        backend, provider = next(iter(watched))
        others = f" and {len(watched) - 1} more" if len(watched) > 1 else ""
        yield (
            f"Error: [{backend}.{provider}]{others} use the sentinel, "
            f"which needs {' and '.join(lacking)}: reinstall provider-orchestrator "
            "(pip install --force-reinstall provider-orchestrator), or set sentinel = false"
        )


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_programs(config: OrchestratorConfig) -> Iterator[str]:
    """An error per enabled provider (or fallback backend) whose program is not found,
    on the PATH its child would get: run could not start it."""
    for name, backend in config.backends.items():
        if not backend.enabled:
            continue
        binary = getattr(load_adapter(backend.adapter), "binary", None)
        for provider in config.providers[name] or (None,):
            program = provider.command if provider and provider.command else binary
            if program is None:
                continue
            path = (provider.env if provider else {}).get("PATH", os.environ.get("PATH"))
            if shutil.which(program, path=path) is None:
                where = f"{name}.{provider.name}" if provider else f"backends.{name}"
                yield (
                    f"Error: [{where}]: program '{program}' not found"
                    f"{'' if os.sep in program else ' on PATH'}: run cannot start it "
                    "(install its CLI, or set 'command')"
                )


def describe_config(config: OrchestratorConfig) -> Iterator[str]:
    """Human-readable lines for ``config check``; secrets are redacted."""
    yield f"Config directory: {config.config_dir}"
    message_backend = config.message_backend
    yield f"Default backend: {message_backend.default}"
    yield f"Fallback order: {' -> '.join(message_backend.order)}"
    if config.noedit_backend is not None:
        noedit = config.noedit_backend
        yield f"Noedit jobs: default {noedit.default}, fallback order {' -> '.join(noedit.order)}"
    if config.high_score:
        yield (
            f'Hard jobs (difficulty = "high"): {" -> ".join(config.high_score)} first, '
            "then the fallback order"
        )
    watchers = limit_watchers(config)
    holders, pools = key_holders(config)
    redact = _LazyRedactor(config.secret_values)
    for name, backend in config.backends.items():
        state = "enabled" if backend.enabled else "disabled"
        model = backend.model or "(CLI default)"
        yield ""
        yield f"[backends.{name}] adapter={backend.adapter} model={model} {state}"
        providers = config.providers[name]
        if not providers:
            yield "  no providers: fallback mode (the adapter's defaults, no rotation)"
        for position, provider in enumerate(providers, start=1):
            yield from _describe_provider(position, provider, redact)
            yield f"     limits seen by: {watchers[(name, provider.name)][0]}"
            yield f"     keys: {holders[(name, provider.name)]}"
            if (name, provider.name) in pools:
                others = ", ".join(pools[(name, provider.name)])
                yield f"     key pool: {others} (a 429 goes on with their keys in the same request)"


def key_holders(
    config: OrchestratorConfig,
) -> tuple[dict[tuple[str, str], str], dict[tuple[str, str], tuple[str, ...]]]:
    """``{(backend, provider): who holds its API key}`` (the sentinel, whose CLI gets a
    placeholder, or the CLI itself), and the key pools."""
    adapters = adapters_for(config)
    held = held_keys(config, adapters, sentinel_variables(config, adapters))
    holders = {
        (backend, provider.name): (
            f"held by the sentinel ({', '.join(held[(backend, provider.name)])}: the CLI gets "
            "a placeholder)"
            if (backend, provider.name) in held
            else "the CLI gets them as set"
        )
        for backend, providers in config.providers.items()
        for provider in providers
    }
    return holders, key_pools(config, held)


def limit_watchers(config: OrchestratorConfig) -> dict[tuple[str, str], tuple[str, bool]]:
    """``{(backend, provider): (what sees its limits, whether only a timeout would)}``."""
    adapters = adapters_for(config)
    through_sentinel = sentinel_variables(config, adapters)
    watchers = {}
    for backend, providers in config.providers.items():
        adapter = adapters[backend]
        signal = getattr(adapter, "limit_signal", "its error text when it exits")
        silent_with = getattr(adapter, "silent_on_limits", None)
        for provider in providers:
            variable = through_sentinel.get((backend, provider.name))
            if variable is not None:
                text = f"the sentinel (HTTP 429, quota bodies, rate-limit headers; via {variable})"
                watchers[(backend, provider.name)] = (text, False)
            elif callable(silent_with) and silent_with(provider.env):
                text = "nothing until the CLI gives up (its early signal is switched off)"
                watchers[(backend, provider.name)] = (text, True)
            else:
                watchers[(backend, provider.name)] = (signal, False)
    return watchers


def unwatched_limits(config: OrchestratorConfig) -> Iterator[str]:
    """A warning per provider whose limits only an idle timeout would end."""
    for (backend, provider), (_, silent) in limit_watchers(config).items():
        if silent:
            idle = config.backend(backend).idle_timeout
            after = "never (idle_timeout = 0)" if idle == 0 else "after the idle timeout"
            yield (
                f"Warning: [{backend}.{provider}]: a usage limit would be seen only {after}: "
                "let the sentinel watch it (set its base-URL variable, no sentinel = false) "
                "or turn its CLI's early signal back on"
            )


class _LazyRedactor:
    """One redactor for the whole config, built only when a shown value needs it."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = secrets
        self._redactor: Redactor | None = None

    def __call__(self, text: str) -> str:
        if self._redactor is None:
            self._redactor = Redactor(self._secrets)
        return self._redactor(text)


def _describe_provider(
    position: int, provider: ProviderConfig, redact: Callable[[str], str]
) -> Iterator[str]:
    description = f"  {provider.description}" if provider.description else ""
    yield f"  {position}. {provider.name}{description}"
    if provider.unusable:
        yield f"     unusable: {provider.unusable} (skipped by every job until set)"
    if provider.command:
        yield f"     command: {' '.join([provider.command, *provider.args])}"
    else:
        yield "     command: (the adapter's CLI)"
    for key, value in provider.env.items():
        shown = REDACTED if provider.is_secret(key) else redact(value)
        yield f"     env: {key}={shown}"
    for key in provider.options:
        yield f"     option: {key}"
