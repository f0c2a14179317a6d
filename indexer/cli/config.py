"""`findling config reset|path`: the index's settings file (config.toml)."""

from __future__ import annotations

import click

from indexer.cli.common import App, say


@click.group("config")
def config_group() -> None:
    """The index's settings file (config.toml)."""


@config_group.command("reset")
@click.pass_obj
def config_reset(app: App) -> None:
    """Start again from the default settings, keeping a backup of config.toml and, where the old
    file can be read, its folders and excludes."""
    from indexer.config import reset

    backup, config = reset(app.data.path)
    app.config = config
    if backup is not None:
        say(f"Saved the old settings as {backup}.")
    kept = f"; kept {len(config.roots)} folder(s) and {len(config.excludes)} exclude(s)" if backup else ""
    say(f"Wrote default settings to {app.data.path / 'config.toml'}{kept}.")


@config_group.command("path")
@click.pass_obj
def config_path(app: App) -> None:
    """Print where this index's config.toml is."""
    click.echo(str(app.data.path / "config.toml"))
