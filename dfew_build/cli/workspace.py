"""`dfew-build init`."""

from __future__ import annotations

import click


@click.command()
@click.argument("path", default=".", type=click.Path(file_okay=False))
@click.option("--database-url", metavar="URL",
              help="Store the database elsewhere, e.g. postgresql+psycopg://user@host/db "
                   "(default: PATH/dfew.sqlite). A password in it is kept out of dfew.toml, "
                   "in PATH/.dfew-database-password (mode 0600). DFEW_DATABASE_URL overrides "
                   "it at run time.")
def init(path: str, database_url: str | None) -> None:
    """Create a workspace in PATH (default: the current folder).

    Writes dfew.toml, creates the database through the migrations and the folders for
    clips, faces, reports and runs. Running it again on a workspace brings its database up
    to date and changes nothing else.
    """
    from dfew_build.cli.base import warn
    from dfew_build.db.session import redact_url
    from dfew_build.workspace import init_workspace

    workspace, created = init_workspace(path, database_url, warn=warn)
    verb = "Created" if created else "Workspace already exists, database up to date:"
    click.echo(f"{verb} {workspace.root}")
    click.echo(f"  config:   {workspace.config_path}")
    click.echo(f"  database: {redact_url(workspace.database_url)}")
    if workspace.password_path is not None:
        click.echo(f"  password: {workspace.password_path} (readable by you only, mode 0600; "
                   "dfew.toml holds the URL without it)")
    if created:
        click.echo(f"Next: dfew-build -w {workspace.root} ingest MOVIES...")
    workspace.close()
