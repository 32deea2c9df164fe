"""Loading both config files: the spec's example, strictness, and every error."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from orchestrator import (
    CONFIG_DIR_VARIABLE,
    ConfigError,
    ConfigFileNotFoundError,
    ConfigSyntaxError,
    ConfigValueError,
    UnknownBackendError,
    UnknownProviderError,
    UnsetVariableError,
    default_config_dir,
    load_config,
)

from .conftest import SPEC_EXAMPLE_DIR, WriteConfig

QWEN = """
[backends.qwen]
model = "qwen3-coder-plus"
providers = ["b", "a"]
"""
PROVIDERS_AB = """
[qwen.a]
command = "run-a"
A_KEY = "alpha"

[qwen.b]
B_KEY = "beta"
"""


def messages(config_dir: Path, **environ: str) -> list[str]:
    return [str(w) for w in load_config(config_dir, environ=environ).warnings]


def test_spec_example_loads_in_rotation_order(spec_environ: dict[str, str]) -> None:
    """The spec's complete example loads and lists qwen's providers open-router, azure, direct."""
    config = load_config(SPEC_EXAMPLE_DIR, environ=spec_environ)
    names = [p.name for p in config.providers_for("qwen")]
    assert names == ["qwen-open-router", "qwen-azure", "qwen-direct"]
    azure = config.providers_for("qwen")[1]
    assert azure.env == {
        "AZURE_ENDPOINT": "https://test.openai.azure.com",
        "AZURE_API_VERSION": "2024-02-15-preview",
        "AZURE_API_KEY": "test-azure-key",
    }
    assert (azure.command, azure.args) == ("uvx", ("qwen-azure-proxy",))
    assert config.message_backend.default == "qwen"
    assert config.message_backend.order == ("qwen", "gemini")


def test_spec_example_gemini_is_implicit_with_warning(spec_environ: dict[str, str]) -> None:
    """A backend named in [message_backend] by adapter name alone runs in fallback mode."""
    config = load_config(SPEC_EXAMPLE_DIR, environ=spec_environ)
    assert config.providers_for("gemini") == ()
    assert config.backend("gemini").adapter == "gemini"
    assert any("'gemini' has no [backends.gemini] table" in str(w) for w in config.warnings)


def test_rotation_order_is_the_providers_list_not_file_order(write_config: WriteConfig) -> None:
    """Providers come in llm_config's `providers` order even when the metadata file differs."""
    config = load_config(write_config(QWEN, PROVIDERS_AB), environ={})
    assert [p.name for p in config.providers_for("qwen")] == ["b", "a"]


def test_unknown_provider_lists_defined_names(write_config: WriteConfig) -> None:
    """A listed provider that provider_metadata.toml lacks is an error naming the defined ones."""
    directory = write_config(QWEN.replace('"a"', '"nope"'), PROVIDERS_AB)
    with pytest.raises(UnknownProviderError) as caught:
        load_config(directory, environ={})
    text = str(caught.value)
    assert "provider 'nope' is not defined" in text
    assert "a, b" in text
    assert caught.value.table == "backends.qwen"
    assert caught.value.key == "providers"
    assert caught.value.exit_code == 2


def test_defined_but_unlisted_provider_warns(write_config: WriteConfig) -> None:
    """A provider defined but not listed is a warning, not silence."""
    directory = write_config(QWEN.replace(', "a"', ""), PROVIDERS_AB)
    assert any("provider 'a' is defined but not listed" in m for m in messages(directory))


def test_providers_for_unconfigured_backend_warn(write_config: WriteConfig) -> None:
    """Metadata tables for a backend llm_config.toml lacks are reported."""
    directory = write_config(QWEN, PROVIDERS_AB + '\n[claude.x]\nK = "v"\n')
    assert any("backend 'claude', which llm_config.toml does not" in m for m in messages(directory))


def test_missing_llm_config_is_an_error(tmp_path: Path) -> None:
    """Without llm_config.toml there is nothing to run: an error naming the file, and how
    to point at the right directory."""
    with pytest.raises(ConfigFileNotFoundError, match=r"llm_config.toml not found") as caught:
        load_config(tmp_path, environ={})
    assert "--config-dir (or $ORCHESTRATOR_CONFIG_DIR)" in str(caught.value)
    assert "examples/spec/" in str(caught.value)


