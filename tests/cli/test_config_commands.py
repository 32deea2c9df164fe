"""`orchestrator config check`, driven as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from orchestrator._config import load_config
from orchestrator.cli._config_commands import missing_extras

from ..conftest import SPEC_EXAMPLE_DIR, WriteConfig


def orchestrator(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


def test_check_lists_spec_providers_in_order(spec_environ: dict[str, str]) -> None:
    """The spec's example passes: qwen's three providers in order, every key hidden, the
    endpoint and API version shown."""
    result = orchestrator(
        "config", "check", "--no-programs", "--config-dir", str(SPEC_EXAMPLE_DIR), env=spec_environ
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    positions = [out.index(name) for name in ("qwen-open-router", "qwen-azure", "qwen-direct")]
    assert positions == sorted(positions)
    assert "env: AZURE_API_KEY=<redacted>" in out
    assert "command: uvx qwen-azure-proxy" in out
    assert "env: AZURE_ENDPOINT=https://test.openai.azure.com" in out
    assert "env: AZURE_API_VERSION=2024-02-15-preview" in out
    for name, secret in spec_environ.items():
        if "KEY" in name:
            assert secret not in out
            assert secret not in result.stderr


def test_check_reads_config_dir_from_environment(spec_environ: dict[str, str]) -> None:
    """ORCHESTRATOR_CONFIG_DIR selects the directory when --config-dir is absent."""
    env = {**spec_environ, "ORCHESTRATOR_CONFIG_DIR": str(SPEC_EXAMPLE_DIR)}
    result = orchestrator("config", "check", "--no-programs", env=env)
    assert result.returncode == 0, result.stderr
    assert "qwen-open-router" in result.stdout


def test_check_fails_with_exit_2_and_spec_message(write_config: WriteConfig) -> None:
    """A config error exits 2 with the spec's message on stderr and nothing on stdout."""
    directory = write_config(
        '[backends.qwen]\nproviders = ["qwen-azure"]\n',
        '[qwen.qwen-azure]\nAZURE_ENDPOINT = "${AZURE_ENDPOINT_UNSET_FOR_TEST}"\n',
    )
    result = orchestrator("config", "check", "--no-programs", "--config-dir", str(directory))
    assert result.returncode == 2
    assert result.stderr.startswith("Error: AZURE_ENDPOINT_UNSET_FOR_TEST not set (")
    assert result.stdout == ""


def test_check_prints_warnings_on_stderr(write_config: WriteConfig) -> None:
    """Warnings go to stderr and do not change the exit code."""
    directory = write_config('[backends.qwen]\nmodel = "m"\n', metadata=None)
    result = orchestrator("config", "check", "--no-programs", "--config-dir", str(directory))
    assert result.returncode == 0
    assert "Warning: provider_metadata.toml not found" in result.stderr
    assert "fallback mode" in result.stdout


def test_check_warns_on_readable_secret_file(write_config: WriteConfig) -> None:
    """A provider file with secrets readable by others draws a chmod warning."""
    directory = write_config('[backends.qwen]\nproviders = ["a"]\n', '[qwen.a]\nKEY = "v"\n')
    (directory / "provider_metadata.toml").chmod(0o644)
    result = orchestrator("config", "check", "--no-programs", "--config-dir", str(directory))
    assert result.returncode == 0
    assert "chmod 600" in result.stderr


def test_usage_error_exits_2() -> None:
    """An unknown option is a usage error: exit 2."""
    assert orchestrator("config", "check", "--no-programs", "--bogus").returncode == 2


