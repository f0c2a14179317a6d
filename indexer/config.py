"""Settings of one index: its roots, excludes, models and limits, kept in `config.toml`.

Each data dir is one index with its own config, so several indexes can live side by
side (`--data-dir`). The default data dir comes from platformdirs and is private (0700).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import platformdirs

from indexer.config_check import ConfigError, check, line_of, read_raw
from indexer.private import write_private_text

APP_NAME = "findling"
CONFIG_FILE = "config.toml"
DEFAULT_MODEL = "intfloat/multilingual-e5-small"
# No reranker by default: none can be had offline (Settings offers one once one is installed).
DEFAULT_RERANKER = ""
SUGGESTED_RERANKER = "cross-encoder/mmarco-mMiniLMv2-L12-H384-v1"  # multilingual, like the embedder

# Gitignore-style patterns excluded everywhere: private stores, credentials, caches, VCS and
# build output, partial downloads and editor temporaries. They match at any depth of the absolute
# path (`indexer.ingest.excludes`), whatever the root; a `!pattern` in `excludes` re-includes one.
DEFAULT_EXCLUDES: tuple[str, ...] = (
    # private stores: keys, keyrings, password managers, browser and mail profiles
    ".ssh/",
    ".gnupg/",
    ".pki/",
    ".password-store/",
    "keyrings/",
    ".local/share/keyrings/",
    ".local/share/kwalletd/",
    "Library/Keychains/",
    "*.kdbx",
    ".mozilla/",
    ".thunderbird/",
    ".config/google-chrome/",
    ".config/google-chrome-beta/",
    ".config/chromium/",
    ".config/BraveSoftware/",
    ".config/microsoft-edge/",
    ".config/vivaldi/",
    ".config/opera/",
    ".var/app/com.google.Chrome/",
    ".var/app/org.chromium.Chromium/",
    ".var/app/com.brave.Browser/",
    ".var/app/com.microsoft.Edge/",
    ".var/app/com.vivaldi.Vivaldi/",
    "Library/Application Support/Google/Chrome/",
    "Library/Application Support/Chromium/",
    "Library/Application Support/BraveSoftware/",
    "Library/Application Support/Microsoft Edge/",
    "Library/Application Support/Vivaldi/",
    "Library/Application Support/Firefox/",
    "AppData/Local/Google/Chrome/User Data/",
    "AppData/Local/Chromium/User Data/",
    "AppData/Local/BraveSoftware/",
    "AppData/Local/Microsoft/Edge/User Data/",
    "AppData/Local/Vivaldi/User Data/",
    "AppData/Roaming/Mozilla/",
    # credentials and tokens
    ".aws/credentials",
    ".netrc",
    "_netrc",
    ".git-credentials",
    ".pgpass",
    ".my.cnf",
    ".docker/config.json",
    ".kube/config",
    ".config/gh/hosts.yml",
    ".config/gcloud/",
    ".azure/",
    ".npmrc",
    ".pypirc",
    ".gem/credentials",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".vault-token",
    ".s3cfg",
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    "id_ecdsa_sk",
    "id_ed25519_sk",
    # shell and REPL histories
    ".*_history",
    ".history",
    ".histfile",
    ".zhistory",
    ".local/share/fish/fish_history",
    ".lesshst",
    ".viminfo",
    ".Rhistory",
    # trash and caches
    ".Trash/",
    ".Trash-*/",
    ".local/share/Trash/",
    "$RECYCLE.BIN/",
    ".cache/",
    "Library/Caches/",
    # VCS, build output, environments
    ".git/",
    ".hg/",
    ".svn/",
    "node_modules/",
    "__pycache__/",
    ".venv/",
    "venv/",
    ".tox/",
    ".mypy_cache/",
    ".pytest_cache/",
    # temporary and partial files
    "*.part",
    "*.crdownload",
    "*.tmp",
    "~$*",
    "*.swp",
    "*.swx",
    ".~lock.*",
    "*~",
)


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data dir from the argument, else `FINDLING_DATA_DIR`, else the platform default."""
    chosen = data_dir or os.environ.get("FINDLING_DATA_DIR") or default_data_dir()
    return Path(chosen).expanduser().resolve()


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) and make it readable by the user only."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


CONFIG_VERSION = 3


def _drop_allow_download(raw: dict) -> None:
    """2: models are downloaded only when the user asks (`findling models download`), so the
    `allow_download` switch for automatic downloads is gone."""
    raw.pop("allow_download", None)


def _no_default_reranker(raw: dict) -> None:
    """3: no reranker is configured by default (none can be had offline). Every saved config wrote
    the old default, so it cannot tell a choice from the default: the old default goes, and
    Settings offers it again when it is installed. Any other reranker stays."""
    if raw.get("reranker") == SUGGESTED_RERANKER:
        raw["reranker"] = ""


# Named, ordered config migrations: (the version a migration brings a config to, the migration).
CONFIG_MIGRATIONS = ((2, _drop_allow_download), (3, _no_default_reranker))