def test_missing_provider_metadata_warns_in_spec_words(write_config: WriteConfig) -> None:
    """The spec's `Warning: provider_metadata.toml not found`, and fallback mode still works."""
    directory = write_config('[backends.qwen]\nmodel = "m"\n', metadata=None)
    config = load_config(directory, environ={})
    assert any(
        str(w).startswith("Warning: provider_metadata.toml not found") for w in config.warnings
    )
    assert config.providers_for("qwen") == ()


def test_missing_provider_metadata_with_listed_providers_is_an_error(
    write_config: WriteConfig,
) -> None:
    """Providers listed with no metadata file at all cannot be silently dropped."""
    directory = write_config(QWEN, metadata=None)
    with pytest.raises(UnknownProviderError, match=re.escape("none (no [qwen.<provider>] tables)")):
        load_config(directory, environ={})


def test_malformed_toml_points_at_line(write_config: WriteConfig) -> None:
    """A TOML syntax error names the file and the line."""
    directory = write_config('[backends.qwen]\nmodel = "m"\nproviders = [\n', "")
    with pytest.raises(ConfigSyntaxError) as caught:
        load_config(directory, environ={})
    assert caught.value.line is not None
    assert caught.value.file == directory / "llm_config.toml"
    assert f"llm_config.toml:{caught.value.line}" in str(caught.value)


def test_malformed_metadata_is_an_error_not_an_empty_config(write_config: WriteConfig) -> None:
    """A broken provider_metadata.toml is never read as 'no providers'."""
    directory = write_config('[backends.qwen]\nmodel = "m"\n', "[qwen.a\ncommand = 1\n")
    with pytest.raises(ConfigSyntaxError, match=r"provider_metadata.toml:1"):
        load_config(directory, environ={})


@pytest.mark.parametrize(
    ("line", "key", "fragment"),
    [
        ('enabled = "yes"', "enabled", "valid boolean"),
        ('providers = "a"', "providers", "valid tuple"),
        ("options = [1]", "options", "valid string (item 1)"),
        ("usage_limit_retry_count = -1", "usage_limit_retry_count", "greater than or equal"),
        ("usage_limit_retry_wait_seconds = true", "usage_limit_retry_wait_seconds", "valid number"),
        ("model = 3", "model", "valid string"),
        ("colour = 'red'", "colour", "unknown key 'colour'"),
        ("name = 'x'", "name", "unknown key 'name'"),
    ],
)
def test_wrong_types_name_table_and_key(
    write_config: WriteConfig, line: str, key: str, fragment: str
) -> None:
    """Each wrong type or unknown key is an error naming [backends.qwen] and the key."""
    directory = write_config(f"[backends.qwen]\n{line}\n")
    with pytest.raises(ConfigValueError) as caught:
        load_config(directory, environ={})
    assert caught.value.table == "backends.qwen"
    assert caught.value.key == key
    assert fragment in str(caught.value)


def test_wrong_type_never_quotes_the_value(write_config: WriteConfig) -> None:
    """Validation messages describe the type, never the value, which may be a secret."""
    directory = write_config(QWEN, PROVIDERS_AB.replace('"alpha"', '["sk-secret-value"]'))
    with pytest.raises(ConfigValueError) as caught:
        load_config(directory, environ={})
    assert "sk-secret-value" not in str(caught.value)
    assert (caught.value.table, caught.value.key) == ("qwen.a", "A_KEY")


def test_auto_coder_keys_are_accepted_with_warning(write_config: WriteConfig) -> None:
    """auto-coder's unused backend keys load, each with a warning naming it."""
    directory = write_config('[backends.qwen]\ntemperature = 0.2\noptions_for_resume = ["-r"]\n')
    found = messages(directory)
    assert any("key 'temperature'" in m for m in found)
    # Used now: a resumed attempt's options (issue 16).
    assert not any("key 'options_for_resume'" in m for m in found)


def test_an_unknown_top_level_table_is_still_an_error(write_config: WriteConfig) -> None:
    """A top-level table with no backend keys is a typo, not a backend."""
    directory = write_config("[backends.qwen]\n[telemetri]\nprometheus_port = 1\n")
    with pytest.raises(ConfigValueError, match=r"unknown table or key 'telemetri'"):
        load_config(directory, environ={})


