"""What is never indexed: the data dir, the default excludes, the user's excludes; and symlinks.

The user's excludes are gitignore-style patterns (pathspec) matched relative to each root, and
a match there decides, so `!.env` re-includes what a default excludes. The default excludes
match at any depth of the absolute path, whatever the root (`~/.config` as a root still skips
`google-chrome/`, `/home` skips every `.ssh/`), and the data dir is never indexed.

Symlinks are judged by what they point to and never carry content into the index: a link to
a file is recorded as skipped, with its reason (broken, not a regular file, excluded, outside
the indexed folders, or "indexed under its own path" for a target inside the roots, which is
indexed once, as itself). The link's own name stays searchable.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path

import pathspec
from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

from indexer.config import DEFAULT_EXCLUDES, Config

LINK_BROKEN = "broken symlink"
LINK_NOT_REGULAR = "symlink to something that is not a regular file"
LINK_EXCLUDED = "symlink to an excluded file"
LINK_OUTSIDE = "symlink to a file outside the indexed folders"
LINK_INSIDE = "symlink to {target}, indexed under its own path"


def anywhere(pattern: str) -> str:
    """A gitignore pattern that matches at any depth (gitignore anchors patterns with a slash)."""
    negated, body = (pattern[:1], pattern[1:]) if pattern.startswith("!") else ("", pattern)
    if "/" in body.rstrip("/") and not body.startswith("**/"):
        body = "**/" + body.lstrip("/")
    return negated + body


def _posix(path: str) -> str:
    """An absolute path as pathspec matches it: forward slashes, no leading slash."""
    if os.sep != "/":
        path = path.replace(os.sep, "/")
    return path.lstrip("/")


class AnyDepth:
    """Gitignore patterns matched at any depth, all at once: one regular expression instead of
    one per pattern (pathspec tries each in turn, ~100 µs a path for the defaults; this ~5 µs).
    A negated pattern falls back to pathspec, whose last-match-wins order it needs."""

    _PREFIX = "^(?:.+/)?"  # what pathspec puts before a pattern that matches at any depth

    def __init__(self, patterns: Iterable[str]) -> None:
        lines = [anywhere(p) for p in patterns]
        compiled = [GitIgnoreSpecPattern(line) for line in lines]
        compiled = [c for c in compiled if c.include is not None]  # blank lines, comments
        if all(c.include and c.regex.pattern.startswith(self._PREFIX) for c in compiled):
            bodies = [re.sub(r"\(\?P<\w+>", "(?:", c.regex.pattern[len(self._PREFIX):]) for c in compiled]
            self._regex: re.Pattern[str] | None = (
                re.compile(self._PREFIX + "(?:" + "|".join(f"(?:{b})" for b in bodies) + ")")
                if bodies else None)
            self._spec = None
        else:
            self._regex, self._spec = None, pathspec.GitIgnoreSpec.from_lines(lines)

    def match(self, path: str) -> bool:
        """Whether `path` (slash-separated, relative; a folder ends with "/") is matched."""
        if self._spec is not None:
            return self._spec.match_file(path)
        return self._regex is not None and self._regex.match(path) is not None


def _below(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _relative(path: str, root: str) -> str:
    """`os.path.relpath(path, root)`, without its cost in the common case of a path below the root."""
    prefix = root.rstrip(os.sep) + os.sep
    if path.startswith(prefix) and ".." not in path:
        return path[len(prefix):]
    return os.path.relpath(path, root)


class Excludes:
    """What is never indexed, and how symlinks are judged.

    `patterns`: the user's excludes, relative to each root; a match there decides, so a
    `!pattern` re-includes what a default excludes. `defaults`: matched at any depth on the
    absolute path, and on the real path when a root is itself a symlink. `private`: folders
    never indexed whatever the patterns say (the data dir). `roots`: the indexed folders
    (and files); a symlink is indexed only through a target inside them.
    """

    def __init__(self, patterns: Iterable[str] = (), defaults: Iterable[str] = (),
                 private: Iterable[str | os.PathLike] = (), roots: Iterable[str] = ()) -> None:
        self.spec = pathspec.GitIgnoreSpec.from_lines(list(patterns))
        self.default_patterns = tuple(defaults)
        self.defaults = AnyDepth(self.default_patterns)
        self.private = sorted({form for folder in private
                               for form in (os.path.abspath(folder), os.path.realpath(folder))})
        self.roots = {os.path.abspath(r): os.path.realpath(r) for r in roots}

    @classmethod
    def for_config(cls, config: Config, data_dir: str | os.PathLike | None = None,
                   roots: Iterable[str] = ()) -> Excludes:
        """The rules of an index: its config's excludes, its data dir, its roots (config's and `roots`)."""
        return cls(config.excludes, DEFAULT_EXCLUDES if config.use_default_excludes else (),
                   [data_dir] if data_dir is not None else [], [*config.roots, *roots])

    def is_root(self, path: str) -> bool:
        return os.path.abspath(path) in self.roots

    def is_private(self, path: str) -> bool:
        """Inside the data dir (by the path as given, or as its root resolves)."""
        return self._private(self._forms(path))

    def _private(self, forms: list[str]) -> bool:
        return any(_below(form, folder) for form in forms for folder in self.private)

    def excluded(self, root: str, path: str, is_dir: bool = False) -> bool:
        """Whether `path` below `root` is excluded (its parent folders are judged on their own)."""
        relative = _relative(path, root) if self.spec.patterns else ".."
        if not relative.startswith(".."):
            decided = self.spec.check_file(_posix(relative) + ("/" if is_dir else "")).include
            if decided is not None:  # the user's pattern decides, a `!pattern` included
                return decided or self.is_private(path)
        return self.excluded_by_default(path, is_dir)

    def excluded_by_default(self, path: str, is_dir: bool = False) -> bool:
        """Excluded whatever the user's patterns say: the data dir and the default patterns."""
        suffix = "/" if is_dir else ""
        forms = self._forms(path)
        return self._private(forms) or any(self.defaults.match(_posix(form) + suffix) for form in forms)

    def default_reason(self, path: str, is_dir: bool = False) -> str | None:
        """Why `path` is excluded whatever the user's patterns say ("the data dir", or the default
        pattern that matches it), or None."""
        forms = self._forms(path)
        if self._private(forms):
            return "it is inside the index's own data folder"
        suffix = "/" if is_dir else ""
        for pattern in self.default_patterns:
            matcher = AnyDepth([pattern])
            if any(matcher.match(_posix(form) + suffix) for form in forms):
                return f"the default exclude {pattern!r} covers it"
        return None

    def excluded_anywhere(self, roots: list[str], path: str, is_dir: bool = False) -> bool:
        """Excluded relative to the root that contains `path`, or any of its parent folders."""
        for root in roots:
            relative = os.path.relpath(path, root)
            if relative.startswith(".."):
                continue
            parts = Path(relative).parts
            for depth in range(1, len(parts)):
                if self.excluded(root, os.path.join(root, *parts[:depth]), is_dir=True):
                    return True
            return self.excluded(root, path, is_dir)
        return self.excluded_by_default(path, is_dir)

    def link_reason(self, link: str) -> str | None:
        """Why the symlink `link` is recorded without content; None for a link to a folder (not followed)."""
        target = os.path.realpath(link)
        try:
            st = os.stat(target)
        except OSError:
            return LINK_BROKEN
        if stat.S_ISDIR(st.st_mode):
            return None
        if not stat.S_ISREG(st.st_mode):
            return LINK_NOT_REGULAR
        if self.excluded_by_default(target):
            return LINK_EXCLUDED
        for root, real_root in self.roots.items():
            if _below(target, real_root):
                as_scanned = root + target[len(real_root):]
                if self.excluded_anywhere([root], as_scanned):
                    return LINK_EXCLUDED
                return LINK_INSIDE.format(target=as_scanned)
        return LINK_OUTSIDE

    def _forms(self, path: str) -> list[str]:
        """`path` as given and, below a root that is a symlink, as that root resolves."""
        path = os.path.abspath(path)
        forms = [path]
        for root, real_root in self.roots.items():
            if real_root != root and _below(path, root):
                forms.append(real_root + path[len(root):])
        return forms
