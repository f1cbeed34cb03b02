"""`modelsync serve`: run the HTTP API with uvicorn.

Rules: binds to 127.0.0.1 unless told otherwise (putting it on a network is a decision); the database is opened
and migrated before the server accepts connections, so a bad DATABASE_URL fails here with a clear message. Log
lines (uvicorn's and modelsync's, in every worker) are text or JSON lines with secrets redacted (services/logs.py).
With a schedule (`--schedule`, else MODELSYNC_SCHEDULE / `schedule` in modelsync.toml) the server also runs a sync at
each fire time (services/scheduler.py): in the app's process with one worker, in the supervising process with
several (so N workers never start N syncs). An invalid expression stops here, before anything listens.
"""

from __future__ import annotations

import logging.config
from typing import Annotated

import typer

from modelsync.cli.common import database, release_logs, settings

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Worker processes.")] = 1,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
    log_format: Annotated[
        str | None,
        typer.Option("--log-format", help="text or json (JSON lines); default MODELSYNC_LOG_FORMAT, else text."),
    ] = None,
    schedule: Annotated[
        str | None,
        typer.Option(
            "--schedule",
            help='Also sync every enabled provider on this cron schedule (5 fields, UTC; "0 6 * * *" = daily at '
            '06:00 UTC); default MODELSYNC_SCHEDULE; "" = none.',
        ),
    ] = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) and the admin web UI (/opshub/ai-models)."""
    import uvicorn

    from modelsync.api.app import create_app
    from modelsync.errors import UsageError
    from modelsync.schedule import ScheduleError, parse_schedule
    from modelsync.services.logs import log_config
    from modelsync.services.scheduler import next_runs_text, sync_scheduler

    config = settings()
    cron_text = config.schedule if schedule is None else schedule
    try:
        cron = parse_schedule(cron_text) if cron_text and cron_text.strip() else None
    except ScheduleError as exc:
        raise UsageError(f"--schedule: {exc}") from None
    if log_format not in (None, "text", "json"):
        raise UsageError(f"--log-format must be text or json, not {log_format!r}.")
    if log_level.lower() not in LOG_LEVELS:
        raise UsageError(f"--log-level must be one of {', '.join(LOG_LEVELS)}, not {log_level!r}.")
    database()  # migrate and check the connection before listening
    logs = log_config(config, log_level, log_format)
    # From here on every line is a log line in the chosen format (the app logs while it is built, before uvicorn
    # applies the same configuration again in each worker).
    release_logs()  # the server's own configuration replaces a command's (no line written twice)
    logging.config.dictConfig(logs)
    log = logging.getLogger("modelsync.serve")
    if config.public_read:
        log.warning("MODELSYNC_PUBLIC_READ=true: model reads are open without a token")
    if config.session_secret is None and workers > 1:
        log.warning(
            "MODELSYNC_SESSION_SECRET is not set: each worker signs web sessions with its own random key, "
            "so a sign-in works only on the worker that made it; set it to use the admin UI"
        )
    if workers > 1:
        # Each worker process builds its own app (and engine) from the environment; the schedule runs here, in the
        # supervising process, once (the workers are spawned, not forked, so they do not inherit its thread).
        scheduler = sync_scheduler(database(), config, cron) if cron is not None else None
        if scheduler is not None:
            scheduler.start()
            log.info(next_runs_text(scheduler))
        try:
            uvicorn.run(
                "modelsync.api.app:create_app",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level=log_level,
                log_config=logs,
            )
        finally:
            if scheduler is not None:
                scheduler.stop()
        return
    app = create_app(config, database(), schedule=cron)
    uvicorn.run(app, host=host, port=port, log_level=log_level, log_config=logs)