def test_migrate_command(tmp_path: Path) -> None:
    """migrate writes into --config-dir, refuses to overwrite, and --dry-run only prints."""
    source = tmp_path / "qwen-providers.toml"
    source.write_text('[ms]\napi_key = "sk-secret-key"\n[ref]\napi_key = "${REF_KEY}"\n')
    config_dir = tmp_path / "conf"
    first = orchestrator("migrate", str(source), "--config-dir", str(config_dir))
    assert first.returncode == 0, first.stderr
    assert "Migrated 2 provider(s)" in first.stdout
    assert (config_dir / "provider_metadata.toml").exists()
    again = orchestrator("migrate", str(source), "--config-dir", str(config_dir))
    assert again.returncode == 2
    assert "--force" in again.stderr
    dry = orchestrator("migrate", str(source), "--dry-run", "--output", str(tmp_path / "x.toml"))
    assert dry.returncode == 0
    assert "[qwen.ms]" in dry.stdout
    assert "sk-secret-key" not in dry.stdout  # the keys are hidden when only shown
    assert '= "<redacted>"' in dry.stdout
    assert '= "${REF_KEY}"' in dry.stdout  # a reference is not a secret
    assert "hidden" in dry.stderr
    assert not (tmp_path / "x.toml").exists()
    forced = orchestrator("migrate", str(source), "--config-dir", str(config_dir), "--force")
    assert forced.returncode == 0
    assert "Previous file kept as" in forced.stdout


def test_migrate_prints_the_llm_config_lines_still_needed(tmp_path: Path) -> None:
    """The migrated providers run only once [backends.qwen] lists them, with the auth type
    that makes qwen read OPENAI_*: migrate says so, and only what is missing."""
    source = tmp_path / "qwen-providers.toml"
    source.write_text('[ms]\napi_key = "sk-secret-key"\n[ref]\napi_key = "${REF_KEY}"\n')
    config_dir = tmp_path / "conf"
    first = orchestrator("migrate", str(source), "--config-dir", str(config_dir))
    assert first.returncode == 0, first.stderr
    assert f"{config_dir / 'llm_config.toml'} still needs" in first.stderr
    assert '  [backends.qwen]\n  providers = ["ms", "ref"]\n' in first.stderr
    assert '  options = ["--auth-type", "openai"]' in first.stderr
    (config_dir / "llm_config.toml").write_text(
        '[backends.qwen]\nproviders = ["old", "ms"]\noptions = ["--auth-type", "openai"]\n'
    )
    again = orchestrator("migrate", str(source), "--config-dir", str(config_dir), "--force")
    assert again.returncode == 0, again.stderr
    assert 'providers = ["old", "ms", "ref"]' in again.stderr
    assert "options" not in again.stderr
    (config_dir / "llm_config.toml").write_text(
        '[backends.qwen]\nproviders = ["ms", "ref"]\noptions = ["--auth-type", "openai"]\n'
    )
    done = orchestrator("migrate", str(source), "--config-dir", str(config_dir), "--force")
    assert "still needs" not in done.stderr


def test_check_says_what_sees_each_providers_limits(write_config: WriteConfig) -> None:
    """Per provider: the sentinel, or the CLI's own signal; a silent one gets a warning."""
    directory = write_config(
        '[backends.qwen]\nproviders = ["watched", "logged", "silent"]\n'
        '[backends.claude]\nproviders = ["subscription"]\n'
        '[message_backend]\ndefault = "qwen"\norder = ["qwen", "claude"]\n',
        '[qwen.watched]\nOPENAI_BASE_URL = "https://dashscope.example/v1"\n'
        '[qwen.logged]\nsentinel = false\nOPENAI_BASE_URL = "https://dashscope.example/v1"\n'
        '[qwen.silent]\nsentinel = false\nQWEN_DEBUG_LOG_FILE = "0"\n'
        '[claude.subscription]\nCLAUDE_CODE_OAUTH_TOKEN = "sk-ant-oat-x"\n',
    )
    result = orchestrator("config", "check", "--no-programs", "--config-dir", str(directory))
    assert result.returncode == 0, result.stderr
    seen_by = [line.strip() for line in result.stdout.splitlines() if "limits seen by" in line]
    assert seen_by[0].startswith("limits seen by: the sentinel")
    assert "debug log" in seen_by[1]
    assert "nothing until the CLI gives up" in seen_by[2]
    assert "rate_limit_event" in seen_by[3]
    assert "[qwen.silent]: a usage limit would be seen only after the idle timeout" in (
        result.stderr
    )
    unwatched = [line for line in result.stderr.splitlines() if "usage limit would" in line]
    assert not any("[qwen.watched]" in line for line in unwatched)
    assert not any("[qwen.logged]" in line for line in unwatched)


