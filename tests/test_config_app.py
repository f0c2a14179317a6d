"""The app with a broken config.toml: a dialog before any window, with Reset and Try again."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QTimer  # noqa: E402

from desktop.config_problem import ConfigProblemDialog  # noqa: E402
from indexer.config import Config, ConfigError  # noqa: E402


def broken(data: Path) -> ConfigError:
    (data / "config.toml").write_text('roots = ["/srv/docs"]\nsearch_mode = "magic"\n')
    with pytest.raises(ConfigError) as caught:
        Config.load(data)
    return caught.value


def click_later(button) -> None:  # noqa: ANN001 - a QAbstractButton
    QTimer.singleShot(50, button.click)


def test_reset_from_the_dialog(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    dialog = ConfigProblemDialog(broken(tmp_path), tmp_path)
    qtbot.addWidget(dialog)
    assert 'search_mode: expected one of "dense", "keyword", "hybrid", got "magic"' in dialog.text()
    assert "line 2" in dialog.text()
    click_later(dialog.reset_button)
    assert dialog.resolve() is True
    assert Config.load(tmp_path).roots == ["/srv/docs"]  # kept by the reset
    assert list(tmp_path.glob("config.toml.bak-*"))


def test_try_again_after_fixing_the_file_and_quit(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    dialog = ConfigProblemDialog(broken(tmp_path), tmp_path)
    qtbot.addWidget(dialog)

    def fix_then_retry() -> None:
        (tmp_path / "config.toml").write_text('search_mode = "keyword"\n')
        dialog.retry_button.click()

    QTimer.singleShot(50, fix_then_retry)
    assert dialog.resolve() is True
    again = ConfigProblemDialog(broken(tmp_path), tmp_path)
    qtbot.addWidget(again)
    click_later(again.quit_button)
    assert again.resolve() is False


def test_the_app_stops_before_any_window_when_the_user_quits(qtbot, tmp_path: Path,  # noqa: ANN001
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from desktop import app

    broken(tmp_path)
    shown: list[str] = []
    monkeypatch.setattr(ConfigProblemDialog, "resolve", lambda self: shown.append(self.text()) or False)
    assert app._settings_readable(tmp_path) is False
    assert shown and "search_mode" in shown[0]
