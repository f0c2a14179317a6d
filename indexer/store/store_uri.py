"""Where a shared search store is: `--store URI` (env FINDLING_STORE, `store` in the config).

- `milvus:///ABS/PATH.db?collection=NAME`: Milvus Lite, embedded, a file on this machine;
- `milvus://[user[:password]@]HOST[:PORT]/COLLECTION[?secure=true]`: a Milvus server (Standalone
  or Distributed); the token may come from env `FINDLING_MILVUS_TOKEN` instead of user:password.

Only a remote store sends passage text off this machine (`remote`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_COLLECTION = "findling"
DEFAULT_PORT = 19530
TOKEN_ENV = "FINDLING_MILVUS_TOKEN"
_COLLECTION = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,200}")


class BadStoreUri(ValueError):
    """A --store value that is not a store URI; the message says the forms."""


FORMS = ("milvus:///ABS/PATH.db?collection=NAME (Milvus Lite) or "
         "milvus://[user[:password]@]HOST[:PORT]/COLLECTION[?secure=true]")
# asked once per remote store, by the CLI and the app alike (kept in the config's `store_consent`)
CONSENT = ("{shown} is a Milvus server: indexing or searching it sends passage text (and file paths) "
           "off this machine to that server. Default excludes still apply.")


@dataclass(frozen=True)
class StoreTarget:
    """A parsed store URI: what `pymilvus.MilvusClient` is given, and the collection."""

    uri: str  # a .db path (Milvus Lite) or http(s)://host:port
    collection: str
    token: str = ""  # user:password, or FINDLING_MILVUS_TOKEN
    remote: bool = False
    shown: str = ""  # the URI without its password, for messages and the consent list

    @property
    def lite(self) -> bool:
        return not self.remote


def parse_store_uri(text: str, environ: dict[str, str] | None = None) -> StoreTarget:
    environ = os.environ if environ is None else environ
    parts = urlsplit(text.strip())
    if parts.scheme != "milvus":
        raise BadStoreUri(f"Not a store URI: {text!r}. Use {FORMS}.")
    query = parse_qs(parts.query)
    unknown = set(query) - {"collection", "secure"}
    if unknown:
        raise BadStoreUri(f"Unknown store URI option {sorted(unknown)[0]!r} in {text!r}. Use {FORMS}.")
    if not parts.netloc:  # milvus:///abs/path.db
        path = unquote(parts.path)
        if not path.endswith(".db") or not os.path.isabs(path):
            raise BadStoreUri(f"A Milvus Lite store is an absolute path ending in .db: {text!r}. "
                              f"Use {FORMS}.")
        collection = query.get("collection", [DEFAULT_COLLECTION])[0]
        _check_collection(collection, text)
        return StoreTarget(path, collection, shown=f"milvus://{path}?collection={collection}")
    if parts.netloc.endswith(".db") or parts.path.endswith(".db"):
        raise BadStoreUri(f"A Milvus Lite store is an absolute path ending in .db, after three slashes: "
                          f"milvus:///ABS/PATH.db, not {text!r}.")
    if "collection" in query:
        raise BadStoreUri(f"A server store names its collection in the path: {text!r}. Use {FORMS}.")
    collection = parts.path.strip("/") or DEFAULT_COLLECTION
    _check_collection(collection, text)
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise BadStoreUri(f"Bad port in {text!r}.") from exc
    host = parts.hostname or ""
    if not host:
        raise BadStoreUri(f"No host in {text!r}. Use {FORMS}.")
    secure = query.get("secure", ["false"])[0].lower() in ("1", "true", "yes")
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    token = f"{user}:{password}" if user else environ.get(TOKEN_ENV, "")
    scheme = "https" if secure else "http"
    at = f"{user}@" if user else ""
    shown = f"milvus://{at}{host}:{port}/{collection}" + ("?secure=true" if secure else "")
    return StoreTarget(f"{scheme}://{host}:{port}", collection, token, True, shown)


def _check_collection(name: str, text: str) -> None:
    if not _COLLECTION.fullmatch(name):
        raise BadStoreUri(f"A collection name is letters, digits and '_', not starting with a digit: "
                          f"{name!r} in {text!r}.")


def without_password(text: str) -> str:
    """The store URI with no user:password in it (the token then comes from FINDLING_MILVUS_TOKEN);
    `text` itself when it holds none."""
    parts = urlsplit(text.strip())
    if parts.scheme != "milvus" or parts.password is None:
        return text.strip()
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=host).geturl()


def shared_refusal(command: str, shown: str) -> str:
    """Why `similar` and `duplicates` do not run on a shared index (the CLI's and the app's words)."""
    return (f"`findling {command}` reads the local catalog's file vectors, which a shared index does not "
            f"hold; it is not available with --store {shown}. Run it on the writer, without --store.")
