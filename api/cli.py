"""The ``tunecast`` command line (typer): serve, worker, db, models."""

from __future__ import annotations

import logging
import logging.config
import os
import sys
from typing import Annotated, Any

import typer

from storage.log_context import logging_config
from storage.settings import Settings, export_for_child_processes, get_settings

__all__ = ["app"]

app = typer.Typer(help="tunecast: predict what each way of adapting an LLM will cost and reach.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
models_app = typer.Typer(help="The base-model catalog.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(models_app, name="models")
keys_app = typer.Typer(help="API keys (hashed with argon2; the key is shown once, when created).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _configure_logging() -> None:
    settings = get_settings()
    logging.config.dictConfig(logging_config(settings.log_level, settings.log_format))


def _uvicorn_log_config(settings: Settings) -> dict[str, Any]:
    """The same logging set-up as ours: uvicorn applies it in every process it serves from (``--workers N``
    too), and its access log then carries the request id, in JSON or text lines."""
    return logging_config(settings.log_level, settings.log_format)


def worker_command(queues: str, concurrency: int) -> list[str]:
    """The argv of a Celery worker process for these queues (the embedded broker has no fan-out, so no
    gossip/mingle/heartbeat; JSON logs go without Celery's banner)."""
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.app:celery_app",
        "worker",
        "--queues",
        queues,
        "--concurrency",
        str(concurrency),
        "--loglevel",
        "INFO",
        "--hostname",
        f"tunecast-{queues.replace(',', '-')}@%h",
    ]
    if get_settings().broker_is_embedded:
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    if get_settings().log_format == "json":
        command.insert(3, "--quiet")  # no start-up banner among the JSON lines (the ready lines say as much)
    return command


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    worker: Annotated[bool, typer.Option("--worker/--no-worker", help="Also start an embedded Celery worker.")] = True,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="API processes (more than one needs --no-worker).")
    ] = 1,
) -> None:
    """Migrate and seed the database, then serve the API and UI (and a supervised embedded worker)."""
    import uvicorn

    from api.embedded_worker import EmbeddedWorker
    from api.preflight import what_is_missing

    _configure_logging()
    missing = what_is_missing(None)
    if missing:
        typer.echo(f"tunecast cannot start: {missing}", err=True)
        raise typer.Exit(1)
    if workers > 1 and worker:
        raise typer.BadParameter(
            "several API processes serve the API only: add --no-worker and run `tunecast worker` beside them",
            param_hint="--workers",
        )
    from api.app import create_app, freeze_start_up_objects
    from api.catalog import prepare_database

    settings = _require_keys_beyond_loopback(get_settings(), host)
    if settings.require_api_keys and get_settings().require_api_keys is None:
        export_for_child_processes("TUNECAST_REQUIRE_API_KEYS", "true")  # the --workers N processes
    _warn_without_keys(settings)
    prepare_database(settings)
    log_level = settings.log_level.lower()  # INFO keeps uvicorn's access log; WARNING drops it
    if workers > 1:
        from api.metrics import prepare_multiprocess_dir

        # Each process counts its requests into files here, and /metrics on any of them sums them all.
        prepare_multiprocess_dir(settings.data_dir / "metrics")
        uvicorn.run(
            "api.app:create_service_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            log_config=_uvicorn_log_config(settings),
        )
        return
    embedded: EmbeddedWorker | None = None
    if worker:
        missing = what_is_missing("worker")
        if missing:
            typer.echo(f"embedded worker not started: {missing}", err=True)
            embedded = EmbeddedWorker.unavailable(f"not started: {missing}")
        else:
            embedded = EmbeddedWorker(worker_command("cpu,gpu", 1))
    # The embedded worker starts and stops with the app's lifespan, so uvicorn's SIGTERM/SIGINT handling
    # (which re-raises the signal once the server is down) stops it before the process exits.
    app_ = create_app(settings, prepare=False, embedded_worker=embedded)
    freeze_start_up_objects()
    uvicorn.run(app_, host=host, port=port, log_level=log_level, log_config=_uvicorn_log_config(settings))


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues to consume (gpu, cpu).")] = "gpu,cpu",
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
) -> None:
    """Run a Celery worker (in production: one per GPU machine, `--queues gpu`)."""
    from api.preflight import what_is_missing

    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(wanted) - {"gpu", "cpu"})
    if not wanted or unknown:
        raise typer.BadParameter(f"queues must be gpu and/or cpu, got {queues!r}", param_hint="--queues")
    missing = what_is_missing(None, "worker")
    if missing:
        typer.echo(f"tunecast worker cannot start: {missing}", err=True)
        raise typer.Exit(1)
    command = worker_command(",".join(wanted), concurrency)
    sys.stdout.flush()
    sys.stderr.flush()
    # Celery becomes this process (no wrapper left): SIGTERM from `docker stop` or the kubelet reaches it
    # directly, also as a container's PID 1, and it stops taking runs and finishes the one in flight.
    os.execv(command[0], command)


