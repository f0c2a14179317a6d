"""Reading `config.toml` safely: one plain message for a broken file, checked values, and a
warning (with the closest known name) for a misspelt key.

The types come from the `Config` dataclass itself, so a setting added there is checked without
more code; `RULES` adds the allowed values and ranges a type alone cannot say.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from collections.abc import Callable
from dataclasses import Field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

RESET_HINT = ("Fix the file, or run `findling config reset` to start again from the defaults "
              "(it keeps a backup, and your folders and excludes where the old file can be read).")


class ConfigError(ValueError):
    """config.toml cannot be used as it is; the message says where, what, and how to fix it."""

    def __init__(self, path: Path, problem: str, line: int | None = None) -> None:
        self.path, self.problem, self.line = path, problem, line
        where = f"{path}, line {line}" if line else str(path)
        super().__init__(f"Error in {where}: {problem}\n{RESET_HINT}")


def _one_of(*allowed: str) -> Callable[[Any], str | None]:
    names = ", ".join(f'"{name}"' for name in allowed)
    return lambda value: None if value in allowed else f"expected one of {names}"


def _at_least(low: float) -> Callable[[Any], str | None]:
    return lambda value: None if value >= low else f"expected a number of at least {low:g}"


def _between(low: float, high: float) -> Callable[[Any], str | None]:
    return lambda value: None if low <= value <= high else f"expected a number from {low:g} to {high:g}"


def _positive(value: float) -> str | None:
    return None if value > 0 else "expected a number above 0"


RULES: dict[str, Callable[[Any], str | None]] = {
    "search_mode": _one_of("dense", "keyword", "hybrid"),
    "backend": _one_of("auto", "onnx", "torch"),
    "chunk_tokens": _at_least(16),
    "chunk_overlap": _at_least(0),
    "max_file_mb": _positive,
    "embed_batch_size": _at_least(1),
    "threads": _at_least(0),
    "rerank_top": _at_least(1),
    "dense_weight": _at_least(0),
    "keyword_weight": _at_least(0),
    "battery_pause_below": _between(0, 100),
    "poll_interval": _positive,
    "ocr_min_side_px": _at_least(1),
    "ocr_timeout_s": _at_least(0),
    "compress_above": _at_least(1),
    "embedding_storage": _one_of("float32", "float16", "int8"),
}

_TYPE_NAMES = {"list[str]": "a list of strings, like [\"~/Documents\"]", "bool": "true or false",
               "int": "a whole number", "float": "a number", "str": "a string in quotes",
               "dict[str, str]": 'a table of strings, like {"/srv/share" = "/Volumes/share"}'}


def read_raw(path: Path) -> tuple[dict, str]:
    """The parsed file and its text; ConfigError for a folder, an unreadable, empty or invalid file."""
    if path.is_dir():
        raise ConfigError(path, "this is a folder, not a settings file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(path, f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise ConfigError(path, f"the file cannot be read ({exc.strerror or exc})") from exc
    if not text.strip():
        raise ConfigError(path, "the file is empty")
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = re.search(r"\(at line (\d+), column (\d+)\)", message)
        line = int(found.group(1)) if found else None
        if "end of document" in message:
            line = len(text.splitlines())
        problem = re.sub(r"\s*\((at line \d+, column \d+|at end of document)\)", "", message)
        raise ConfigError(path, f"this is not valid TOML: {problem}", line) from exc


def check(raw: dict, text: str, path: Path, fields: dict[str, Field],
          warn: Callable[[str], None] | None = None) -> dict:
    """The known settings of `raw`, each checked against its field's type and `RULES`.

    An unknown key is a warning naming the closest known key; a wrong value is a ConfigError.
    """
    known: dict = {}
    for key, value in raw.items():
        if key not in fields:
            if warn:
                close = difflib.get_close_matches(key, fields, n=1)
                hint = f" Did you mean `{close[0]}`?" if close else ""
                warn(f"Warning in {path}, line {line_of(text, key) or '?'}: `{key}` is not a setting; "
                     f"it is ignored.{hint}")
            continue
        problem = _type_problem(str(fields[key].type), value)
        if problem is None and key in RULES:
            problem = RULES[key](value)
        if problem is not None:
            raise ConfigError(path, f"{key}: {problem}, got {_shown(value)}", line_of(text, key))
        known[key] = value
    return known


def _type_problem(type_name: str, value: Any) -> str | None:
    expected = _TYPE_NAMES.get(type_name)
    if expected is None:
        return None  # a type this check does not know: left to the code that uses it
    if type_name == "list[str]":
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
    elif type_name == "dict[str, str]":
        ok = isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str)
                                             for k, v in value.items())
    elif type_name == "bool":
        ok = isinstance(value, bool)
    elif type_name == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif type_name == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        ok = isinstance(value, str)
    return None if ok else f"expected {expected}"


def _shown(value: Any) -> str:
    """A value as it is written in TOML (strings in double quotes, booleans in lower case)."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except TypeError:  # dates and times
        return str(value)


def line_of(text: str, key: str) -> int | None:
    pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            return number
    return None