def migrate(raw: dict) -> dict:
    """A config as read from an older release, brought to `CONFIG_VERSION` (in place)."""
    version = raw.get("config_version", 1)
    for target, step in CONFIG_MIGRATIONS:
        if version < target:
            step(raw)
    raw["config_version"] = CONFIG_VERSION
    return raw


@dataclass
class Config:
    roots: list[str] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)
    use_default_excludes: bool = True
    model: str = DEFAULT_MODEL
    chunk_tokens: int = 256
    chunk_overlap: int = 32
    max_file_mb: float = 100.0  # also caps a file's extracted text
    # per-file budget of the extraction workers (indexer/ingest/workers.py); 0 turns one off
    extract_memory_mb: int = 512
    extract_timeout_s: float = 120.0
    # text recognition of images and scanned PDF pages (the `ocr` extra; indexer/ingest/ocr/)
    ocr: bool = True
    ocr_roots: list[str] = field(default_factory=list)  # empty: every root
    ocr_min_side_px: int = 100  # smaller pictures (icons, thumbnails) are skipped with a reason
    ocr_timeout_s: float = 120.0  # per file; the OCR worker is killed past it (0: no limit)
    backend: str = "auto"  # auto | onnx | torch
    embed_batch_size: int = 32
    threads: int = 0  # 0: let the libraries decide
    # search
    search_mode: str = "hybrid"  # dense | keyword | hybrid
    reranker: str = DEFAULT_RERANKER  # "" turns reranking off
    rerank_top: int = 30
    dense_weight: float = 1.0  # hybrid = dense_weight × dense + keyword_weight × keyword (normalised)
    keyword_weight: float = 1.0
    # vectors (issue 21)
    compress_above: int = 200_000  # embedded passages from which the vector index is compressed
    embedding_storage: str = "float32"  # float32 | float16 | int8: how the catalog stores embeddings
    # watching
    poll_roots: list[str] = field(default_factory=list)  # roots watched by polling (network drives)
    battery_pause_below: float = 20  # percent; pause background indexing on battery below this
    poll_interval: float = 5.0  # seconds, for polled roots
    # a shared index (issue 22): "" keeps everything on this machine
    store: str = ""  # milvus:///ABS/PATH.db?collection=NAME or milvus://[user@]HOST[:PORT]/COLLECTION
    store_consent: list[str] = field(default_factory=list)  # remote stores allowed to receive passage text
    path_map: dict[str, str] = field(default_factory=dict)  # writer path prefix → where it is mounted here

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @classmethod
    def load(cls, data_dir: Path, warn: Callable[[str], None] | None = None) -> Config:
        """The data dir's settings (defaults when there is no file). A broken file or a wrong value
        raises `ConfigError` with a message for people; an unknown key goes to `warn`."""
        path = data_dir / CONFIG_FILE
        if not path.exists() and not path.is_symlink():
            return cls()
        raw, text = read_raw(path)
        raw = migrate(raw)
        raw.pop("config_version", None)
        values = check(raw, text, path, {f.name: f for f in fields(cls)}, warn)
        config = cls(**values)
        if config.chunk_overlap >= config.chunk_tokens:
            raise ConfigError(path, "chunk_overlap: expected less than chunk_tokens "
                              f"({config.chunk_tokens}), got {config.chunk_overlap}",
                              line_of(text, "chunk_overlap"))
        return config

    def save(self, data_dir: Path) -> None:
        """Write the settings, keeping the file's comments and any keys this version does not know."""
        import tomlkit  # writing only: a search reads the file with tomllib
        import tomlkit.exceptions

        ensure_private_dir(data_dir)
        path = data_dir / CONFIG_FILE
        document = tomlkit.document()
        try:
            if path.is_file():
                document = tomlkit.parse(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomlkit.exceptions.ParseError):
            document = tomlkit.document()  # a broken file is replaced (`config reset` keeps a backup)
        migrate(document)  # settings an older release wrote and this one retired go, as on load
        for key, value in asdict(self).items():
            document[key] = value
        write_private_text(path, tomlkit.dumps(document))


def reset(data_dir: Path) -> tuple[Path | None, Config]:
    """Replace config.toml with the defaults, keeping the old file as `config.toml.bak-<time>` and,
    where it can still be read, its roots and excludes. Returns (the backup, the new config)."""
    path = data_dir / CONFIG_FILE
    config = Config()
    backup = None
    if path.exists() or path.is_symlink():
        try:
            raw, text = read_raw(path)
            kept = check({k: raw[k] for k in ("roots", "excludes") if k in raw}, text, path,
                         {f.name: f for f in fields(Config)})
            config = Config(**kept)
        except ConfigError:
            pass
        backup = data_dir / f"{CONFIG_FILE}.bak-{time.strftime('%Y%m%d-%H%M%S')}"
        os.replace(path, backup)
    config.save(data_dir)
    return backup, config
