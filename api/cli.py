"""The ``tunecast`` command line (typer): serve, worker, db, models."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from typing import Annotated

import typer

from storage.settings import get_settings

__all__ = ["app"]

app = typer.Typer(help="tunecast: predict what each way of adapting an LLM will cost and reach.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
models_app = typer.Typer(help="The base-model catalog.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(models_app, name="models")


def _configure_logging() -> None:
    logging.basicConfig(level=get_settings().log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def worker_command(queues: str, concurrency: int) -> list[str]:
    """The argv of a Celery worker process for these queues (the embedded broker has no fan-out, so no
    gossip/mingle/heartbeat)."""
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
    return command


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    worker: Annotated[bool, typer.Option("--worker/--no-worker", help="Also start an embedded Celery worker.")] = True,
) -> None:
    """Migrate and seed the database, then serve the API and UI (and an embedded worker)."""
    import uvicorn

    from api.app import create_app
    from api.catalog import prepare_database

    _configure_logging()
    settings = get_settings()
    prepare_database(settings)
    worker_process: subprocess.Popen[bytes] | None = None
    if worker:
        worker_process = subprocess.Popen(worker_command("cpu,gpu", 1))
        typer.echo(f"embedded worker started (pid {worker_process.pid}) on {settings.public()['broker_url']}")
    try:
        uvicorn.run(create_app(settings, prepare=False), host=host, port=port, log_level="info")
    finally:
        if worker_process is not None and worker_process.poll() is None:
            worker_process.send_signal(signal.SIGTERM)
            try:
                worker_process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker_process.kill()


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues to consume (gpu, cpu).")] = "gpu,cpu",
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
) -> None:
    """Run a Celery worker (in production: one per GPU machine, `--queues gpu`)."""
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(wanted) - {"gpu", "cpu"})
    if not wanted or unknown:
        raise typer.BadParameter(f"queues must be gpu and/or cpu, got {queues!r}", param_hint="--queues")
    raise SystemExit(subprocess.call(worker_command(",".join(wanted), concurrency)))


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