def _require_keys_beyond_loopback(settings: Settings, host: str) -> Settings:
    """Listening beyond loopback means strangers can reach the API: keys are required unless the settings
    say otherwise (``TUNECAST_REQUIRE_API_KEYS=false``)."""
    import ipaddress

    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if settings.require_api_keys is None and not loopback:
        return settings.model_copy(update={"require_api_keys": True})
    return settings


def _warn_without_keys(settings: Settings) -> None:
    from storage.db import session_scope
    from storage.migrate import upgrade
    from storage.repositories import api_keys as keys_repo

    if not settings.api_keys_required:
        return
    settings.ensure_data_dir()
    upgrade(settings.database_url)
    with session_scope(settings.database_url) as session:
        if keys_repo.live_key_count(session=session) == 0:
            typer.echo(
                "API keys are required and none exists: create one with "
                "`tunecast keys create --name admin --scope admin`",
                err=True,
            )


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who or what uses the key (a person, a CI pipeline).")],
    scope: Annotated[list[str] | None, typer.Option("--scope", help="read, plan, run or admin (repeatable).")] = None,
) -> None:
    """Create a key and print it once (only its argon2 hash is stored)."""
    from storage.db import session_scope
    from storage.migrate import upgrade
    from storage.repositories import api_keys as keys_repo

    settings = get_settings()
    settings.ensure_data_dir()
    upgrade(settings.database_url)
    with session_scope(settings.database_url) as session:
        try:
            row, token = keys_repo.create_key(session=session, name=name, scopes=scope or ["read"])
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--scope") from None
        typer.echo(f"created key {row.id} ({row.name}; scopes {', '.join(row.scopes)}). It is shown only now:")
        typer.echo(token)


@keys_app.command("list")
def keys_list() -> None:
    """Every key: id, name, scopes, created, last used, revoked (never the key itself)."""
    from storage.db import session_scope
    from storage.repositories import api_keys as keys_repo

    settings = get_settings()
    with session_scope(settings.database_url) as session:
        rows = keys_repo.list_keys(session=session)
        typer.echo(f"{'id':<14}{'name':<24}{'scopes':<22}{'created':<22}{'last used':<22}revoked")
        for row in rows:
            when = [
                f"{value:%Y-%m-%d %H:%M:%S}" if value else "-"
                for value in (row.created_at, row.last_used_at, row.revoked_at)
            ]
            typer.echo(f"{row.id:<14}{row.name[:23]:<24}{','.join(row.scopes):<22}{when[0]:<22}{when[1]:<22}{when[2]}")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (from `tunecast keys list`).")]) -> None:
    """Revoke a key: refused everywhere within 30 s (API processes remember a verified key that long)."""
    from storage.db import session_scope
    from storage.errors import NotFoundError
    from storage.repositories import api_keys as keys_repo

    settings = get_settings()
    with session_scope(settings.database_url) as session:
        try:
            row = keys_repo.revoke_key(session=session, key_id=key_id)
        except NotFoundError:
            typer.echo(f"no API key {key_id!r}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"revoked key {row.id} ({row.name})")


@keys_app.command("audit")
def keys_audit(
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="How many writes, latest first.")] = 50,
    key: Annotated[str | None, typer.Option(help="Only this key's writes (its id).")] = None,
    request_id: Annotated[str | None, typer.Option(help="Only the write of this X-Request-ID.")] = None,
) -> None:
    """The audit log: every write, latest first (when, key, method, route, entity, status, request id)."""
    from storage.db import session_scope
    from storage.repositories import api_keys as keys_repo

    settings = get_settings()
    with session_scope(settings.database_url) as session:
        rows = keys_repo.list_audit_events(
            session=session, limit=limit, key_ids=[key] if key else None, request_id=request_id
        )
        typer.echo(f"{'when':<21}{'key':<14}{'method':<8}{'route':<36}{'entity':<34}{'status':<8}request id")
        for row in rows:
            typer.echo(
                f"{row.at:%Y-%m-%d %H:%M:%S}  {row.key_id or '-':<14}{row.method:<8}{row.route[:35]:<36}"
                f"{(row.entity or '-')[:33]:<34}{row.status_code:<8}{row.request_id or '-'}"
            )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the latest revision and seed the catalogs."""
    from api.catalog import prepare_database
    from storage.migrate import current_revision

    _configure_logging()
    settings = get_settings()
    changed = prepare_database(settings)
    typer.echo(f"database {settings.public()['database_url']} at revision {current_revision(settings.database_url)}")
    typer.echo("catalog rows changed: " + ", ".join(f"{k} {v}" for k, v in changed.items()))


@db_app.command("current")
def db_current() -> None:
    """Print the database's current revision."""
    from storage.migrate import current_revision, head_revision

    settings = get_settings()
    typer.echo(f"current {current_revision(settings.database_url)} (head {head_revision()})")


