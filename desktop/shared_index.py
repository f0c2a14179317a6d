"""The app on a shared index (issue 22): the store the config names, consent, opening it, what it holds.

`store` in the config empty: the app searches this computer's index. A Milvus URI (the forms
`findling --store` takes): the app searches that store through `MilvusStore`, with no local
catalog, and does not index; the writer is `findling --store URI index` (or `watch`) on the
machine that owns the share. A Milvus *server* is used only once the user agreed that passage
text and paths leave this machine (the CLI's words, kept in `store_consent` as the CLI keeps them).
No Qt here: these run on the engine's worker threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from indexer.store.store_uri import (
    CONSENT,
    TOKEN_ENV,
    BadStoreUri,
    StoreTarget,
    parse_store_uri,
    shared_refusal,
)

if TYPE_CHECKING:
    from indexer.config import Config
    from indexer.store.milvus_store import MilvusStore

READ_ONLY = ("This app searches the shared index and does not index: its writer runs "
             "`findling --store URI index FOLDER` (or `watch`) on the machine that owns the share.")
TOKEN_HELP = (f"A server's token (user:password, or an API key) is read from the environment variable "
              f"{TOKEN_ENV} of the app's session; a password typed into the URI is saved only if you agree.")

MOUNT_HINT = ("On a shared index, `path_map` in config.toml maps the writer's folders to where the share is "
              "mounted here (e.g. \"/srv/share\" = \"/Volumes/share\").")


class ConsentNeeded(RuntimeError):
    """A Milvus server the user has not yet agreed to send passage text to."""

    def __init__(self, target: StoreTarget) -> None:
        super().__init__(consent_text(target))
        self.target = target


@dataclass(frozen=True)
class SharedState:
    """What the Index panel says of the shared index: its size and model, or why it cannot be read."""

    shown: str  # the URI without its password
    passages: int = 0
    files: int = 0
    model: str | None = None
    problem: str = ""


def is_shared(config: Config) -> bool:
    return bool(config.store.strip())


def shared_target(config: Config) -> StoreTarget | None:
    """The store the config names (None: the local index); BadStoreUri when it is not a store URI."""
    return parse_store_uri(config.store) if is_shared(config) else None


def shown_uri(config: Config) -> str:
    """The configured store for people: without its password (the text itself if it does not parse)."""
    try:
        target = shared_target(config)
    except BadStoreUri:
        return config.store.strip()
    return target.shown if target is not None else ""


def uri_problem(text: str) -> str:
    """Why `text` is not a store URI, or "" (empty is fine: the local index)."""
    if not text.strip():
        return ""
    try:
        parse_store_uri(text)
    except BadStoreUri as exc:
        return str(exc)
    return ""


def refusal(config: Config, command: str) -> str:
    """Why `command` (similar, duplicates) does not run on the shared index, in the CLI's words; "" on
    the local index. They read the writer's file vectors, which the store does not hold."""
    return shared_refusal(command, shown_uri(config)) if is_shared(config) else ""


def consent_text(target: StoreTarget) -> str:
    return CONSENT.format(shown=target.shown)


def needs_consent(config: Config, target: StoreTarget) -> bool:
    return target.remote and target.shown not in config.store_consent


def open_shared(config: Config) -> MilvusStore:
    """The configured shared store, connected. Raises BadStoreUri, ConsentNeeded, StoreUnavailable or
    StoreEmpty, each with a message for the user."""
    from indexer.store.milvus_store import MilvusStore

    target = shared_target(config)
    if target is None:
        raise ValueError("no shared index is configured")
    if needs_consent(config, target):
        raise ConsentNeeded(target)
    return MilvusStore(target, config.path_map)


def expected_errors() -> tuple[type[BaseException], ...]:
    """What opening or reading a shared index raises with a message meant for the user."""
    from indexer.datadir import ModelMismatch
    from indexer.store.errors import StoreBusy, StoreEmpty, StoreUnavailable

    return (BadStoreUri, ConsentNeeded, StoreUnavailable, StoreEmpty, StoreBusy, ModelMismatch)


_FILES: dict[tuple[str, int, str | None], int] = {}  # (store, passages, writer's generation) → files


def shared_state(config: Config) -> SharedState:
    """The shared index's passages, files and model, read from the store (never raises)."""
    shown = shown_uri(config)
    try:
        store = open_shared(config)
    except expected_errors() as exc:
        return SharedState(shown, problem=str(exc))
    try:
        stats = store.stats()
        counted = (shown, stats.passages, store.meta.get("generation"))
        if counted not in _FILES:  # a scan of the store's file ids: once per state of the writer's index
            _FILES[counted] = store.file_count()
        return SharedState(shown, stats.passages, _FILES[counted], stats.model)
    except expected_errors() as exc:
        return SharedState(shown, problem=str(exc))
    finally:
        store.close()