def test_a_top_level_backend_table_is_auto_coders_older_layout(
    write_config: WriteConfig,
) -> None:
    """[qwen-openrouter] with backend keys is [backends.qwen-openrouter], with a warning; an
    adapter it cannot have is named with the table it was written in."""
    directory = write_config(
        '[backends.qwen]\n[qwen-openrouter]\nbackend_type = "qwen"\nmodel = "q"\n'
        '[qwen]\nmodel = "ignored"\n'
    )
    config = load_config(directory, environ={})
    assert config.backend("qwen-openrouter").model == "q"
    assert config.backend("qwen").model is None  # [backends.qwen] wins
    texts = [str(w) for w in config.warnings]
    assert any("top-level [qwen-openrouter] is auto-coder's older layout" in t for t in texts)
    assert any("top-level [qwen] is ignored: [backends.qwen] defines" in t for t in texts)
    directory = write_config('[backends.qwen]\n[grok]\nmodel = "x"\n')
    with pytest.raises(ConfigValueError, match=r"no adapter named 'grok'.*table \[grok\]"):
        load_config(directory, environ={})


def test_backend_alone_is_the_main_order(write_config: WriteConfig) -> None:
    """auto-coder's [backend] is the main order: no deprecation, every job follows it."""
    directory = write_config('[backends.qwen]\n[backends.claude]\n[backend]\ndefault = "claude"\n')
    config = load_config(directory, environ={})
    assert config.message_backend.default == "claude"
    assert config.order_for(noedit=True) == config.message_backend
    assert not any("[backend]" in str(w) for w in config.warnings)


def test_backend_beside_message_backend_orders_edit_jobs_with_a_warning(
    write_config: WriteConfig,
) -> None:
    """Both present: [backend] orders edit jobs, [message_backend] (auto-coder's older
    name of [backend_for_noedit]) noedit jobs; a warning names the table."""
    directory = write_config(
        "[backends.qwen]\n[backends.claude]\n[backends.gemini]\n"
        '[backend]\ndefault = "qwen"\norder = ["qwen", "gemini"]\n'
        '[message_backend]\ndefault = "claude"\norder = ["claude", "qwen"]\n'
    )
    config = load_config(directory, environ={})
    assert config.order_for(noedit=False).order == ("qwen", "gemini")
    assert config.order_for(noedit=True).order == ("claude", "qwen")
    (warning,) = [w for w in config.warnings if w.table == "message_backend"]
    assert "orders noedit jobs only" in str(warning)


def test_backend_for_noedit_wins_over_message_backend(write_config: WriteConfig) -> None:
    directory = write_config(
        "[backends.qwen]\n[backends.claude]\n"
        '[backend]\norder = ["qwen"]\n[message_backend]\norder = ["qwen"]\n'
        '[backend_for_noedit]\norder = ["claude"]\n'
    )
    config = load_config(directory, environ={})
    assert config.order_for(noedit=True).order == ("claude",)
    assert any("[message_backend] is ignored" in str(w) for w in config.warnings)
    spec_only = write_config('[backends.qwen]\n[message_backend]\norder = ["qwen"]\n')
    assert load_config(spec_only, environ={}).noedit_backend is None  # as it always was


def test_high_score_tables_define_the_backends_hard_jobs_start_on(
    write_config: WriteConfig,
) -> None:
    directory = write_config(
        "[backends.qwen]\n[backends.claude]\n"
        '[backend_with_high_score]\nname = "gemini-fallback"\nbackend_type = "gemini"\n'
        'model = "gemini-2.5-flash"\ntemperature = 0.2\n'
        '[backend_with_high_score_cloud]\nname = "claude"\n'
    )
    config = load_config(directory, environ={})
    assert config.high_score == ("gemini-fallback", "claude")
    assert config.backend("gemini-fallback").adapter == "gemini"
    assert "gemini-fallback" not in config.message_backend.order  # hard jobs only
    (ignored,) = [w for w in config.warnings if w.key == "temperature"]
    assert ignored.table == "backend_with_high_score"
    clash = write_config('[backends.qwen]\n[backend_with_high_score]\nname = "qwen"\nmodel = "m"\n')
    with pytest.raises(ConfigValueError, match="'qwen' is already a backend"):
        load_config(clash, environ={})


def test_backends_for_clis_this_tool_does_not_run_are_left_out(
    write_config: WriteConfig,
) -> None:
    directory = write_config(
        '[backends.qwen]\n[backends.auggie]\nmodel = "GPT-5"\n[backends.codex-mcp]\n'
        '[backend]\norder = ["qwen", "auggie", "codex-mcp"]\n'
    )
    config = load_config(directory, environ={})
    assert config.message_backend.order == ("qwen",)
    assert list(config.backends) == ["qwen"]
    assert any("runs auggie, a CLI auto-coder supports" in str(w) for w in config.warnings)


