"""Settings → Download: the app's one way to fetch a model, with progress and a plain result."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from test_network import fake_snapshot, hub_repo  # noqa: E402

from desktop.settings import SettingsDialog  # noqa: E402
from indexer.config import Config  # noqa: E402
from indexer.models.onnx_runtime import MODELS_DIR_ENV  # noqa: E402


def test_settings_downloads_the_named_model_with_progress(qtbot, tmp_path: Path, tiny_e5_dir: Path,  # noqa: ANN001
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path / "models"))
    repo = hub_repo(tiny_e5_dir, tmp_path / "hub" / "acme--tiny-e5", with_onnx=True)
    calls: list[tuple] = []
    dialog = SettingsDialog(Config(), "auto", data_dir=tmp_path / "data")
    qtbot.addWidget(dialog)
    assert not hasattr(dialog, "allow_download")  # no automatic downloads to switch on
    dialog.model.setCurrentText("acme/tiny-e5")
    dialog.download_model(snapshot=fake_snapshot(repo, calls))
    assert not dialog.download_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.download_button.isEnabled(), timeout=30_000)
    assert [c[0] for c in calls] == ["acme/tiny-e5"]
    assert "runs on ONNX Runtime" in dialog.download_status.text()
    assert dialog.download_bar.isHidden()
