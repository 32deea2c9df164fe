"""Loading the config directory: both files, expanded, cross-checked, frozen.

``load_config`` is the one entry point. It reads ``llm_config.toml`` and
``provider_metadata.toml`` from the config directory (argument, else
``$ORCHESTRATOR_CONFIG_DIR``, else ``~/.auto-coder``), expands ``${VAR}``
references from the environment it is given, checks every cross-reference and
returns an :class:`OrchestratorConfig` with the warnings it found.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ._diagnostics import ConfigWarning
from ._errors import (
    ConfigError,
    ConfigFileNotFoundError,
    ConfigValueError,
    UnknownBackendError,
    UnknownProviderError,
    UnsetVariableError,
)
from ._expand import ExpansionError, UnsetVariable, expand_tree, unset_references
from ._llm_config import (
    FOREIGN_BACKEND_TYPES,
    BackendConfig,
    LLMConfig,
    MessageBackendConfig,
    TelemetryConfig,
    parse_llm_config,
)
from ._provider_metadata import ProviderConfig, ProviderTables, parse_provider_metadata
from ._registry import available_adapter_names, load_adapter
from ._rotation import ProviderRotation
from ._toml import read_toml
from ._toml_lines import line_in_file, line_of, text_of

LLM_CONFIG_FILE = "llm_config.toml"
PROVIDER_METADATA_FILE = "provider_metadata.toml"
CONFIG_DIR_VARIABLE = "ORCHESTRATOR_CONFIG_DIR"


def default_config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$ORCHESTRATOR_CONFIG_DIR`` when set, else ``~/.auto-coder``."""
    environ = os.environ if environ is None else environ
    configured = environ.get(CONFIG_DIR_VARIABLE)
    return Path(configured).expanduser() if configured else Path.home() / ".auto-coder"


@dataclass(frozen=True)
class OrchestratorConfig:
    """Both config files, validated against each other.

    Attributes:
        config_dir: the directory both files were read from.
        backends: every ``[backends.<name>]`` table, in file order.
        message_backend: the default backend and the fallback order, resolved:
            ``default`` is always set and ``order`` lists enabled backends only.
        providers: ``{backend: (ProviderConfig, ...)}`` in rotation order, for
            every backend (empty tuple in fallback mode).
        warnings: everything worth telling the user that was not an error.
        telemetry: the ``[telemetry]`` table.
        noedit_backend: the same for ``noedit`` jobs (``[backend_for_noedit]``, or
            ``[message_backend]`` beside ``[backend]``); None: ``message_backend``.
        high_score: enabled backends tried first for hard jobs (``difficulty = "high"``).
    """

    config_dir: Path
    backends: Mapping[str, BackendConfig]
    message_backend: MessageBackendConfig
    providers: Mapping[str, tuple[ProviderConfig, ...]]
    warnings: tuple[ConfigWarning, ...] = field(default=())
    telemetry: TelemetryConfig = field(default=TelemetryConfig())
    noedit_backend: MessageBackendConfig | None = None
    high_score: tuple[str, ...] = ()

    def order_for(self, noedit: bool) -> MessageBackendConfig:
        """The default backend and fallback order of edit (or noedit) jobs."""
        return self.noedit_backend if noedit and self.noedit_backend else self.message_backend

    def backend(self, name: str) -> BackendConfig:
        """The backend called ``name``; raises UnknownBackendError otherwise."""
        try:
            return self.backends[name]
        except KeyError:
            raise UnknownBackendError(name, list(self.backends)) from None

    def providers_for(self, backend: str) -> tuple[ProviderConfig, ...]:
        """The backend's providers in rotation order (empty in fallback mode)."""
        self.backend(backend)
        return self.providers[backend]

    def provider(self, backend: str, name: str) -> ProviderConfig:
        """The provider ``name`` of ``backend``; KeyError when it has none by that name."""
        for provider in self.providers_for(backend):
            if provider.name == name:
                return provider
        raise KeyError(f"backend {backend!r} has no provider {name!r}")

    @property
    def secret_values(self) -> frozenset[str]:
        """Every provider setting value: what redaction must hide."""
        return frozenset(
            secret
            for providers in self.providers.values()
            for provider in providers
            for secret in provider.secret_values
        )

    def new_rotations(self) -> dict[str, ProviderRotation]:
        """Fresh rotation state for every backend, in configured order."""
        return {
            backend: ProviderRotation.of([p.name for p in providers])
            for backend, providers in self.providers.items()
        }

    def max_cooldowns(self) -> dict[str, float]:
        """``{backend: max_cooldown_seconds}``: the cap on any saved or announced cooldown."""
        return {name: backend.max_cooldown_seconds for name, backend in self.backends.items()}

    def unusable(self, backend: str) -> frozenset[str]:
        """The backend's providers that cannot be used as configured (an unset variable)."""
        return frozenset(p.name for p in self.providers[backend] if p.unusable)

    def fingerprints(self, backend: str) -> dict[str, str]:
        """``{provider: ProviderConfig.fingerprint}`` for the backend's providers."""
        return {provider.name: provider.fingerprint for provider in self.providers[backend]}

    @property
    def llm_config_path(self) -> Path:
        return self.config_dir / LLM_CONFIG_FILE

    @property
    def provider_metadata_path(self) -> Path:
        return self.config_dir / PROVIDER_METADATA_FILE


