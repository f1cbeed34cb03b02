"""Settings: defaults, modelsync.toml, environment, keys kept secret, clear errors."""

from __future__ import annotations

import pytest

from modelsync.db.engine import normalize_url, safe_url
from modelsync.errors import ConfigError
from modelsync.settings import load_settings


def test_defaults_work_on_a_fresh_machine():
    settings = load_settings()
    assert settings.database_url == "sqlite:///modelsync.db"
    assert settings.default_providers == ("openai", "anthropic", "google", "replicate")
    assert settings.http_timeout == 30
    assert settings.base_url("openai") == "https://api.openai.com/v1"
    assert settings.base_url("anthropic") == "https://api.anthropic.com"
    assert settings.base_url("google") == "https://generativelanguage.googleapis.com"
    assert settings.base_url("replicate") == "https://api.replicate.com"
    assert settings.api_key("openai") is None


def test_environment_sets_keys_and_base_urls_and_keys_never_print(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-very-secret")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9999/v1/")
    monkeypatch.setenv("GOOGLE_API_KEY", "g-secret")
    settings = load_settings()
    key = settings.api_key("openai")
    assert key is not None and key.get_secret_value() == "sk-test-very-secret"
    assert "sk-test-very-secret" not in repr(key) and "sk-test-very-secret" not in str(settings)
    assert settings.base_url("openai") == "http://127.0.0.1:9999/v1"
    assert settings.api_key("google").get_secret_value() == "g-secret"  # GOOGLE_API_KEY is the fallback name


def test_gemini_key_wins_over_google_key(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "gem")
    monkeypatch.setenv("GOOGLE_API_KEY", "goo")
    assert load_settings().api_key("google").get_secret_value() == "gem"


def test_config_file_merges_over_defaults_and_environment_wins(clean_env, monkeypatch):
    (clean_env / "modelsync.toml").write_text(
        'providers = ["openrouter"]\nhttp_timeout = 12\n[policy]\npremium_threshold = "8"\n'
        '[provider.acme]\nlabel = "Acme"\nadapter = "openai_compat"\nbase_url = "https://acme.example/v1"\n'
        'key_env = ["ACME_KEY"]\n'
    )
    monkeypatch.setenv("MODELSYNC_HTTP_TIMEOUT", "7")
    settings = load_settings()
    assert settings.providers == ("openrouter",)
    assert settings.http_timeout == 7
    assert str(settings.policy.premium_threshold) == "8"
    assert settings.policy.recommended  # the rest of [policy] still comes from the defaults
    assert settings.registry["acme"].label == "Acme" and "openai" in settings.registry


def test_providers_from_environment_are_comma_separated(monkeypatch):
    monkeypatch.setenv("MODELSYNC_PROVIDERS", "openrouter, Ollama")
    assert load_settings().providers == ("openrouter", "ollama")


def test_mongodb_uri_without_database_url_is_explained(monkeypatch):
    monkeypatch.setenv("MONGODB_URI", "mongodb://db:27017/models")
    with pytest.raises(ConfigError, match=r"MongoDB is not a supported store.*DATABASE_URL="):
        load_settings()
    monkeypatch.setenv("DATABASE_URL", "sqlite:///x.db")
    assert load_settings().database_url == "sqlite:///x.db"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("http_timeout = \n", r"modelsync.toml is not valid TOML"),
        ("http_timeout = -1\n", r"http_timeout"),
        ('providers = ["nope"]\n', r"unknown provider\(s\) in configuration: nope"),
        ('[policy]\npremium_threshold = "lots"\n', r"policy.premium_threshold"),
        ('[[policy.kind_rules]]\nkind = "chat"\npattern = "("\n', r"regular expression"),
        ('[[policy.kind_rules]]\nkind = "robot"\npattern = "x"\n', r"unknown kind 'robot'"),
        ('[[policy.capability_rules]]\ncapability = "streaming"\n', r"capability_rules.0.reason: Field required"),
        ('[[policy.capability_rules]]\ncapability = "streaming"\nreason = "  "\n', r"needs a reason"),
        ('[[policy.capability_rules]]\ncapability = "Streaming!"\nreason = "r"\n', r"not a capability name"),
        ('[[policy.capability_rules]]\ncapability = "json"\nreason = "r"\nkind = ["robot"]\n', r"unknown kind"),
        ('[[policy.capability_rules]]\ncapability = "json"\nreason = "r"\nprovider = ["nope"]\n', r"unknown provider"),
        ('[[policy.capability_rules]]\ncapability = "json"\nreason = "r"\npattern = "("\n', r"regular expression"),
    ],
)
def test_invalid_configuration_is_a_clear_error(clean_env, content, message):
    (clean_env / "modelsync.toml").write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_postgres_urls_are_mapped_to_psycopg_and_passwords_hidden():
    assert normalize_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalize_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert "p@" not in safe_url("postgresql+psycopg://u:p@h/db")
    with pytest.raises(ConfigError, match="supports SQLite and PostgreSQL"):
        normalize_url("mysql://u@h/db")


def test_replicate_collections_from_environment_are_comma_separated(monkeypatch):
    assert load_settings().replicate_collections  # defaults come from defaults.toml
    monkeypatch.setenv("MODELSYNC_REPLICATE_COLLECTIONS", "official, text-to-image")
    assert load_settings().replicate_collections == ("official", "text-to-image")


