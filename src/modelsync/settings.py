"""Settings: environment variables over an optional `modelsync.toml` over the bundled `defaults.toml`.

Rules: keys are read from the environment variables each provider row names and kept as `SecretStr`, so they
never print; nothing here does network or database I/O; every invalid value becomes a `ConfigError` that names
the setting and the file it came from. A key that no setting reads, at the top of a file or in any of its tables,
is an error naming the key and the file (a typo must not be silently ignored). An environment variable with the
`MODELSYNC_` prefix that no setting reads is logged as a warning, not refused: the environment is shared with
other tools (deployment wrappers, the test suite's own `MODELSYNC_TEST_*` variables, which are never warned about),
so it cannot be held to modelsync's names alone.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import tomllib
import types
import typing
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from modelsync.errors import ConfigError
from modelsync.fieldspec import KINDS

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")
DEFAULT_CONFIG_FILE = "modelsync.toml"
DEFAULT_OVERRIDES_FILE = "modelsync.overrides.toml"
DEFAULT_DATABASE_URL = "sqlite:///modelsync.db"
ENV_PREFIX: Final = "MODELSYNC_"
# Environment variables of this prefix that are not settings: the config file's location, and the test suite's own.
_OTHER_VARIABLES: Final = frozenset({"MODELSYNC_CONFIG"})
_RESERVED_PREFIX: Final = "MODELSYNC_TEST_"

log = logging.getLogger("modelsync.settings")


def _known_kind(value: str) -> str:
    if value not in KINDS:
        raise ValueError(f"unknown kind {value!r}; use one of {', '.join(KINDS)}")
    return value


Kind = Annotated[str, AfterValidator(_known_kind)]


class ProviderSpec(BaseModel):
    """One row of the provider registry: where its listing lives and which catalog ids it maps to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    label: str
    adapter: str
    base_url: str
    base_url_env: str = ""
    key_env: tuple[str, ...] = ()
    models_dev: str = ""
    genai_prices: str = ""
    needs_key: bool = True
    # Listing variants, so that a compatible provider stays a row of configuration: the page size to ask for
    # (0 = the adapter's default, the API maximum), and a second endpoint whose entries are merged into the
    # listing by id (xAI's `language-models`, which carries prices and modalities).
    page_size: int = Field(default=0, ge=0)
    enrich_path: str = ""
    # The author part of this provider's own models' ids on OpenRouter (`openai` in `openai/gpt-5.4`): OpenRouter
    # serves those through this provider, so what the catalogs say of them there is a second source for
    # capabilities this provider's own entries leave unknown.
    openrouter_author: str = ""
    # Why a model of this provider that no source prices has no price (a self-hosted server has no per-token
    # price); recorded on such a model as its `unpriced_reason`. Empty: an unpriced model is simply unknown.
    unpriced_reason: str = ""
    # Its models in LiteLLM's cost map: entries with this `litellm_provider` whose key is the API id behind this
    # prefix ("gemini/" + "gemini-2.5-pro"); "" = not in LiteLLM's map.
    litellm: str = ""
    litellm_prefix: str = ""


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from exc
    return value