def load_config(
    config_dir: Path | str | None = None, *, environ: Mapping[str, str] | None = None
) -> OrchestratorConfig:
    """Read, expand and cross-check both config files.

    Args:
        config_dir: the directory; None means :func:`default_config_dir`.
        environ: where ``${VAR}`` values come from; defaults to ``os.environ``,
            which is only read.

    Raises:
        ConfigError: a subclass naming the file, table, key and line of the
            first problem found.
    """
    try:
        config = _load_config(config_dir, environ)
    except ConfigError as exc:
        raise _with_line(exc) from None
    return dataclasses.replace(config, warnings=_with_lines(config.warnings))


def _with_line(error: ConfigError) -> ConfigError:
    """The error, its line found from its table and key when the parser gave none."""
    if error.line is None and error.file is not None and (error.key or error.table):
        error.line = line_in_file(error.file, error.table, error.key)
        error.args = (error._render(),)
    return error


def _with_lines(warnings: tuple[ConfigWarning, ...]) -> tuple[ConfigWarning, ...]:
    texts: dict[Path, str | None] = {}
    located = []
    for warning in warnings:
        if warning.file is not None and warning.line is None and (warning.key or warning.table):
            if warning.file not in texts:
                texts[warning.file] = text_of(warning.file)
            text = texts[warning.file]
            if text is not None:
                line = line_of(text, warning.table, warning.key)
                warning = dataclasses.replace(warning, line=line)
        located.append(warning)
    return tuple(located)


