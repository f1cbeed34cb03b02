"""`modelsync webhooks add|list|disable|enable|remove|deliveries|deliver|test`: change webhooks.

Rules: a generated secret is printed once, alone on the last line of standard output (so `| tail -n1` captures
it); listings show the secret's fingerprint, never the secret. `deliver` sends what is pending now (the server's
delivery loop and every `modelsync sync` do so too) and exits 1 when deliveries are left pending because a
receiver failed or MODELSYNC_SECRET_KEY is missing. `disable` pauses a subscription (nothing is sent to it) and
`enable` resumes it: it catches up from where it stopped with the events still stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from modelsync.cli.common import database, err, out, printable, printable_message, settings
from modelsync.cli.output import Column, FormatOption, JsonOption, chosen, emit, utc_cell
from modelsync.cli.users import operator

if TYPE_CHECKING:
    from modelsync.services.delivery import DeliveryRun

app = typer.Typer(
    help="Change webhooks: add, list, disable, enable, remove, deliveries, deliver, test.", no_args_is_help=True
)


@app.command("add")
def add(
    url: Annotated[str, typer.Argument(metavar="URL", help="Where to POST (http:// or https://).")],
    events: Annotated[
        list[str] | None, typer.Option("--events", "-e", help="Event kind to send (repeatable or comma-separated).")
    ] = None,
    provider: Annotated[
        list[str] | None, typer.Option("--provider", "-p", help="Only events of this provider (repeatable).")
    ] = None,
    model: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="Only events of this model id or PROVIDER/ID.")
    ] = None,
    secret: Annotated[
        str | None, typer.Option("--secret", help="The signing secret (default: generate one and print it once).")
    ] = None,
) -> None:
    """Subscribe a URL to change events (all kinds unless --events is given)."""
    from modelsync.services import webhooks

    kinds = [part for value in events or () for part in value.split(",")]
    created = webhooks.create_subscription(
        database(), settings(), url, events=kinds, providers=provider, models=model, secret=secret, actor=operator()
    )
    sub = created.subscription
    out.print(
        f"webhook {sub['id']} -> {printable(sub['url'])} ({', '.join(sub['events'])}; "
        f"secret {sub['secretFingerprint']})."
    )
    if created.generated_secret is not None:
        out.print("Its signing secret is shown only now; give it to the receiver to verify signatures:")
        print(created.generated_secret)


_SUB_COLUMNS = (
    Column("id", lambda sub: sub["id"]),
    Column("url", lambda sub: sub["url"]),
    Column("events", lambda sub: sub["events"]),
    Column("providers", lambda sub: sub["providers"] or "all"),
    Column("models", lambda sub: sub["models"] or "all"),
    Column("state", lambda sub: "active" if sub["active"] else "paused"),
    Column("secret", lambda sub: sub["secretFingerprint"]),
    Column("created (UTC)", lambda sub: utc_cell(sub["createdAt"])),
)


@app.command("list")
def list_webhooks(fmt: FormatOption = None, as_json: JsonOption = False) -> None:
    """List subscriptions (URL, filters, secret fingerprint); never the secrets."""
    from modelsync.services import webhooks

    found = webhooks.list_subscriptions(database())
    emit(found, _SUB_COLUMNS, chosen(fmt, as_json))


@app.command("disable")
def disable(
    subscription_id: Annotated[int, typer.Argument(metavar="ID", help="Subscription id (see `webhooks list`).")],
) -> None:
    """Pause a subscription: nothing is sent to it until `enable`; its events wait (within the retention)."""
    from modelsync.services import webhooks

    webhooks.set_active(database(), subscription_id, False, actor=operator())
    out.print(f"webhook {subscription_id} paused; `modelsync webhooks enable {subscription_id}` resumes it")


@app.command("enable")
def enable(
    subscription_id: Annotated[int, typer.Argument(metavar="ID", help="Subscription id (see `webhooks list`).")],
) -> None:
    """Resume a paused subscription: it catches up with the events stored since it stopped."""
    from modelsync.services import webhooks

    sub = webhooks.set_active(database(), subscription_id, True, actor=operator())
    out.print(f"webhook {subscription_id} active; it catches up from event {sub['lastEventId']}")


@app.command("rekey")
def rekey() -> None:
    """Re-encrypt every webhook secret under MODELSYNC_SECRET_KEY (after rotating it; the old key in ..._PREVIOUS)."""
    from modelsync.services import webhooks

    count = webhooks.rekey_secrets(database(), settings(), actor=operator())
    out.print(f"re-encrypted {count} webhook secret(s) under MODELSYNC_SECRET_KEY; MODELSYNC_SECRET_KEY_PREVIOUS "
              "can now be unset")  # fmt: skip


@app.command("remove")
def remove(
    subscription_id: Annotated[int, typer.Argument(metavar="ID", help="Subscription id (see `webhooks list`).")],
) -> None:
    """Remove a subscription and its pending deliveries."""
    from modelsync.services import webhooks

    webhooks.remove_subscription(database(), subscription_id, actor=operator())
    out.print(f"webhook {subscription_id} removed")


_DELIVERY_COLUMNS = (
    Column("id", lambda item: item["id"]),
    Column("webhook", lambda item: item["subscriptionId"]),
    Column("status", lambda item: item["status"]),
    Column("events", lambda item: item["events"]),
    Column("attempts", lambda item: item["attempts"]),
    Column("last status", lambda item: item["lastStatusCode"]),
    Column("last error", lambda item: item["lastError"]),
    Column("next attempt (UTC)", lambda item: utc_cell(item["nextAttemptAt"])),
    Column("delivered (UTC)", lambda item: utc_cell(item["deliveredAt"])),
)


@app.command("deliveries")
def deliveries(
    subscription_id: Annotated[int | None, typer.Argument(metavar="[ID]", help="Only this subscription's.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="How many, newest first.")] = 50,
    fmt: FormatOption = None,
    as_json: JsonOption = False,
) -> None:
    """List deliveries (batches of events) and their attempts, newest first."""
    from modelsync.services import webhooks

    found = webhooks.list_deliveries(database(), subscription_id, limit)
    emit(found, _DELIVERY_COLUMNS, chosen(fmt, as_json))


def report_deliveries(result: DeliveryRun) -> None:
    """One stderr line on what a delivery pass did, when it did anything."""
    if result.blocked:
        err.print(
            f"[yellow]webhooks:[/yellow] {result.pending} deliveries pending: {printable_message(result.blocked)}"
        )
        return
    if not (result.delivered or result.failed_attempts or result.pending):
        return
    line = f"webhooks: {result.delivered} delivered"
    if result.failed_attempts:
        line += f", {result.failed_attempts} failed attempts"
    if result.given_up:
        line += f", {result.given_up} given up"
    if result.pending:
        line += f", {result.pending} pending (`modelsync webhooks deliver` or the server sends them)"
    err.print(printable_message(line))


@app.command("deliver")
def deliver() -> None:
    """Send pending deliveries now (retries that are due included); exit 1 when some are left pending."""
    from modelsync.services.delivery import deliver_pending

    result = deliver_pending(database(), settings())
    out.print(f"{result.delivered} delivered, {result.failed_attempts} failed attempts, {result.pending} pending")
    if result.blocked:
        err.print(f"[yellow]warning:[/yellow] {printable_message(result.blocked)}")
    if result.pending:
        raise typer.Exit(1)


@app.command("test")
def test(
    subscription_id: Annotated[int, typer.Argument(metavar="ID", help="Subscription id (see `webhooks list`).")],
) -> None:
    """POST one signed `test` event to a subscription now; exit 1 when the receiver does not answer 2xx."""
    from modelsync.services.delivery import send_test

    code, error = send_test(database(), settings(), subscription_id)
    if error is not None:
        err.print(f"[bold red]webhook {subscription_id}:[/bold red] {printable_message(error)}")
        raise typer.Exit(1)
    out.print(f"webhook {subscription_id}: HTTP {code}")