class KindRule(BaseModel):
    """A model id pattern that decides the kind when no source says."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Kind
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        return _regex(value)


_CAPABILITY_NAME = re.compile(r"[a-z][a-z0-9_]*")


class CapabilityRule(BaseModel):
    """Sets a capability no source states, for the models it matches, with the reason shown in provenance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    capability: str
    value: bool = True
    reason: str = Field(min_length=1, max_length=200)
    # Which models: all of these that are given must match (an empty one matches every model).
    provider: tuple[str, ...] = ()
    kind: tuple[Kind, ...] = ()
    pattern: str = ""

    @field_validator("capability")
    @classmethod
    def _named(cls, value: str) -> str:
        if not _CAPABILITY_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a capability name (lower case letters, digits and _)")
        return value

    @field_validator("reason")
    @classmethod
    def _said(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a rule needs a reason: it is what provenance shows for the value it sets")
        return value.strip()

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        return _regex(value)


class TagRules(BaseModel):
    """Id patterns behind the `fast` and `highest-quality` tags."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fast: str = ""
    highest_quality: str = ""


class PolicySettings(BaseModel):
    """Rules that turn merged data into tier, tags, recommended and allowed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    premium_threshold: Decimal = Decimal("5")
    output_premium_threshold: Decimal = Decimal("20")
    # How far apart (relative to the larger) two sources' prices may be and still agree; limits must be equal.
    price_tolerance: Decimal = Field(default=Decimal("0.01"), ge=0, lt=1)
    recommended: tuple[str, ...] = ()
    default_allowed: bool = True
    # Deprecated: every model of these kinds was marked streaming, whether it streams or not. Still honoured (as a
    # capability rule whose reason names this setting) so an existing modelsync.toml keeps its meaning.
    streaming_kinds: tuple[Kind, ...] = ()
    kind_rules: tuple[KindRule, ...] = ()
    capability_rules: tuple[CapabilityRule, ...] = ()
    tags: TagRules = TagRules()


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Merge `top` over `base`: tables merge key by key, every other value is replaced whole."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file, turning syntax errors into a ConfigError that names file, line and column."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}. Fix the file and run again.") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}.") from exc