def _load_config(
    config_dir: Path | str | None, environ: Mapping[str, str] | None
) -> OrchestratorConfig:
    environ = os.environ if environ is None else environ
    directory = (
        Path(config_dir).expanduser() if config_dir else default_config_dir(environ)
    ).absolute()
    llm_path = directory / LLM_CONFIG_FILE
    metadata_path = directory / PROVIDER_METADATA_FILE

    try:
        llm_text = read_toml(llm_path)
    except ConfigFileNotFoundError:
        raise ConfigFileNotFoundError(
            f"{LLM_CONFIG_FILE} not found in {directory}: point --config-dir (or "
            f"${CONFIG_DIR_VARIABLE}) at the directory holding {LLM_CONFIG_FILE} and "
            f"{PROVIDER_METADATA_FILE}; examples/spec/ in the repository has a starting point",
            file=llm_path,
        ) from None
    llm_data = _expanded(llm_text, environ, llm_path)
    llm, warnings, llm_secrets = parse_llm_config(llm_data, llm_path)
    if llm_secrets:
        warnings.extend(_permission_warnings(llm_path))

    tables: ProviderTables = {}
    try:
        raw_metadata = read_toml(metadata_path)
    except ConfigFileNotFoundError:
        warnings.append(ConfigWarning(f"{PROVIDER_METADATA_FILE} not found", file=metadata_path))
    else:
        metadata_data, unset = _expanded_providers(raw_metadata, environ, metadata_path)
        tables = parse_provider_metadata(metadata_data, metadata_path)
        tables = _mark_unusable(tables, unset, metadata_path, warnings)
        if any(p.env for providers in tables.values() for p in providers.values()):
            warnings.extend(_permission_warnings(metadata_path))
        warnings.extend(_misspelled_options(tables, metadata_path))
        warnings.extend(_empty_credentials(tables, metadata_path))

    llm = _with_implicit_backends(llm, llm_path, warnings)
    llm = _with_parents(llm, llm_path)
    llm = _check_adapters(llm, llm_path, warnings)
    providers = _providers_in_rotation_order(llm, tables, llm_path, metadata_path, warnings)
    _require_a_usable_way(llm, providers, unset if tables else {})
    message_backend = _resolve_message_backend(
        llm, llm.message_backend, llm.main_table, llm_path, warnings
    )
    noedit_backend = None
    if llm.noedit_backend is not None and llm.noedit_table is not None:
        noedit_backend = _resolve_message_backend(
            llm, llm.noedit_backend, llm.noedit_table, llm_path, warnings
        )
    high_score = tuple(name for name in llm.high_score if llm.backends[name].enabled)
    return OrchestratorConfig(
        config_dir=directory,
        backends=dict(llm.backends),
        message_backend=message_backend,
        providers=providers,
        warnings=tuple(warnings),
        telemetry=llm.telemetry,
        noedit_backend=noedit_backend,
        high_score=high_score,
    )


class _Unset(NamedTuple):
    """A provider table's unset variables: the error naming the first, and all names."""

    error: UnsetVariableError
    variables: tuple[str, ...]


#: ``{(backend, provider): its unset variables}``.
UnsetByProvider = dict[tuple[str, str], _Unset]


def _expanded_providers(
    data: dict[str, Any], environ: Mapping[str, str], file: Path
) -> tuple[dict[str, Any], UnsetByProvider]:
    """Expand provider_metadata.toml table by table: a provider whose ``${VAR}`` is unset
    is expanded with those variables empty and reported, instead of failing the file."""
    expanded: dict[str, Any] = {}
    unset: UnsetByProvider = {}
    for backend, providers in data.items():
        if not isinstance(providers, dict):
            expanded[backend] = _expanded({backend: providers}, environ, file)[backend]
            continue
        expanded[backend] = {}
        for name, table in providers.items():
            one = {backend: {name: table}}
            try:
                expanded[backend][name] = _expanded(one, environ, file)[backend][name]
            except UnsetVariableError as exc:
                names = tuple(dict.fromkeys(v for _, v in unset_references(one, environ)))
                unset[(backend, name)] = _Unset(exc, names)
                blanked = _expanded(one, {**environ, **dict.fromkeys(names, "")}, file)
                expanded[backend][name] = blanked[backend][name]
    return expanded, unset


def _mark_unusable(
    tables: ProviderTables, unset: UnsetByProvider, file: Path, warnings: list[ConfigWarning]
) -> ProviderTables:
    for (backend, name), missing in unset.items():
        reason = f"{', '.join(missing.variables)} not set"
        provider = tables[backend][name]
        tables[backend][name] = provider.model_copy(update={"unusable": reason})
        warnings.append(
            ConfigWarning(
                f"provider unusable: {reason}; it is skipped until set",
                file=file,
                table=f"{backend}.{name}",
            )
        )
    return tables


def _require_a_usable_way(
    llm: LLMConfig, providers: Mapping[str, tuple[ProviderConfig, ...]], unset: UnsetByProvider
) -> None:
    """An unset variable blocks loading only when nothing at all could run: every enabled
    backend has providers, and every one of them is unusable."""
    if not unset:
        return
    enabled = [name for name, backend in llm.backends.items() if backend.enabled]
    runnable = any(
        not providers[name] or any(p.unusable is None for p in providers[name]) for name in enabled
    )
    if not runnable:  # the first unset variable, then every other one, in one error
        first, *others = (missing.error for missing in unset.values())
        also = [*first.also]
        for error in others:
            also += [f"{error.variable} not set (table [{error.table}], key '{error.key}')"]
            also += error.also
        raise UnsetVariableError(
            first.variable, file=first.file, table=first.table, key=first.key, also=tuple(also)
        )