@pytest.mark.parametrize(
    ("content", "key"),
    [
        ("http_timout = 3\n", "`http_timeout`"),
        ('[policy]\npremium_treshold = "3"\n', "`policy.premium_threshold`"),
        ('[policy.tags]\nfastt = "x"\n', "`policy.tags.fast`"),
        ('[[policy.kind_rules]]\nkind = "chat"\npattern = "x"\nweight = 2\n', "[policy.kind_rules[0]] knows kind"),
        (
            '[provider.acme]\nlabel = "A"\nadapter = "openai_compat"\nbase_url = "https://a.example/v1"\nkeyenv = []\n',
            "`provider.acme.key_env`",
        ),
        ('[provider.openai]\nname = "open"\n', "[provider.openai] knows label"),
        ('keys = { openai = "sk-in-a-file" }\n', "the top level knows database_url"),
        ('mongodb_uri = "mongodb://x"\n', "`mongodb_uri`"),
        ("[database]\nurl = 'sqlite:///x.db'\n", "`database`"),
    ],
)
def test_an_unknown_key_anywhere_in_the_config_file_is_an_error_naming_it_and_the_file(clean_env, content, key):
    (clean_env / "modelsync.toml").write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = caught.value.message
    assert message.startswith("modelsync.toml: unknown key"), message
    assert key in message, message


def test_every_unknown_key_is_named_and_the_explicit_config_file_too(clean_env, monkeypatch):
    path = clean_env / "elsewhere.toml"
    path.write_text('colour = "blue"\n[policy]\nrecomended = []\n')
    monkeypatch.setenv("MODELSYNC_CONFIG", str(path))
    with pytest.raises(ConfigError, match=rf"^{path}: unknown keys `colour` .*; `policy.recomended` \(did you mean"):
        load_settings()


def test_the_bundled_defaults_hold_only_known_keys():
    from modelsync.settings import DEFAULTS_FILE, check_file_keys, read_toml

    check_file_keys(read_toml(DEFAULTS_FILE), DEFAULTS_FILE)


def test_unknown_modelsync_variables_are_warned_about_not_refused(monkeypatch, caplog):
    monkeypatch.setenv("MODELSYNC_HTTP_TIMEOUTT", "3")
    monkeypatch.setenv("MODELSYNC_DATABASE_URL", "sqlite:///elsewhere.db")
    monkeypatch.setenv("MODELSYNC_TEST_ANYTHING", "x")  # the test suite's own prefix
    monkeypatch.setenv("MODELSYNC_CONFIG_", "x")
    with caplog.at_level("WARNING", logger="modelsync.settings"):
        settings = load_settings()
    assert settings.http_timeout == 30 and settings.database_url == "sqlite:///modelsync.db"
    warned = [record.getMessage() for record in caplog.records]
    assert any("MODELSYNC_HTTP_TIMEOUTT" in text and "did you mean MODELSYNC_HTTP_TIMEOUT?" in text for text in warned)
    assert any("MODELSYNC_DATABASE_URL" in text and "did you mean DATABASE_URL?" in text for text in warned)
    assert not any("MODELSYNC_TEST_ANYTHING" in text for text in warned)
    assert len(warned) == 3


def test_known_variables_are_not_warned_about(monkeypatch, caplog):
    for name in ("MODELSYNC_HTTP_TIMEOUT", "MODELSYNC_PUBLIC_READ", "MODELSYNC_AUDIT_RETENTION_DAYS"):
        monkeypatch.setenv(name, "5" if "PUBLIC" not in name else "false")
    with caplog.at_level("WARNING", logger="modelsync.settings"):
        settings = load_settings()
    assert caplog.records == [] and settings.audit_retention_days == 5


def test_the_cli_warns_about_an_unknown_variable_once_on_stderr(cli, monkeypatch):
    monkeypatch.setenv("MODELSYNC_PUBLICREAD", "true")
    result = cli("models", "list")
    assert result.code == 0
    assert result.err.count("MODELSYNC_PUBLICREAD") == 1 and "did you mean MODELSYNC_PUBLIC_READ?" in result.err


@pytest.mark.parametrize("value", ["0", "-1", "forever", "40000"])
def test_audit_retention_must_be_a_number_of_days(monkeypatch, value):
    monkeypatch.setenv("MODELSYNC_AUDIT_RETENTION_DAYS", value)
    with pytest.raises(ConfigError, match="audit_retention_days"):
        load_settings()
    monkeypatch.delenv("MODELSYNC_AUDIT_RETENTION_DAYS")
    assert load_settings().audit_retention_days is None  # unset: kept forever


def test_capability_rules_replace_the_bundled_ones_and_the_agent_kind_is_known(clean_env):
    bundled = load_settings().policy
    assert [(rule.provider, rule.capability) for rule in bundled.capability_rules] == [
        (("anthropic",), "streaming"),
        (("mistral",), "json"),
    ]
    assert bundled.streaming_kinds == ()  # no blanket rule any more
    assert any(rule.kind == "agent" for rule in bundled.kind_rules)
    (clean_env / "modelsync.toml").write_text(
        '[[policy.capability_rules]]\ncapability = "streaming"\nprovider = ["openrouter"]\n'
        'reason = "OpenRouter streams any model"\n'
    )
    (rule,) = load_settings().policy.capability_rules
    assert rule.value is True and rule.kind == () and rule.pattern == ""
    assert rule.reason == "OpenRouter streams any model"
