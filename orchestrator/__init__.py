"""provider-orchestrator: run coding-agent CLIs across providers, rotating on usage limits.

Dependency direction: ``orchestrator`` (this package) knows nothing of
``adapters``; adapters import the public names below; the core finds adapters
by name through ``orchestrator._registry``. Private modules hold the code; this
module only re-exports what users import.
"""

from ._backend_manager import (
    BackendManager,
    get_llm_backend_manager,
    reset_llm_backend_manager,
)
from ._config import (
    CONFIG_DIR_VARIABLE,
    LLM_CONFIG_FILE,
    PROVIDER_METADATA_FILE,
    OrchestratorConfig,
    default_config_dir,
    load_config,
)
from ._diagnostics import ConfigWarning
from ._environment import child_environment
from ._errors import (
    ConfigError,
    ConfigFileNotFoundError,
    ConfigSyntaxError,
    ConfigValueError,
    MigrationError,
    NoProvidersError,
    OrchestratorError,
    UnknownBackendError,
    UnknownProviderError,
    UnsetVariableError,
    UsageError,
)
from ._llm_config import BackendConfig, MessageBackendConfig
from ._migrate import MigrationResult, migrate
from ._provider_manager import ProviderManager
from ._provider_metadata import ProviderConfig
from ._registry import available_adapter_names
from ._rotation import ProviderRotation, WaitUntil

__all__ = [
    "CONFIG_DIR_VARIABLE",
    "LLM_CONFIG_FILE",
    "PROVIDER_METADATA_FILE",
    "BackendConfig",
    "BackendManager",
    "ConfigError",
    "ConfigFileNotFoundError",
    "ConfigSyntaxError",
    "ConfigValueError",
    "ConfigWarning",
    "MessageBackendConfig",
    "MigrationError",
    "MigrationResult",
    "NoProvidersError",
    "OrchestratorConfig",
    "OrchestratorError",
    "ProviderConfig",
    "ProviderManager",
    "ProviderRotation",
    "UnknownBackendError",
    "UnknownProviderError",
    "UnsetVariableError",
    "UsageError",
    "WaitUntil",
    "available_adapter_names",
    "child_environment",
    "default_config_dir",
    "get_llm_backend_manager",
    "load_config",
    "migrate",
    "reset_llm_backend_manager",
]