def _expanded(data: dict[str, Any], environ: Mapping[str, str], file: Path) -> dict[str, Any]:
    try:
        expanded: dict[str, Any] = expand_tree(data, environ)
    except ExpansionError as exc:
        # provider_metadata paths are (backend, provider, key); llm_config's are
        # (table..., key): either way the last part is the key.
        table = ".".join(exc.path[:-1]) or None
        key = exc.path[-1] if exc.path else None
        if isinstance(exc.cause, UnsetVariable):
            others = [
                f"{name} not set (table [{'.'.join(path[:-1])}], key '{path[-1]}')"
                for path, name in unset_references(data, environ)
                if (path, name) != (exc.path, exc.cause.name)
            ]
            raise UnsetVariableError(
                exc.cause.name, file=file, table=table, key=key, also=tuple(others)
            ) from None
        raise ConfigValueError(
            f"malformed reference {exc.cause.text!r}: use ${{NAME}} or ${{NAME:-default}}",
            file=file,
            table=table,
            key=key,
        ) from None
    return expanded


def _with_implicit_backends(llm: LLMConfig, file: Path, warnings: list[ConfigWarning]) -> LLMConfig:
    """Add backends that [message_backend] names by adapter name without a table.

    auto-coder provides every built-in backend implicitly, and the spec's
    complete example relies on it (``order = ["qwen", "gemini"]`` with no
    ``[backends.gemini]``). Such a backend runs in fallback mode; the user is
    told. Any other unknown name stays an error.
    """
    referenced = [
        name
        for declared in (llm.message_backend, llm.noedit_backend)
        if declared is not None
        for name in (*declared.order, *([declared.default] if declared.default else []))
    ]
    adapters = available_adapter_names()
    implicit = {
        name: BackendConfig(name=name)
        for name in referenced
        if name not in llm.backends and name in adapters
    }
    warnings.extend(
        ConfigWarning(
            f"backend '{name}' has no [backends.{name}] table; it runs with the {name} "
            "adapter's defaults and no providers",
            file=file,
            table=llm.main_table,
        )
        for name in implicit
    )
    if not implicit:
        return llm
    return llm.model_copy(update={"backends": {**llm.backends, **implicit}})


#: What a backend inherits from the backend its ``backend_type`` names, when it sets none.
INHERITED_KEYS = ("options", "options_for_noedit")


def _with_parents(llm: LLMConfig, file: Path) -> LLMConfig:
    """auto-coder's ``backend_type`` naming another backend: the child runs that backend's
    adapter and inherits its ``options`` and ``options_for_noedit`` where it sets none
    (copies, through any number of parents)."""
    resolved: dict[str, BackendConfig] = {}

    def resolve(name: str, chain: tuple[str, ...]) -> BackendConfig:
        if name in resolved:
            return resolved[name]
        backend = llm.backends[name]
        parent = backend.backend_type
        if parent is None or parent == name or parent not in llm.backends:
            resolved[name] = backend
            return backend
        if parent in chain:
            raise ConfigValueError(
                f"backend_type goes round in a loop: {' -> '.join([*chain, parent])}",
                file=file,
                table=llm.table_of(name),
                key="backend_type",
            )
        base = resolve(parent, (*chain, parent))
        update: dict[str, Any] = {"backend_type": base.adapter}
        for key in INHERITED_KEYS:
            if key not in backend.model_fields_set:
                update[key] = getattr(base, key)
        resolved[name] = backend.model_copy(update=update)
        return resolved[name]

    backends = {name: resolve(name, (name,)) for name in llm.backends}
    if all(backends[name] is llm.backends[name] for name in backends):
        return llm
    return llm.model_copy(update={"backends": backends})