def test_check_masks_credentials_inside_urls_and_listed_secrets(write_config: WriteConfig) -> None:
    """A key in a URL's query, user:password@ and a setting listed in secrets are masked."""
    directory = write_config(
        '[backends.gemini]\nproviders = ["p"]\n',
        '[gemini.p]\nsecrets = ["ORG_ID"]\nORG_ID = "org-7f3k2m9q"\n'
        'GOOGLE_GEMINI_BASE_URL = "https://gw.example/v1beta?key=AIzaQUERYKEY123"\n'
        'HTTPS_PROXY = "http://bob:pa55w0rd@proxy.example:3128"\n',
    )
    result = orchestrator("config", "check", "--no-programs", "--config-dir", str(directory))
    assert result.returncode == 0, result.stderr
    assert "env: GOOGLE_GEMINI_BASE_URL=https://gw.example/v1beta?key=***" in result.stdout
    assert "env: HTTPS_PROXY=http://***@proxy.example:3128" in result.stdout
    assert "env: ORG_ID=<redacted>" in result.stdout
    for secret in ("AIzaQUERYKEY123", "pa55w0rd", "org-7f3k2m9q"):
        assert secret not in result.stdout + result.stderr


def test_secrets_must_list_setting_names(write_config: WriteConfig) -> None:
    """secrets = "X" (not a list of names) is a config error naming the key."""
    directory = write_config('[backends.qwen]\nproviders = ["p"]\n', '[qwen.p]\nsecrets = "X"\n')
    result = orchestrator("config", "check", "--no-programs", "--config-dir", str(directory))
    assert result.returncode == 2
    assert "key 'secrets'" in result.stderr


def test_check_lists_everything_run_would_trip_on_in_one_run(
    write_config: WriteConfig,
) -> None:
    """A missing program, an empty key, a misspelled `sentinel` and three unset variables:
    one `config check` names them all and exits 2; a present program is not named."""
    directory = write_config(
        '[backends.agent]\nbackend_type = "generic"\nproviders = ["gone", "here", "unset"]\n',
        '[agent.gone]\ncommand = "/nonexistent/agent"\n'
        '[agent.here]\ncommand = "sh"\nAGENT_KEY = "${EMPTY_FOR_TEST}"\nsentinal = true\n'
        '[agent.unset]\ncommand = "sh"\nA = "${UNSET_ONE}"\nB = "${UNSET_TWO}"\n'
        'C = "${UNSET_THREE}"\n',
    )
    result = orchestrator(
        "config", "check", "--config-dir", str(directory), env={"EMPTY_FOR_TEST": ""}
    )
    assert result.returncode == 2, result.stderr
    err = result.stderr
    assert "Error: [agent.gone]: program '/nonexistent/agent' not found: run cannot start it" in err
    assert "program 'sh'" not in err
    assert "AGENT_KEY" in err
    assert "empty" in err
    assert "did you mean 'sentinel'?" in err
    for variable in ("UNSET_ONE", "UNSET_TWO", "UNSET_THREE"):
        assert variable in err
    assert err.rstrip().endswith("config check: 1 problem that run would trip on")
    assert "1. gone" in result.stdout  # the listing is still shown


def test_check_without_programs_skips_the_path_lookup(write_config: WriteConfig) -> None:
    directory = write_config(
        '[backends.agent]\nbackend_type = "generic"\nproviders = ["gone"]\n',
        '[agent.gone]\ncommand = "/nonexistent/agent"\n',
    )
    result = orchestrator("config", "check", "--no-programs", "--config-dir", str(directory))
    assert result.returncode == 0, result.stderr
    assert "not found" not in result.stderr


def test_check_names_extras_the_config_needs_and_python_lacks(write_config: WriteConfig) -> None:
    directory = write_config(
        '[backends.qwen]\nproviders = ["a", "b"]\n'
        "[telemetry]\nprometheus_port = 0\nopentelemetry = true\n",
        '[qwen.a]\nOPENAI_BASE_URL = "http://127.0.0.1:9/v1"\nsentinel = true\n'
        '[qwen.b]\nOPENAI_BASE_URL = "http://127.0.0.1:9/v1"\nsentinel = true\n',
    )
    config = load_config(directory, environ={})
    assert list(missing_extras(config)) == []  # the test extra installs all of them
    lacking = list(missing_extras(config, installed=lambda module: module == "httpx"))
    assert len(lacking) == 3
    assert "provider-orchestrator[prometheus]" in lacking[0]
    assert "provider-orchestrator[otel]" in lacking[1]
    assert lacking[2].startswith("Error: [qwen.a] and 1 more use the sentinel, which needs h11")


