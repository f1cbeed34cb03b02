"""Errors of modelsync.

Rules: every error carries a message that says what went wrong *and what to do*. Nothing below the CLI or the
HTTP layer maps an error to an exit code or a status; the boundary does that with `exit_code`/`http_status`.
No message may contain a secret: callers pass redacted text only.
"""

from __future__ import annotations


class ModelsyncError(Exception):
    """Root of every error modelsync raises on purpose."""

    exit_code: int = 1
    http_status: int = 500
    code: str = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(ModelsyncError):
    """The user asked for something that cannot be done as asked (unknown provider, bad flag, bad id)."""

    exit_code = 4
    http_status = 422
    code = "invalid_request"


class ConfigError(ModelsyncError):
    """A settings value, the config file or the overrides file is invalid."""

    exit_code = 4
    http_status = 500
    code = "configuration_error"


class NotFoundError(ModelsyncError):
    """A model, run or user that does not exist was asked for."""

    exit_code = 4
    http_status = 404
    code = "not_found"


class StateConflictError(ModelsyncError):
    """What was asked for no longer applies: a quarantine entry that is not pending any more."""

    exit_code = 4
    http_status = 409
    code = "conflict"


class SyncBusyError(ModelsyncError):
    """Another sync holds the sync lease."""

    exit_code = 2
    http_status = 409
    code = "sync_in_progress"

    def __init__(self, message: str, running_run_id: int | None) -> None:
        super().__init__(message)
        self.running_run_id = running_run_id


class SourceError(ModelsyncError):
    """A source (provider listing or catalog) failed; the sync records it as that provider's outcome."""

    exit_code = 3
    http_status = 502
    code = "provider_failed"


class DatabaseError(ModelsyncError):
    """The database cannot be reached or is not at a schema this version understands."""

    exit_code = 1
    http_status = 503
    code = "database_unavailable"


class DatabaseBusyError(ModelsyncError):
    """Another writer (a sync applying its changes) held the catalog write lock longer than the caller may wait."""

    exit_code = 1
    http_status = 503
    code = "database_busy"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthenticationError(ModelsyncError):
    """The request carries no valid credentials (no token, unknown, expired or revoked token)."""

    exit_code = 4
    http_status = 401
    code = "unauthorized"


class PermissionDeniedError(ModelsyncError):
    """The caller is known but its role does not allow the action."""

    exit_code = 4
    http_status = 403
    code = "forbidden"


class SecretKeyMissingError(ConfigError):
    """MODELSYNC_SECRET_KEY is not set, so a secret that must be read back (a webhook's) cannot be stored or used."""

    http_status = 409
    code = "secret_key_missing"