def _check_adapters(llm: LLMConfig, file: Path, warnings: list[ConfigWarning]) -> LLMConfig:
    """Every backend's adapter exists; auto-coder's backends for CLIs this tool does not
    run (auggie, codex-mcp) load disabled, with a warning, rather than fail the file."""
    known = available_adapter_names()
    foreign = {
        name: backend
        for name, backend in llm.backends.items()
        if backend.adapter in FOREIGN_BACKEND_TYPES and backend.adapter not in known
    }
    warnings.extend(
        ConfigWarning(
            f"backend '{name}' runs {backend.adapter}, a CLI auto-coder supports and "
            f"provider-orchestrator does not; it is left out, of the orders too (set "
            f"backend_type to one of: {', '.join(known)} to run it)",
            file=file,
            table=llm.table_of(name),
        )
        for name, backend in foreign.items()
    )
    for name, backend in llm.backends.items():
        if name not in foreign and backend.adapter not in known:
            key = "backend_type" if backend.backend_type else None
            hint = "" if key else "; set backend_type to one of them"
            raise ConfigValueError(
                f"no adapter named '{backend.adapter}' (adapters: {', '.join(known)}){hint}",
                file=file,
                table=llm.table_of(name),
                key=key,
            )
    for name, backend in llm.backends.items():
        if name in foreign or not backend.enabled:
            continue
        check = getattr(load_adapter(backend.adapter), "option_problems", None)
        if not callable(check):
            continue
        warnings.extend(
            ConfigWarning(problem, file=file, table=llm.table_of(name), key=key)
            for key in ("options", "options_for_noedit", "options_for_resume")
            for problem in check(getattr(backend, key))
        )
    if not foreign:
        return llm
    return _without(llm, set(foreign), file)


def _without(llm: LLMConfig, names: set[str], file: Path) -> LLMConfig:
    """The config with backends ``names`` left out, of the orders too."""

    def pruned(orders: MessageBackendConfig | None) -> MessageBackendConfig | None:
        if orders is None:
            return None
        default = None if orders.default in names else orders.default
        order = tuple(name for name in orders.order if name not in names)
        return MessageBackendConfig(default=default, order=order)

    kept = {name: backend for name, backend in llm.backends.items() if name not in names}
    if not kept:
        raise ConfigValueError(
            "no backend this tool can run: every one is for a CLI it does not support",
            file=file,
            table="backends",
        )
    main = pruned(llm.message_backend)
    assert main is not None
    return llm.model_copy(
        update={
            "backends": kept,
            "message_backend": main,
            "noedit_backend": pruned(llm.noedit_backend),
            "high_score": tuple(name for name in llm.high_score if name not in names),
        }
    )


def _providers_in_rotation_order(
    llm: LLMConfig,
    tables: ProviderTables,
    llm_path: Path,
    metadata_path: Path,
    warnings: list[ConfigWarning],
) -> dict[str, tuple[ProviderConfig, ...]]:
    """Order each backend's providers by its ``providers`` list, checking names."""
    ordered: dict[str, tuple[ProviderConfig, ...]] = {}
    for name, backend in llm.backends.items():
        defined = tables.get(name, {})
        missing = [provider for provider in backend.providers if provider not in defined]
        if missing:
            listed = ", ".join(sorted(defined)) or f"none (no [{name}.<provider>] tables)"
            raise UnknownProviderError(
                f"provider '{missing[0]}' is not defined in {metadata_path} "
                f"(defined for '{name}': {listed})",
                file=llm_path,
                table=f"backends.{name}",
                key="providers",
            )
        ordered[name] = tuple(defined[provider] for provider in backend.providers)
        in_rotation = set(backend.providers)
        warnings.extend(
            ConfigWarning(
                f"provider '{provider}' is defined but not listed in "
                f"[backends.{name}].providers, so it is never used",
                file=metadata_path,
                table=f"{name}.{provider}",
            )
            for provider in defined
            if provider not in in_rotation
        )
    warnings.extend(
        ConfigWarning(
            f"providers are defined for backend '{backend}', which {LLM_CONFIG_FILE} does "
            "not configure",
            file=metadata_path,
            table=backend,
        )
        for backend in tables
        if backend not in llm.backends
    )
    return ordered