def test_message_backend_defaults(write_config: WriteConfig) -> None:
    """Without [message_backend]: first enabled backend is default; all fall back in order."""
    directory = write_config(
        "[backends.claude]\nenabled = false\n[backends.qwen]\n[backends.codex]\n"
    )
    config = load_config(directory, environ={})
    assert config.message_backend.default == "qwen"
    assert config.message_backend.order == ("qwen", "codex")


def test_default_goes_first_when_order_is_unset(write_config: WriteConfig) -> None:
    """A default named without an order leads the fallback order."""
    directory = write_config(
        '[backends.qwen]\n[backends.codex]\n[message_backend]\ndefault = "codex"\n'
    )
    assert load_config(directory, environ={}).message_backend.order == ("codex", "qwen")


def test_disabled_backend_in_order_is_skipped_with_warning(write_config: WriteConfig) -> None:
    """A disabled backend in the order is skipped, and the user is told."""
    directory = write_config(
        "[backends.qwen]\n[backends.codex]\nenabled = false\n"
        '[message_backend]\norder = ["codex", "qwen"]\n'
    )
    config = load_config(directory, environ={})
    assert config.message_backend.order == ("qwen",)
    assert any("'codex' is disabled" in str(w) for w in config.warnings)


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ('default = "nope"', "unknown backend 'nope'"),
        ('order = ["qwen", "nope"]', "unknown backend 'nope' (item 2)"),
        ('default = "off"', "default backend 'off' is disabled"),
    ],
)
def test_message_backend_errors(write_config: WriteConfig, table: str, fragment: str) -> None:
    """[message_backend] must name configured, enabled backends."""
    directory = write_config(
        f"[backends.qwen]\n[backends.off]\nbackend_type = 'qwen'\nenabled = false\n"
        f"[message_backend]\n{table}\n"
    )
    with pytest.raises(ConfigValueError, match=re.escape(fragment)):
        load_config(directory, environ={})


def test_every_backend_disabled_is_an_error(write_config: WriteConfig) -> None:
    """A config where nothing can run is refused up front."""
    with pytest.raises(ConfigValueError, match="every backend is disabled"):
        load_config(write_config("[backends.qwen]\nenabled = false\n"), environ={})


def test_no_backends_is_an_error(write_config: WriteConfig) -> None:
    """An llm_config.toml without backends is an error, never an empty config."""
    with pytest.raises(ConfigValueError, match="no backends configured"):
        load_config(write_config("# nothing\n"), environ={})


def test_backend_type_selects_adapter(write_config: WriteConfig) -> None:
    """A backend with any name runs through the adapter its backend_type names."""
    directory = write_config("[backends.qwen-fast]\nbackend_type = 'qwen'\n")
    assert load_config(directory, environ={}).backend("qwen-fast").adapter == "qwen"


def test_unknown_adapter_is_an_error(write_config: WriteConfig) -> None:
    """A backend whose name or backend_type names no adapter is refused with the known ones."""
    with pytest.raises(ConfigValueError, match=r"no adapter named 'mystery'.*set backend_type"):
        load_config(write_config("[backends.mystery]\n"), environ={})
    with pytest.raises(ConfigValueError, match="no adapter named 'nope'") as caught:
        load_config(write_config("[backends.x]\nbackend_type = 'nope'\n"), environ={})
    assert caught.value.key == "backend_type"


def test_variables_expand_with_defaults(write_config: WriteConfig) -> None:
    """${VAR} and ${VAR:-default} expand from the given environment; $${ stays literal."""
    directory = write_config(
        '[backends.qwen]\nmodel = "${MODEL:-qwen3-coder-plus}"\nproviders = ["a"]\n',
        '[qwen.a]\ncommand = "${BIN}"\nargs = ["--url=${URL:-http://x}", "$${LIT}"]\n'
        'KEY = "${SECRET}"\n',
    )
    config = load_config(directory, environ={"BIN": "/bin/tool", "SECRET": "s3cret"})
    provider = config.providers_for("qwen")[0]
    assert config.backend("qwen").model == "qwen3-coder-plus"
    assert provider.command == "/bin/tool"
    assert provider.args == ("--url=http://x", "${LIT}")
    assert provider.env == {"KEY": "s3cret"}


