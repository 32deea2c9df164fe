"""Adapters are found by name, never imported by the core directly.

Like anyio's backends: the built-in adapters are the public modules of the
top-level ``adapters`` package, and other packages can add theirs under the
``provider_orchestrator.adapters`` entry-point group. Listing names imports no
adapter module, so loading config stays cheap.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from importlib import metadata
from typing import TYPE_CHECKING

from ._adapter import Adapter

if TYPE_CHECKING:
    from ._config import OrchestratorConfig

ENTRY_POINT_GROUP = "provider_orchestrator.adapters"


@functools.cache
def available_adapter_names() -> tuple[str, ...]:
    """Every adapter name that can be used as a ``backend_type``, sorted."""
    import adapters  # the package only; its __init__ imports no adapter

    builtin = {
        module.name
        for module in pkgutil.iter_modules(adapters.__path__)
        if not module.name.startswith("_")
    }
    plugins = {entry.name for entry in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    return tuple(sorted(builtin | plugins))


def load_adapter(name: str) -> Adapter:
    """The adapter object called ``name``: ``adapters.<name>.ADAPTER`` or an entry point.

    Raises:
        LookupError: no adapter has that name.
    """
    if name not in available_adapter_names():
        raise LookupError(f"no adapter named {name!r} (adapters: {available_adapter_names()})")
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP, name=name):
        loaded: Adapter = entry.load()
        return loaded
    module = importlib.import_module(f"adapters.{name}")
    adapter: Adapter = module.ADAPTER
    return adapter


def adapters_for(config: OrchestratorConfig) -> dict[str, Adapter]:
    """``{backend: its adapter}`` for every backend of ``config``."""
    return {name: load_adapter(backend.adapter) for name, backend in config.backends.items()}
