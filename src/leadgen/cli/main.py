"""The ``leadgen`` command."""

from __future__ import annotations

import typer

from leadgen.cli import admin, audit, model, privacy, serve, sources, stores
from leadgen.cli.boundary import LeadgenGroup
from leadgen.ops.cli import app as k8s_app

app = typer.Typer(
    name="leadgen",
    help="Insurance lead platform: run it, migrate it, manage it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Known mistakes (an unreachable database, an unknown revision) are one line, not a traceback.
    cls=LeadgenGroup,
)
app.command()(serve.up)
app.command()(serve.serve)
app.command()(serve.targets)
app.command("check-config")(serve.check_config)
app.add_typer(admin.db_app, name="db")
app.add_typer(admin.users_app, name="users")
app.add_typer(admin.keys_app, name="api-keys")
app.add_typer(sources.app, name="sources")
app.add_typer(admin.dnc_app, name="do-not-contact")
app.add_typer(admin.privacy_app, name="privacy")
admin.privacy_app.add_typer(privacy.app)  # erasures carried over a restore from a backup
app.add_typer(audit.app, name="audit")
app.add_typer(admin.demo_app, name="demo")
app.add_typer(stores.graph_app, name="graph")
app.add_typer(stores.vectors_app, name="vectors")
app.add_typer(model.app, name="model", help="Train and evaluate the lead score model.")
app.add_typer(
    k8s_app, name="k8s", help="Operate a Kubernetes deployment: deploy, rollback, scale, debug, health-check."
)
