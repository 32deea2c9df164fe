"""Property tests: whatever TOML-shaped data the files hold, the loader loads or says why."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator import ConfigError, load_config

scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["${X}", "${X:-d}", "${", "$${X}", "qwen", "a", "b"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
backend_keys = st.sampled_from(
    [
        "enabled",
        "model",
        "providers",
        "backend_type",
        "options",
        "options_for_noedit",
        "usage_markers",
        "usage_limit_retry_count",
        "usage_limit_retry_wait_seconds",
        "always_switch_after_execution",
        "api_key",
        "temperature",
        "name",
        "other",
    ]
)
names = st.sampled_from(["qwen", "gemini", "claude", "codex", "generic", "x", "a", "b"])
backend_tables = st.dictionaries(backend_keys, values | st.lists(names, max_size=3), max_size=6)
llm_configs = st.fixed_dictionaries(
    {"backends": st.dictionaries(names, backend_tables, max_size=3)},
    optional={
        "message_backend": st.dictionaries(
            st.sampled_from(["default", "order", "extra"]), names | st.lists(names, max_size=3)
        ),
        "backend": st.dictionaries(st.sampled_from(["default", "order"]), names),
        "unknown": values,
    },
)
provider_keys = st.sampled_from(
    ["command", "args", "description", "API_KEY", "BASE_URL", "base_url", "Mixed", "9BAD"]
)
provider_tables = st.dictionaries(provider_keys, values, max_size=5)
metadata_files = st.dictionaries(
    names, st.dictionaries(names, provider_tables, max_size=3) | scalars, max_size=3
)


def write_and_load(llm: dict[str, Any], metadata: dict[str, Any] | None) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "llm_config.toml").write_text(tomli_w.dumps(llm))
        if metadata is not None:
            (root / "provider_metadata.toml").write_text(tomli_w.dumps(metadata))
        try:
            load_config(root, environ={"X": "x"})
        except ConfigError as exc:
            message = str(exc)
        else:
            return
        assert message.startswith("Error: ")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(llm=llm_configs, metadata=st.none() | metadata_files)
def test_loader_loads_or_raises_config_error(
    llm: dict[str, Any], metadata: dict[str, Any] | None
) -> None:
    """Random TOML-shaped config either loads or raises the project's ConfigError, nothing else."""
    write_and_load(llm, metadata)


@settings(max_examples=150)
@given(st.binary(max_size=200))
def test_random_bytes_are_a_config_error(data: bytes) -> None:
    """Arbitrary bytes in llm_config.toml end in a ConfigError, never a crash."""
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "llm_config.toml").write_bytes(data)
        with contextlib.suppress(ConfigError):
            load_config(root, environ={})