def _resolve_message_backend(
    llm: LLMConfig,
    declared: MessageBackendConfig,
    table: str,
    file: Path,
    warnings: list[ConfigWarning],
) -> MessageBackendConfig:
    """Fill in ``default`` and ``order`` of ``[table]`` and check that both name real
    backends.

    Without ``order``, fallback goes through every enabled backend in file order
    (high-score backends, kept for hard jobs, left out), the default first. Without
    ``default``, it is the first of ``order``.
    """
    for position, name in enumerate(declared.order):
        if name not in llm.backends:
            raise _unknown_backend_in(file, table, "order", name, llm, position)
    if declared.default is not None and declared.default not in llm.backends:
        raise _unknown_backend_in(file, table, "default", declared.default, llm, None)
    enabled = [
        name
        for name, backend in llm.backends.items()
        if backend.enabled and name not in llm.high_score
    ] or [name for name, backend in llm.backends.items() if backend.enabled]
    if not enabled:
        raise ConfigValueError("every backend is disabled", file=file, table="backends")
    warnings.extend(
        ConfigWarning(
            f"backend '{name}' is disabled and is skipped in the fallback order",
            file=file,
            table=table,
            key="order",
        )
        for name in declared.order
        if not llm.backends[name].enabled
    )
    order = [name for name in declared.order if llm.backends[name].enabled] or enabled
    default = declared.default or order[0]
    if not llm.backends[default].enabled:
        raise ConfigValueError(
            f"default backend '{default}' is disabled",
            file=file,
            table=table,
            key="default",
        )
    if default not in order:
        order = [default, *order]
    elif not declared.order:
        order = [default, *(name for name in order if name != default)]
    return MessageBackendConfig(default=default, order=tuple(order))


def _unknown_backend_in(
    file: Path, table: str, key: str, name: str, llm: LLMConfig, position: int | None
) -> ConfigError:
    item = f" (item {position + 1})" if position is not None else ""
    return ConfigValueError(
        f"unknown backend '{name}'{item}; configured backends: {', '.join(llm.backends)}",
        file=file,
        table=table,
        key=key,
    )


#: Lowercase keys of a provider table that mean something here.
PROVIDER_KEYS = (
    "command",
    "args",
    "description",
    "max_concurrency",
    "prompt_via",
    "sentinel",
    "sentinel_env",
    "keyholder",
    "key_pool",
    "sentinel_key_env",
    "secrets",
)


def _empty_credentials(tables: ProviderTables, file: Path) -> list[ConfigWarning]:
    """An empty key (often ``${VAR}`` set to nothing) passes loading but fails every
    request: say so before a job finds out (unusable providers are reported already)."""
    return [
        ConfigWarning(
            "credential setting is empty (is its ${VAR} set to nothing?): the CLI gets an "
            "empty key",
            file=file,
            table=f"{backend}.{name}",
            key=key,
        )
        for backend, providers in tables.items()
        for name, provider in providers.items()
        if provider.unusable is None
        for key, value in provider.env.items()
        if value == "" and provider.is_secret(key)
    ]


def _misspelled_options(tables: ProviderTables, file: Path) -> list[ConfigWarning]:
    """A lowercase key close to a known one (``sentinal``) is kept as an option, which
    does nothing: say so, with the key it probably meant."""
    found = []
    for backend, providers in tables.items():
        for name, provider in providers.items():
            for key in provider.options:
                if key in PROVIDER_KEYS:
                    continue
                close = difflib.get_close_matches(key, PROVIDER_KEYS, n=1, cutoff=0.75)
                if close:
                    found.append(
                        ConfigWarning(
                            f"unknown key; did you mean '{close[0]}'? (kept as a provider "
                            "option, it changes nothing)",
                            file=file,
                            table=f"{backend}.{name}",
                            key=key,
                        )
                    )
    return found


def _permission_warnings(path: Path) -> list[ConfigWarning]:
    """Warn, as ssh does for keys, when a file holding secrets is readable by others."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return []
    if not mode & 0o077:
        return []
    return [
        ConfigWarning(
            f"{path.name} holds secrets but is readable by group or others (mode {mode:04o}); "
            f"run: chmod 600 {path}",
            file=path,
        )
    ]
