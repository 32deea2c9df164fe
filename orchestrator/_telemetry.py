"""The telemetry sinks a worker starts, from ``[telemetry]`` or its flags."""

from __future__ import annotations

from ._errors import UsageError
from ._llm_config import TelemetryConfig
from ._sinks import Sink


def telemetry_sinks(settings: TelemetryConfig) -> list[Sink]:
    """The Prometheus and OpenTelemetry sinks ``settings`` ask for, started.

    Raises:
        UsageError: an extra is not installed, or the metrics port is taken.
    """
    sinks: list[Sink] = []
    if settings.prometheus_port is not None:
        try:
            from ._prometheus_sink import PrometheusSink

            where = f"{settings.prometheus_host}:{settings.prometheus_port}"
            sinks.append(PrometheusSink(settings.prometheus_port, settings.prometheus_host))
        except ImportError:
            raise UsageError(
                "Error: Prometheus metrics need prometheus-client: "
                "pip install 'provider-orchestrator[prometheus]'"
            ) from None
        except OSError as exc:
            raise UsageError(f"Error: cannot serve /metrics on {where}: {exc.strerror}") from None
    if settings.opentelemetry:
        try:
            from ._otel_sink import OpenTelemetrySink

            sinks.append(OpenTelemetrySink())
        except ImportError:
            raise UsageError(
                "Error: OpenTelemetry needs opentelemetry-api: "
                "pip install 'provider-orchestrator[otel]'"
            ) from None
    return sinks