def test_unset_variable_in_spec_words(write_config: WriteConfig) -> None:
    """An unset ${VAR} without default says `Error: AZURE_ENDPOINT not set` plus where."""
    directory = write_config(
        '[backends.qwen]\nproviders = ["qwen-azure"]\n',
        '[qwen.qwen-azure]\nAZURE_ENDPOINT = "${AZURE_ENDPOINT}"\n',
    )
    with pytest.raises(UnsetVariableError) as caught:
        load_config(directory, environ={})
    text = str(caught.value)
    assert text.startswith("Error: AZURE_ENDPOINT not set (")
    assert "provider_metadata.toml" in text
    assert "[qwen.qwen-azure]" in text
    assert caught.value.variable == "AZURE_ENDPOINT"


def test_malformed_reference_is_an_error(write_config: WriteConfig) -> None:
    """`${` that is not a reference is an error, not text passed through."""
    directory = write_config('[backends.qwen]\nmodel = "${bad name}"\n')
    with pytest.raises(ConfigValueError, match="malformed reference") as caught:
        load_config(directory, environ={})
    assert (caught.value.table, caught.value.key) == ("backends.qwen", "model")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("true", "must be a string, got bool"),
        ("[1]", "must be a string, got list"),
        ('"a\\u0000b"', "NUL"),
    ],
)
def test_environment_setting_values(write_config: WriteConfig, value: str, fragment: str) -> None:
    """Env settings must be text a process environment can hold."""
    directory = write_config(QWEN, f"[qwen.a]\nK = {value}\n[qwen.b]\n")
    with pytest.raises(ConfigValueError, match=re.escape(fragment)):
        load_config(directory, environ={})


def test_numeric_environment_values_become_text(write_config: WriteConfig) -> None:
    """`PORT = 8080` exports "8080"."""
    config = load_config(write_config(QWEN, "[qwen.a]\nPORT = 8080\n[qwen.b]\n"), environ={})
    assert config.providers_for("qwen")[1].env == {"PORT": "8080"}


def test_lowercase_keys_are_kept_as_options(write_config: WriteConfig) -> None:
    """The spec's migration example keys (base_url, model) are kept, not dropped."""
    directory = write_config(
        '[backends.qwen]\nproviders = ["modelstudio"]\n',
        '[qwen.modelstudio]\ncommand = "qwen"\nbase_url = "https://ms"\nmodel = "qwen-max"\n',
    )
    provider = load_config(directory, environ={}).providers_for("qwen")[0]
    assert provider.options == {"base_url": "https://ms", "model": "qwen-max"}


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ('MixedCase = "x"', "must be UPPERCASE"),
        ('args = ["x"]', "'args' needs 'command'"),
        ('command = ""', "at least 1 character"),
        ("command = 5", "valid string"),
        ("description = []", "valid string"),
    ],
)
def test_provider_table_errors(write_config: WriteConfig, table: str, fragment: str) -> None:
    """Every malformed provider key is an error naming [qwen.a]."""
    directory = write_config(QWEN, f"[qwen.a]\n{table}\n[qwen.b]\n")
    with pytest.raises(ConfigValueError, match=re.escape(fragment)) as caught:
        load_config(directory, environ={})
    assert caught.value.table == "qwen.a"


def test_non_table_entries_in_metadata_are_errors(write_config: WriteConfig) -> None:
    """A value where a backend or provider table belongs is an error."""
    with pytest.raises(ConfigValueError, match="table of providers"):
        load_config(write_config(QWEN, 'qwen = "x"\n'), environ={})
    with pytest.raises(ConfigValueError, match="must be a provider table"):
        load_config(write_config(QWEN, '[qwen]\na = "x"\n'), environ={})


def test_group_readable_secret_file_warns(write_config: WriteConfig) -> None:
    """Like ssh, a provider file holding secrets and readable by others gets a chmod warning."""
    directory = write_config(QWEN, PROVIDERS_AB)
    assert not any("chmod 600" in m for m in messages(directory))
    (directory / "provider_metadata.toml").chmod(0o644)
    assert any("readable by group or others (mode 0644)" in m for m in messages(directory))