AUTO_CODER = Path(__file__).parent.parent / "fixtures" / "auto_coder"


def test_auto_coders_example_files_load_and_show_each_order() -> None:
    """Files in the shapes of auto-coder's published examples (docs and fallback): exit 0,
    the orders auto-coder would use for edit, noedit and hard jobs, every ignored key
    named once."""
    docs = orchestrator(
        "config", "check", "--no-programs", "--config-dir", str(AUTO_CODER / "docs-example")
    )
    assert docs.returncode == 0, docs.stderr
    assert (
        "Default backend: gemini\nFallback order: gemini -> qwen -> claude -> codex\n"
        in docs.stdout
    )
    assert "Noedit jobs: default qwen, fallback order qwen -> gemini\n" in docs.stdout
    assert "[message_backend] orders noedit jobs only" in docs.stderr
    for key in ("api_key", "openai_api_key", "openai_base_url"):
        assert docs.stderr.count(f"key '{key}'") == 1
    assert "backend 'auggie' runs auggie" in docs.stderr
    assert "backend 'codex-mcp' runs codex-mcp" in docs.stderr

    fallback = orchestrator(
        "config", "check", "--no-programs", "--config-dir", str(AUTO_CODER / "fallback-example")
    )
    assert fallback.returncode == 0, fallback.stderr
    out = fallback.stdout
    assert "Fallback order: codex -> gemini -> qwen -> claude\n" in out
    assert "Noedit jobs: default claude, fallback order claude -> gemini -> codex\n" in out
    assert 'Hard jobs (difficulty = "high"): gemini-fallback first' in out
    assert "[backends.MiniMax-M2] adapter=claude" in out
    assert "[backends.qwen-openrouter] adapter=codex" in out
    for key in ("temperature", "timeout"):
        assert f"table [backend_with_high_score], key '{key}'" in fallback.stderr
    assert "Error" not in fallback.stderr


def test_check_says_who_holds_each_providers_key() -> None:
    """Through the sentinel, the key is held there; codex's -c providers keep theirs."""
    result = orchestrator(
        "config",
        "check",
        "--no-programs",
        "--config-dir",
        str(SPEC_EXAMPLE_DIR.parent / "mock-apis"),
    )
    assert result.returncode == 0, result.stderr
    held = "keys: held by the sentinel (OPENAI_API_KEY: the CLI gets a placeholder)"
    assert result.stdout.count(held) == 2  # qwen's two providers
    assert (
        "keys: held by the sentinel (GEMINI_API_KEY: the CLI gets a placeholder)" in result.stdout
    )
    assert result.stdout.count("keys: the CLI gets them as set") == 2  # codex's


def test_check_shows_key_pools(write_config: WriteConfig) -> None:
    """Providers differing only in their keys form a pool; another model does not."""
    same = 'OPENAI_BASE_URL = "https://llm.example.invalid/v1"\nOPENAI_MODEL = "m"\n'
    directory = write_config(
        '[backends.qwen]\nproviders = ["one", "two", "other"]\n',
        f'[qwen.one]\nOPENAI_API_KEY = "k1"\n{same}'
        f'[qwen.two]\nOPENAI_API_KEY = "k2"\n{same}'
        '[qwen.other]\nOPENAI_API_KEY = "k3"\nOPENAI_BASE_URL = "https://llm.example.invalid/v1"\n'
        'OPENAI_MODEL = "another"\n',
    )
    result = orchestrator("config", "check", "--no-programs", "--config-dir", str(directory))
    assert result.returncode == 0, result.stderr
    assert "key pool: two (a 429 goes on with their keys" in result.stdout
    assert "key pool: one (a 429" in result.stdout
    assert result.stdout.count("key pool:") == 2
