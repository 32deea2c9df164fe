"""provider-orchestrator: run coding-agent CLIs across providers, rotating on usage limits.

Dependency direction: ``orchestrator`` (this package) knows nothing of
``adapters``; adapters import the public names below; the core finds adapters
by name through ``orchestrator._registry``. Private modules hold the code; this
module only re-exports what users import.
"""

from ._adapter import (
    Adapter,
    AttemptRequest,
    Classification,
    Invocation,
    LiveScanner,
    ProcessOutput,
    Stream,
    WatchedLog,
)
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
from ._descendants import become_subreaper
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
from ._events import (
    EVENT_ADAPTER,
    AttemptFinished,
    AttemptStarted,
    BackendFellBack,
    Event,
    EventBus,
    JobFailed,
    JobQueued,
    JobSucceeded,
    JobWaiting,
    ProviderCooledDown,
    ProviderHeadroom,
    ProviderRecovered,
    ProviderRotated,
    ProviderSuspended,
    Subscription,
)
from ._job import Attempt, AttemptOutcome, Job, JobMode, JobResult, TokenUsage
from ._llm_config import BackendConfig, MessageBackendConfig, TelemetryConfig
from ._migrate import MigrationResult, migrate
from ._orchestrator import JobHandle, Orchestrator
from ._otel_sink import OpenTelemetrySink
from ._prometheus_sink import PrometheusSink
from ._provider_manager import ProviderManager
from ._provider_metadata import ProviderConfig
from ._registry import available_adapter_names, load_adapter
from ._rotation import ProviderRotation, WaitUntil
from ._sinks import JsonlFileSink, Sink, StructlogSink
from ._status import BackendStatus, OrchestratorStatus, ProviderStatus
from ._supervisor import SupervisorSettings
from .limits import Headroom, find_marker, parse_reset_time, parse_retry_after

__all__ = [
    "CONFIG_DIR_VARIABLE",
    "EVENT_ADAPTER",
    "LLM_CONFIG_FILE",
    "PROVIDER_METADATA_FILE",
    "Adapter",
    "Attempt",
    "AttemptFinished",
    "AttemptOutcome",
    "AttemptRequest",
    "AttemptStarted",
    "BackendConfig",
    "BackendFellBack",
    "BackendManager",
    "BackendStatus",
    "Classification",
    "ConfigError",
    "ConfigFileNotFoundError",
    "ConfigSyntaxError",
    "ConfigValueError",
    "ConfigWarning",
    "Event",
    "EventBus",
    "Headroom",
    "Invocation",
    "Job",
    "JobFailed",
    "JobHandle",
    "JobMode",
    "JobQueued",
    "JobResult",
    "JobSucceeded",
    "JobWaiting",
    "JsonlFileSink",
    "LiveScanner",
    "MessageBackendConfig",
    "MigrationError",
    "MigrationResult",
    "NoProvidersError",
    "OpenTelemetrySink",
    "Orchestrator",
    "OrchestratorConfig",
    "OrchestratorError",
    "OrchestratorStatus",
    "ProcessOutput",
    "PrometheusSink",
    "ProviderConfig",
    "ProviderCooledDown",
    "ProviderHeadroom",
    "ProviderManager",
    "ProviderRecovered",
    "ProviderRotated",
    "ProviderRotation",
    "ProviderStatus",
    "ProviderSuspended",
    "Sink",
    "Stream",
    "StructlogSink",
    "Subscription",
    "SupervisorSettings",
    "TelemetryConfig",
    "TokenUsage",
    "UnknownBackendError",
    "UnknownProviderError",
    "UnsetVariableError",
    "UsageError",
    "WaitUntil",
    "WatchedLog",
    "available_adapter_names",
    "become_subreaper",
    "child_environment",
    "default_config_dir",
    "find_marker",
    "get_llm_backend_manager",
    "load_adapter",
    "load_config",
    "migrate",
    "parse_reset_time",
    "parse_retry_after",
    "reset_llm_backend_manager",
]