def test_llm_config_with_api_key_must_be_private(write_config: WriteConfig) -> None:
    """An llm_config.toml holding auto-coder's api_key is also checked."""
    directory = write_config('[backends.qwen]\napi_key = "sk"\n')
    (directory / "llm_config.toml").chmod(0o640)
    assert any("llm_config.toml holds secrets" in m for m in messages(directory))


def test_an_ignored_auto_coder_key_says_where_it_goes(write_config: WriteConfig) -> None:
    directory = write_config('[backends.qwen]\nbase_url = "https://openrouter.ai/api/v1"\n')
    (warning,) = [m for m in messages(directory) if "key 'base_url'" in m or "base_url" in m]
    assert "give it as the CLI's base-URL variable (OPENAI_BASE_URL for qwen" in warning
    assert "[qwen.<provider>]" in warning
    assert "'orchestrator migrate' moves it there" in warning


def test_a_misspelled_backend_key_says_what_was_meant(write_config: WriteConfig) -> None:
    directory = write_config('[backends.qwen]\nprovders = ["a"]\n')
    with pytest.raises(
        ConfigValueError, match=r"unknown key 'provders' \(did you mean 'providers'\?\)"
    ):
        load_config(directory, environ={})


def test_a_misspelled_provider_key_is_a_warning_naming_the_key_meant(
    write_config: WriteConfig,
) -> None:
    """`sentinal = true` would be kept as an option that does nothing: a warning says so."""
    directory = write_config(
        '[backends.qwen]\nproviders = ["a"]\n',
        '[qwen.a]\nsentinal = true\ndescripton = "x"\nbase_url = "kept"\n',
    )
    found = [m for m in messages(directory) if "did you mean" in m]
    assert len(found) == 2
    assert "did you mean 'sentinel'?" in " ".join(found)
    assert "did you mean 'description'?" in " ".join(found)


def test_every_unset_variable_is_named_in_one_run(write_config: WriteConfig) -> None:
    directory = write_config(
        '[backends.qwen]\nproviders = ["a", "b"]\n',
        '[qwen.a]\nOPENAI_API_KEY = "${KEY_A}"\nOPENAI_BASE_URL = "${URL_A}"\n'
        '[qwen.b]\nOPENAI_API_KEY = "${KEY_B}"\nNOTE = "${SET_ONE}"\n',
    )
    with pytest.raises(UnsetVariableError) as caught:
        load_config(directory, environ={"SET_ONE": "1"})
    lines = str(caught.value).splitlines()
    assert lines[0].startswith("Error: KEY_A not set (")
    assert lines[1:] == [
        "Error: URL_A not set (table [qwen.a], key 'OPENAI_BASE_URL')",
        "Error: KEY_B not set (table [qwen.b], key 'OPENAI_API_KEY')",
    ]


def test_a_provider_with_an_unset_variable_is_unusable_not_fatal(
    write_config: WriteConfig,
) -> None:
    directory = write_config(
        '[backends.qwen]\nproviders = ["a", "b"]\n',
        '[qwen.a]\nOPENAI_API_KEY = "${KEY_A}"\n[qwen.b]\nOPENAI_API_KEY = "${KEY_B}"\n',
    )
    config = load_config(directory, environ={"KEY_B": "sk-b"})
    a, b = config.providers_for("qwen")
    assert (a.unusable, b.unusable) == ("KEY_A not set", None)
    assert any(
        "provider unusable: KEY_A not set; it is skipped until set" in str(w)
        and "[qwen.a]" in str(w)
        for w in config.warnings
    )


def test_an_empty_credential_is_a_warning(write_config: WriteConfig) -> None:
    directory = write_config(
        '[backends.qwen]\nproviders = ["a"]\n',
        '[qwen.a]\nOPENAI_API_KEY = "${KEY_A}"\nOPENAI_BASE_URL = ""\n',
    )
    found = [m for m in messages(directory, KEY_A="") if "credential setting is empty" in m]
    assert len(found) == 1
    assert "[qwen.a]" in found[0]
    assert "OPENAI_API_KEY" in found[0]
    assert not [m for m in messages(directory, KEY_A="sk-x") if "is empty" in m]