def config_file_path() -> Path | None:
    """Return the user config file: MODELSYNC_CONFIG if set (must exist), else ./modelsync.toml if present."""
    explicit = os.environ.get("MODELSYNC_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"MODELSYNC_CONFIG points to {path}, which does not exist.")
        return path
    path = Path(DEFAULT_CONFIG_FILE)
    return path if path.is_file() else None


class _TomlLayers(PydanticBaseSettingsSource):
    """Settings source: the bundled defaults with the user's modelsync.toml merged over them."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        """Unused: values come from __call__ as a whole."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """Return the merged TOML tables."""
        data = read_toml(DEFAULTS_FILE)
        check_file_keys(data, DEFAULTS_FILE)
        user_file = config_file_path()
        if user_file is not None:
            user_data = read_toml(user_file)
            check_file_keys(user_data, user_file)
            data = _deep_merge(data, user_data)
        registry = data.pop("provider", {})
        if not isinstance(registry, dict):
            raise ConfigError("`provider` in modelsync.toml must be a table of [provider.<name>] tables.")
        data["registry"] = {
            name: {**row, "name": name} if isinstance(row, dict) else row for name, row in registry.items()
        }
        return data


class Settings(BaseSettings):
    """Everything modelsync reads from the environment and config files."""

    model_config = SettingsConfigDict(env_prefix="MODELSYNC_", extra="ignore", frozen=True)

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL, validation_alias=AliasChoices("DATABASE_URL", "database_url")
    )
    mongodb_uri: SecretStr | None = Field(default=None, validation_alias=AliasChoices("MONGODB_URI"))
    overrides_file: Path | None = None
    http_timeout: float = Field(default=30.0, gt=0)
    # Retries of a listing request on 429/5xx/timeouts: how many, the first backoff in seconds (doubled each
    # time, with jitter), and the longest single wait (a provider asking for more is reported, not waited for).
    http_retries: int = Field(default=4, ge=0, le=10)
    http_backoff: float = Field(default=0.5, ge=0)
    http_max_wait: float = Field(default=60.0, ge=0)
    # How long a catalog write (an admin decision; a sync's apply) waits for another one to finish, seconds.
    write_wait: float = Field(default=60.0, gt=0, le=3600)
    # Bounds of the live listings. A request (connect and its whole body, however slowly it trickles) must finish
    # within http_deadline seconds (unset: 4 x http_timeout, whose timeouts are per read only), a provider's whole
    # listing (every page and retry) within provider_deadline; a body may decode to at most http_max_bytes, and a
    # listing may hold at most max_models_per_provider models. Over any of them, that provider fails; the others go on.
    http_deadline: float | None = Field(default=None, gt=0)
    provider_deadline: float = Field(default=600.0, gt=0)
    http_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    max_models_per_provider: int = Field(default=200_000, ge=1)
    providers: Annotated[tuple[str, ...], NoDecode] = ()
    default_providers: tuple[str, ...] = ()
    policy: PolicySettings = PolicySettings()
    registry: dict[str, ProviderSpec] = {}
    replicate_collections: Annotated[tuple[str, ...], NoDecode] = ()
    replicate_full_listing: bool = False
    public_read: bool = False
    # The catalogs' published feeds, read once per sync ("" turns one off; defaults.toml has the upstream URLs),
    # and the connect timeout of those reads: short, so a machine without internet falls back at once.
    # `offline` turns every feed off (the stored copies and the installed packages are used).
    offline: bool = False
    feed_models_dev_url: str = ""
    feed_genai_prices_url: str = ""
    feed_litellm_url: str = ""
    feed_connect_timeout: float = Field(default=3.0, gt=0)
    # The quarantine (sync/quarantine.py): a synced price moving by more than `quarantine_factor` either way, a
    # token price above `quarantine_max_price` per 1M, a context window halved or a per-token price appearing on a
    # model priced per unit is held for an admin instead of applied. `quarantine = false` applies everything.
    quarantine: bool = True
    quarantine_factor: Decimal = Field(default=Decimal("3"), gt=1)
    quarantine_max_price: Decimal = Field(default=Decimal("1000"), gt=0)
    # Signs the admin web UI's session cookies (at least 32 characters). Unset: a random key per process, so
    # sessions end when the server restarts and are not shared between workers or replicas.
    session_secret: SecretStr | None = Field(default=None, min_length=32)
    # Audit entries older than this many days are deleted (at most once an hour); None keeps them forever.
    audit_retention_days: int | None = Field(default=None, ge=1, le=36500)
    # Log lines as text (default) or JSON lines, both with secrets redacted (services/logs.py).
    log_format: Literal["text", "json"] = "text"
    # When set, GET /metrics answers only `Authorization: Bearer <this token>`; unset, it is open like /healthz.
    metrics_token: SecretStr | None = Field(default=None, min_length=32)
    # `modelsync serve` runs a sync at each fire time of this 5-field cron expression (UTC); None: no schedule.
    schedule: str | None = None
    # Encrypts secrets modelsync must be able to read back (webhook signing secrets), at least 32 characters.
    # Unset: creating or delivering a webhook stops with a message saying to set MODELSYNC_SECRET_KEY.
    secret_key: SecretStr | None = Field(default=None, min_length=32)
    # The key secrets were encrypted under before MODELSYNC_SECRET_KEY was rotated: still read (never written) until
    # `modelsync webhooks rekey` has re-encrypted every secret under the new key.
    secret_key_previous: SecretStr | None = Field(default=None, min_length=32)
    # Change webhooks (services/delivery.py): the timeout of one POST (connect and each read), seconds; how many
    # attempts a batch gets before it is given up; the wait before the first retry (doubled after each failure, up
    # to webhook_max_backoff); the most events in one POST; how often `serve` looks for pending deliveries; and how
    # long `modelsync sync` spends delivering after the sync before it leaves the rest pending.
    webhook_timeout: float = Field(default=10.0, gt=0, le=300)
    webhook_max_attempts: int = Field(default=25, ge=1, le=1000)
    webhook_backoff: float = Field(default=30.0, ge=0)
    webhook_max_backoff: float = Field(default=3600.0, ge=0)
    webhook_batch_size: int = Field(default=500, ge=1, le=100_000)
    webhook_interval: float = Field(default=10.0, gt=0)
    webhook_sync_budget: float = Field(default=15.0, ge=0)
    # Webhook events and finished deliveries older than this many days are pruned (services/event_retention.py),
    # never past an active subscription's cursor; 0 keeps them forever.
    webhook_retention_days: int = Field(default=90, ge=0, le=36500)
    # shutdown_soon fires once per model and threshold when its shutdownDate is this many days away or fewer.
    shutdown_soon_days: Annotated[tuple[int, ...], NoDecode] = (30, 7)
    # Taken once, when the settings are built: each provider's key (as a secret) and base URL override, read from
    # the variables its registry row names. Tests and embedders pass them directly instead of touching os.environ.
    keys: dict[str, SecretStr] = {}
    base_urls: dict[str, str] = {}

    @field_validator("providers", "replicate_collections", mode="before")
    @classmethod
    def _split_names(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip().lower() for part in value.split(",") if part.strip())
        return value

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from modelsync.schedule import parse_schedule

        return parse_schedule(value).expression  # a ScheduleError is a ValueError: pydantic reports it

    @field_validator("shutdown_soon_days", mode="before")
    @classmethod
    def _split_days(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("shutdown_soon_days")
    @classmethod
    def _positive_days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(days < 1 or days > 3650 for days in value):
            raise ValueError("each threshold must be a number of days from 1 to 3650")
        return tuple(sorted(set(value), reverse=True))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order: explicit arguments, then environment, then modelsync.toml over defaults.toml."""
        return (init_settings, env_settings, _TomlLayers(settings_cls))

    @property
    def request_deadline(self) -> float:
        """The total deadline of one listing request, in seconds: MODELSYNC_HTTP_DEADLINE, else 4 x the timeout."""
        return self.http_deadline if self.http_deadline is not None else 4 * self.http_timeout

    def api_key(self, provider: str) -> SecretStr | None:
        """Return the provider's key (from the first of its key variables that was set), or None."""
        return self.keys.get(provider)

    def base_url(self, provider: str) -> str:
        """Return the provider's base URL: its *_BASE_URL variable if it was set, else the registry default."""
        return (self.base_urls.get(provider) or self.registry[provider].base_url).rstrip("/")


# Settings that no file sets: the registry comes from the `provider` tables, keys and base URL overrides only from
# the variables the registry names, and MONGODB_URI only from the environment (where it is refused).
_NOT_IN_FILES: Final = frozenset({"registry", "keys", "base_urls", "mongodb_uri"})
# Keys of a table that modelsync fills in itself: a provider's name is the name of its table.
_SET_BY_CODE: Final[dict[type[BaseModel], frozenset[str]]] = {ProviderSpec: frozenset({"name"})}


def _table_type(annotation: Any) -> tuple[str, type[BaseModel]] | None:
    """The settings table an annotation holds and how: one table, an array of tables ("many") or a map of them."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        return _table_type(args[0])
    if origin is typing.Union or origin is types.UnionType:
        return next((found for arg in args if (found := _table_type(arg)) is not None), None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "one", annotation
    inner = args[-1] if origin is dict else args[0] if origin in (tuple, list) and args else None
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return ("map" if origin is dict else "many"), inner
    return None


def _file_fields(model: type[BaseModel]) -> dict[str, Any]:
    """The keys a table of `model` may hold in a file, with their types."""
    if model is Settings:
        fields: dict[str, Any] = {
            name: field.annotation for name, field in Settings.model_fields.items() if name not in _NOT_IN_FILES
        }
        fields["provider"] = Settings.model_fields["registry"].annotation
        return fields
    hidden = _SET_BY_CODE.get(model, frozenset())
    return {name: field.annotation for name, field in model.model_fields.items() if name not in hidden}


def _unknown_keys(data: dict[str, Any], model: type[BaseModel], where: str) -> list[str]:
    """Every key of `data` (and of the tables within it) that no setting of `model` reads, with a hint each."""
    fields = _file_fields(model)
    problems: list[str] = []
    for key, value in data.items():
        if key not in fields:
            hint = difflib.get_close_matches(key, list(fields), n=1)
            known = f"did you mean `{where}{hint[0]}`?" if hint else f"{_table_name(where)} knows {', '.join(fields)}"
            problems.append(f"`{where}{key}` ({known})")
            continue
        table = _table_type(fields[key])
        if table is None:
            continue
        kind, inner = table
        if kind == "one" and isinstance(value, dict):
            problems += _unknown_keys(value, inner, f"{where}{key}.")
        elif kind == "many" and isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    problems += _unknown_keys(item, inner, f"{where}{key}[{index}].")
        elif kind == "map" and isinstance(value, dict):
            for name, item in value.items():
                if isinstance(item, dict):
                    problems += _unknown_keys(item, inner, f"{where}{key}.{name}.")
    return problems


def _table_name(where: str) -> str:
    return f"[{where.rstrip('.')}]" if where else "the top level"


def check_file_keys(data: dict[str, Any], path: Path) -> None:
    """Refuse a config file holding keys that no setting reads, naming each key and the file."""
    problems = _unknown_keys(data, Settings, "")
    if problems:
        keys = "unknown key" if len(problems) == 1 else "unknown keys"
        raise ConfigError(
            f"{path}: {keys} {'; '.join(problems)}. Remove or rename {'it' if len(problems) == 1 else 'them'}; the "
            "README's Configuration section lists every setting."
        )


def _known_variables() -> frozenset[str]:
    names = set(_OTHER_VARIABLES)
    for name, field in Settings.model_fields.items():
        if name not in _NOT_IN_FILES and field.validation_alias is None:
            names.add(ENV_PREFIX + name.upper())
    return frozenset(names)


def warn_unknown_variables(environ: typing.Mapping[str, str]) -> list[str]:
    """Log (and return) every MODELSYNC_* environment variable that no setting reads."""
    known = _known_variables()
    unknown = []
    for var in sorted(environ):
        name = var.upper()
        if not name.startswith(ENV_PREFIX) or name.startswith(_RESERVED_PREFIX) or name in known:
            continue
        unknown.append(var)
        hint = difflib.get_close_matches(name, [*known, "DATABASE_URL"], n=1)
        log.warning(
            "ignoring the environment variable %s: no modelsync setting reads it%s",
            var,
            f" (did you mean {hint[0]}?)" if hint else "",
        )
    return unknown


def _environment_snapshot(registry: dict[str, ProviderSpec]) -> dict[str, Any]:
    """Each provider's key and base URL override as the environment holds them now."""
    keys: dict[str, SecretStr] = {}
    base_urls: dict[str, str] = {}
    for name, spec in registry.items():
        for var in spec.key_env:
            value = os.environ.get(var, "").strip()
            if value:
                keys[name] = SecretStr(value)
                break
        override = os.environ.get(spec.base_url_env, "").strip() if spec.base_url_env else ""
        if override:
            base_urls[name] = override
    return {"keys": keys, "base_urls": base_urls}


def load_settings(**overrides: Any) -> Settings:
    """Build Settings, translating validation problems into one readable ConfigError."""
    warn_unknown_variables(os.environ)
    if os.environ.get("MONGODB_URI") and not os.environ.get("DATABASE_URL") and "database_url" not in overrides:
        raise ConfigError(
            "MONGODB_URI is set, but MongoDB is not a supported store: modelsync keeps its catalog in SQLite "
            "(the default) or PostgreSQL. Set DATABASE_URL, for example "
            "DATABASE_URL=postgresql+psycopg://user:password@host:5432/modelsync, or "
            "DATABASE_URL=sqlite:///modelsync.db, and unset MONGODB_URI."
        )
    try:
        settings = Settings(**overrides)
        if "keys" not in overrides or "base_urls" not in overrides:
            snapshot = _environment_snapshot(settings.registry)
            settings = settings.model_copy(update={k: v for k, v in snapshot.items() if k not in overrides})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(part) for part in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"invalid settings: {problems}. Check modelsync.toml and MODELSYNC_* variables.") from exc
    named = (*settings.providers, *settings.default_providers)
    named += tuple(name for rule in settings.policy.capability_rules for name in rule.provider)
    unknown = [name for name in named if name not in settings.registry]
    if unknown:
        raise ConfigError(
            f"unknown provider(s) in configuration: {', '.join(sorted(set(unknown)))}. "
            f"Known providers: {', '.join(sorted(settings.registry))}."
        )
    return settings
