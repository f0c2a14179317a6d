"""Packaging follows the code: the spec's hidden imports and the entry points name modules that exist."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

import indexer.cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "findling.spec"
PACKAGES = ("indexer", "desktop")


def hidden_imports() -> list[str]:
    """The `hiddenimports = [...]` list of the PyInstaller spec, read without running it."""
    for node in ast.parse(SPEC.read_text(encoding="utf-8")).body:
        names = [getattr(target, "id", None) for target in getattr(node, "targets", [])]
        if isinstance(node, ast.Assign) and "hiddenimports" in names:
            return ast.literal_eval(node.value)
    raise AssertionError(f"no hiddenimports list in {SPEC}")


def entry_points() -> list[str]:
    """`module:attribute` of every console and GUI script in pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [*project.get("scripts", {}).values(), *project.get("gui-scripts", {}).values()]


def packaging_entries() -> list[str]:
    """The modules packaging/entry_*.py import (PyInstaller's analysis starts from them)."""
    found = []
    for script in sorted((ROOT / "packaging").glob("entry_*.py")):
        for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
            ours = isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PACKAGES
            if ours:
                found += [f"{node.module}:{alias.name}" for alias in node.names]
    return found


@pytest.mark.parametrize("name", hidden_imports())
def test_every_hidden_import_resolves(name: str) -> None:
    if name == "PySide6.QtDBus" and sys.platform != "linux":
        pytest.skip("QtDBus exists on Linux only")
    assert importlib.util.find_spec(name) is not None, f"{SPEC.name} lists {name}, which does not exist"


@pytest.mark.parametrize("target", entry_points() + packaging_entries())
def test_every_entry_point_resolves(target: str) -> None:
    module, _, attribute = target.partition(":")
    assert importlib.util.find_spec(module) is not None, f"{target}: no module {module}"
    assert callable(getattr(importlib.import_module(module), attribute)), f"{target}: no {attribute}"


def test_the_commands_loaded_by_name_are_hidden_imports() -> None:
    """PyInstaller cannot see `importlib.import_module`: each command module must be listed."""
    listed = set(hidden_imports())
    modules = {f"indexer.cli.{target.split(':')[0]}" for target in indexer.cli.COMMANDS.values()}
    assert modules - listed == set()
    for target in indexer.cli.COMMANDS.values():
        module, attribute = target.split(":")
        assert importlib.util.find_spec(f"indexer.cli.{module}") is not None