def test_config_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ORCHESTRATOR_CONFIG_DIR overrides ~/.auto-coder; ~/.auto-coder is the default."""
    assert default_config_dir({CONFIG_DIR_VARIABLE: str(tmp_path)}) == tmp_path
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_config_dir({}) == tmp_path / ".auto-coder"


def test_load_uses_environment_config_dir(write_config: WriteConfig) -> None:
    """load_config() without a directory reads ORCHESTRATOR_CONFIG_DIR."""
    directory = write_config("[backends.codex]\n")
    config = load_config(environ={CONFIG_DIR_VARIABLE: str(directory)})
    assert config.config_dir == directory
    assert list(config.backends) == ["codex"]


def test_unknown_backend_lookup(write_config: WriteConfig) -> None:
    """Asking for a backend that is not configured names the configured ones."""
    config = load_config(write_config("[backends.codex]\n"), environ={})
    with pytest.raises(UnknownBackendError, match=r"Unknown backend 'qwen'.*'codex'"):
        config.backend("qwen")


def test_load_reads_os_environ_by_default(write_config: WriteConfig) -> None:
    """Without environ=, ${VAR} reads os.environ (and only reads it)."""
    name = next(iter(os.environ))
    directory = write_config(f'[backends.qwen]\nmodel = "${{{name}}}"\n')
    assert load_config(directory).backend("qwen").model == os.environ[name]


def test_config_error_is_the_common_root(write_config: WriteConfig) -> None:
    """Callers can catch every config problem as ConfigError."""
    with pytest.raises(ConfigError):
        load_config(write_config("[backends.qwen]\nenabled = 1\n"), environ={})


def test_limits_and_cooldown_keys(write_config: WriteConfig) -> None:
    """Concurrency limits and the cooldown default load typed and validated."""
    directory = write_config(
        '[backends.qwen]\nproviders = ["a"]\nmax_concurrency = 4\n'
        "usage_limit_cooldown_seconds = 90\n",
        "[qwen.a]\nmax_concurrency = 2\n",
    )
    config = load_config(directory, environ={})
    assert config.backend("qwen").max_concurrency == 4
    assert config.backend("qwen").usage_limit_cooldown_seconds == 90
    assert config.providers_for("qwen")[0].max_concurrency == 2
    with pytest.raises(ConfigValueError, match="greater than or equal to 1"):
        load_config(write_config("[backends.qwen]\nmax_concurrency = 0\n"), environ={})
    with pytest.raises(ConfigValueError) as caught:
        load_config(write_config(QWEN, '[qwen.a]\nmax_concurrency = "2"\n[qwen.b]\n'), environ={})
    assert (caught.value.table, caught.value.key) == ("qwen.a", "max_concurrency")


def test_errors_and_warnings_about_a_key_name_its_line(write_config: WriteConfig) -> None:
    """README promises file, table, key and line: values checked after parsing have one too."""
    directory = write_config('# models\n\n[backends.qwen]\nmodel = "m"\nprovders = ["a"]\n')
    with pytest.raises(ConfigValueError) as caught:
        load_config(directory, environ={})
    assert caught.value.line == 5
    assert f"{directory / 'llm_config.toml'}:5, table [backends.qwen], key 'provders'" in str(
        caught.value
    )
    directory = write_config(
        '[backends.qwen]\nproviders = ["a"]\n',
        '[qwen.a]\ndescription = "x"\nsentinal = true\n',
    )
    (warning,) = [m for m in messages(directory) if "sentinal" in m]
    assert f"{directory / 'provider_metadata.toml'}:3, table [qwen.a]" in warning


def test_backend_type_naming_another_backend_inherits_its_options(
    write_config: WriteConfig,
) -> None:
    """auto-coder's option inheritance: a child whose backend_type names a backend runs
    that backend's adapter and takes its options where it sets none, through parents."""
    directory = write_config(
        '[backends.claude]\noptions = ["--verbose"]\noptions_for_noedit = ["--plan"]\n'
        '[backends.minimax]\nbackend_type = "claude"\noptions = ["--settings", "x"]\n'
        '[backends.minimax-2]\nbackend_type = "minimax"\n'
    )
    config = load_config(directory, environ={})
    assert config.backend("minimax").options == ("--settings", "x")
    assert config.backend("minimax").options_for_noedit == ("--plan",)
    grandchild = config.backend("minimax-2")
    assert grandchild.adapter == "claude"
    assert (grandchild.options, grandchild.options_for_noedit) == (("--settings", "x"), ("--plan",))
    loop = write_config('[backends.a]\nbackend_type = "b"\n[backends.b]\nbackend_type = "a"\n')
    with pytest.raises(ConfigValueError, match="backend_type goes round in a loop: a -> b -> a"):
        load_config(loop, environ={})
