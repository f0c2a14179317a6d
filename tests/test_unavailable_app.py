"""The app tells the user which folders are out of reach (issue 12): the Index panel and the tray."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from helpers import index_folder  # noqa: E402
from test_shell import WAIT, make_shell  # noqa: E402

from indexer.config import Config  # noqa: E402
from indexer.write.availability import NOT_FOUND  # noqa: E402


def test_the_index_panel_and_the_tray_show_an_unplugged_folder(qtbot, tmp_path: Path,  # noqa: ANN001
                                                              tiny_model_dir: Path) -> None:
    home, drive, data = tmp_path / "home", tmp_path / "usb-drive", tmp_path / "data"
    for folder, text in ((home, "Notes about the garden."), (drive, "Scans of the lighthouse letters.")):
        folder.mkdir()
        (folder / "note.txt").write_text(text)
    config = Config(roots=[str(home), str(drive)], model=str(tiny_model_dir), reranker="",
                    )
    for folder in (home, drive):
        index_folder(folder, data, tiny_model_dir, config)
    config.save(data)
    shutil.move(drive, tmp_path / "unplugged")

    shell = make_shell(qtbot, data, use_tray=True)
    try:
        panel = shell.window.index_panel
        qtbot.waitUntil(lambda: panel.unavailable.text() != "", timeout=WAIT)
        assert f"{drive}: {NOT_FOUND}" in panel.unavailable.text()
        assert "stay in the index" in panel.unavailable.text()
        assert shell.tray is not None
        qtbot.waitUntil(lambda: "1 folder out of reach" in shell.tray.status_action.text(), timeout=WAIT)
        assert str(drive) in shell.tray.icon.toolTip()
        assert panel.stats.text().startswith("2 files indexed")  # kept, still counted
    finally:
        shell.engine.shutdown()
        shell.tray.hide()
