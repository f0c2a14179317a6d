"""The `findling` command: index, search, similar, duplicates, status, eval, reindex, roots, watch,
config and models.

Results go to stdout (only JSON with `--json`); progress and messages go to stderr. Each
command family is one module of this package, imported only when one of its commands runs
(so `findling search` never imports the watcher); `common` holds what they share.
"""

from __future__ import annotations

import importlib
import sys

import click

from indexer.cli.common import App
from indexer.cli.global_options import hoist
from indexer.cli.terminal import visible
from indexer.config import ConfigError, resolve_data_dir
from indexer.datadir import IndexBusy, ModelMismatch
from indexer.models.embedding import ModelUnavailable
from indexer.search.searcher import EmptyIndex
from indexer.store.catalog import CatalogOutdated
from indexer.store.errors import StoreUnavailable

EXPECTED_ERRORS = (IndexBusy, ModelMismatch, ModelUnavailable, EmptyIndex, CatalogOutdated, StoreUnavailable)

# command name -> "module:attribute" of its click command, in this package
COMMANDS = {
    "index": "index:index",
    "reindex": "index:reindex",
    "search": "search:search",
    "status": "status:status",
    "roots": "roots:roots",
    "eval": "eval:eval_command",
    "watch": "watch:watch",
    "pause": "watch:pause",
    "resume": "watch:resume",
    "export-onnx": "models:export_onnx",
    "models": "models:models",
    "config": "config:config_group",
    "similar": "similar:similar",
    "duplicates": "similar:duplicates",
}


class FindlingGroup(click.Group):
    """Takes its options anywhere in the command line (`global_options`), loads a command's module
    when the command is used, and turns the engine's expected errors into a plain message and exit 1."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist(self, args))

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name].split(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), attribute)

    def invoke(self, ctx: click.Context):  # noqa: ANN201 - click's signature
        try:
            return super().invoke(ctx)
        except EXPECTED_ERRORS as exc:
            raise click.ClickException(visible(str(exc))) from exc


@click.group(cls=FindlingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data-dir", envvar="FINDLING_DATA_DIR", type=click.Path(file_okay=False),
              help="Index location (default: the platform's user data dir). Env: FINDLING_DATA_DIR.")
@click.option("--model", envvar="FINDLING_MODEL",
              help="Embedding model: a hub id or a local directory. Env: FINDLING_MODEL.")
@click.option("--backend", envvar="FINDLING_BACKEND", type=click.Choice(["auto", "onnx", "torch"]),
              help="Embedding backend: ONNX Runtime when an export exists (auto), or PyTorch. "
                   "Env: FINDLING_BACKEND.")
@click.option("--store", envvar="FINDLING_STORE", default=None,
              help="A shared index on Milvus: milvus:///ABS/PATH.db?collection=NAME (Milvus Lite) or "
                   "milvus://[user[:password]@]HOST[:PORT]/COLLECTION[?secure=true] (token: env "
                   "FINDLING_MILVUS_TOKEN). Env: FINDLING_STORE; `store` in the config.")
@click.option("--yes", "assume_yes", is_flag=True,
              help="Agree to what would be asked (sending passage text to a remote --store).")
@click.version_option(package_name="findling")
@click.pass_context
def cli(ctx: click.Context, data_dir: str | None, model: str | None, backend: str | None, store: str | None,
        assume_yes: bool) -> None:
    """Findling: find your local files by meaning, offline.

    The options below also work after the command (`findling status --json --data-dir D`);
    `--` ends the options (`findling search -- --model` searches for "--model").
    """
    ctx.obj = App(resolve_data_dir(data_dir), model, backend)
    ctx.obj.store_uri = store
    ctx.obj.assume_yes = assume_yes


def main() -> None:
    try:
        cli(prog_name="findling")
    except ConfigError as exc:  # read outside `App.config` (e.g. by the data dir): the same message
        click.echo(str(exc), err=True)
        sys.exit(2)