@app.command()
def gate(
    plan_file: Annotated[str, typer.Argument(help="Plan file (YAML or JSON); '-' reads standard input.")],
    server: Annotated[
        str | None, typer.Option(help="Ask a tunecast server (POST /v1/gate) instead of computing here.")
    ] = None,
    junit: Annotated[str | None, typer.Option(help="Write a JUnit XML report here.")] = None,
    markdown: Annotated[
        str | None, typer.Option(help="Write a Markdown summary here (e.g. $GITHUB_STEP_SUMMARY).")
    ] = None,
) -> None:
    """Fail a CI job when a fine-tune plan is predicted to miss its target or budget.

    Exit 0: passes; 1: a requirement fails (which, by how much, and what would pass); 2: invalid file.
    """
    import sys as _sys
    from pathlib import Path

    from api.gating import junit_xml
    from api.planfile import PlanFileError, line_of, load_plan_file
    from api.schemas.gate import GateReport

    try:
        text = _sys.stdin.read() if plan_file == "-" else Path(plan_file).read_text(encoding="utf-8")
    except OSError as exc:
        typer.echo(f"{plan_file}: cannot read: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    try:
        plan = load_plan_file(text)
    except PlanFileError as exc:
        typer.echo(f"{plan_file}:{exc.line or 1}: invalid plan file: {exc}", err=True)
        raise typer.Exit(2) from None

    if server:
        import httpx

        response = httpx.post(
            server.rstrip("/") + "/v1/gate", json=plan.model_dump(mode="json", exclude_none=True), timeout=300
        )
        if response.status_code == 422:
            body = response.json()
            pointer = (body.get("errors") or [{}])[0].get("pointer", "#/")
            path = [int(p) if p.isdigit() else p for p in pointer.removeprefix("#/").split("/") if p]
            typer.echo(f"{plan_file}:{line_of(text, path) or 1}: invalid plan: {body.get('detail')}", err=True)
            raise typer.Exit(2)
        response.raise_for_status()
        report = GateReport.model_validate(response.json())
    else:
        from api.catalog import prepare_database
        from api.gating import evaluate_gate
        from predictors.errors import InfeasibleError, InvalidInputError
        from storage.db import session_scope

        settings = get_settings()
        prepare_database(settings)
        with session_scope(settings.database_url) as session:
            try:
                report = evaluate_gate(session=session, plan_file=plan)
            except (InvalidInputError, InfeasibleError) as exc:
                path = [
                    int(p) if p.isdigit() else p for p in exc.field.replace("[", ".").replace("]", "").split(".") if p
                ]
                typer.echo(f"{plan_file}:{line_of(text, path) or 1}: invalid plan: {exc}", err=True)
                raise typer.Exit(2) from None

    typer.echo(_gate_table(report))
    if junit:
        Path(junit).write_text(junit_xml(report), encoding="utf-8")
    if markdown:
        with open(markdown, "a", encoding="utf-8") as handle:
            handle.write(report.markdown)
    raise typer.Exit(report.exit_code)


def _gate_table(report: object) -> str:
    from api.schemas.gate import GateReport

    assert isinstance(report, GateReport)
    lines = [f"tunecast gate{f' ({report.name})' if report.name else ''}: {'PASS' if report.passed else 'FAIL'}"]
    lines.append(report.summary)
    if report.chosen:
        accuracy = report.chosen["accuracy"]
        lines.append(
            f"chosen: #{report.chosen['index']} accuracy {accuracy['mean']:.3f} [{accuracy['lower']:.3f}, "
            f"{accuracy['upper']:.3f}] {accuracy['tier']}, ${report.chosen['total_usd']:.4g}"
        )
    lines.append(f"{'requirement':48} {'required':>10} {'predicted':>10} {'margin':>10}  result")

    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.4g}"

    for r in report.requirements:
        lines.append(
            f"{r.name:48} {fmt(r.required):>10} {fmt(r.predicted):>10} {fmt(r.margin):>10}  {'pass' if r.passed else 'FAIL'}"
        )
    for alternative in report.alternatives:
        lines.append(f"alternative: {alternative['why']}: {alternative['label']}")
    return "\n".join(lines)


@app.command("plan-schema")
def plan_schema() -> None:
    """Print the JSON Schema of plan files."""
    from api.planfile import dump_schema

    typer.echo(dump_schema(), nl=False)


def _human(count: int) -> str:
    for unit, size in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if count >= size:
            return f"{count / size:.2f}{unit}"
    return str(count)


@models_app.command("list")
def models_list(
    family: Annotated[str | None, typer.Option(help="Only this family.")] = None,
) -> None:
    """List the catalog's models with their derived parameter counts."""
    from api.catalog import prepare_database
    from storage.db import session_scope
    from storage.repositories import catalog as catalog_repo

    settings = get_settings()
    prepare_database(settings)
    with session_scope(settings.database_url) as session:
        page = catalog_repo.list_models(session=session, limit=1000, offset=0, family=family)
        typer.echo(f"{'id':32} {'family':14} {'type':10} {'params':>9} {'active':>9} {'ctx':>7}")
        for row in page.items:
            context = row.architecture.get("max_position_embeddings") or row.architecture.get("n_positions") or ""
            typer.echo(
                f"{row.id:32} {row.family:14} {row.model_type:10} {_human(row.total_params):>9} "
                f"{_human(row.active_params):>9} {context!s:>7}"
            )
        typer.echo(f"{page.total} models")
