"""The app around the main window, offscreen: the tray menu, the quick-search box, one instance
per index (a second launch hands over and exits), the CLI refusing to write while the app
indexes, and the window-only fallback where there is no tray."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from click.testing import CliRunner  # noqa: E402
from helpers import index_for_app  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from desktop import actions  # noqa: E402
from desktop import tray as tray_module  # noqa: E402
from desktop.engine import Engine, IndexProgress  # noqa: E402
from desktop.quick_search import QUICK_RESULTS  # noqa: E402
from desktop.shell import Shell  # noqa: E402
from desktop.single_instance import become_or_hand_over, hand_over, server_name  # noqa: E402
from indexer.cli import cli  # noqa: E402
from indexer.config import Config  # noqa: E402

WAIT = 20_000  # ms
ROOT = Path(__file__).resolve().parent.parent
TOPICS = ["garden roses tulips", "quarterly tax return deadline", "steel bridge river",
          "sourdough bread starter", "pour-over coffee beans", "mountain trail headlamp",
          "moon craters telescope", "violin sonata", "chess opening gambit", "python decorators"]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> tuple[Path, Path]:
    """(data dir, folder): 30 short notes indexed with the tiny model, saved with the folder as root."""
    folder = tmp_path_factory.mktemp("notes")
    for i in range(30):
        topic = TOPICS[i % len(TOPICS)]
        (folder / f"note{i:02d}.txt").write_text(f"Note {i}: {topic}, and notes in general.")
    data = tmp_path_factory.mktemp("data")
    index_for_app(folder, data, tiny_model_dir)
    return data, folder


def make_shell(qtbot, data: Path, use_tray: bool | None) -> Shell:  # noqa: ANN001
    engine = Engine(data, None, watcher_options={"debounce": 0.05, "low_priority": False})
    shell = Shell(engine, use_tray=use_tray)
    qtbot.addWidget(shell.window)
    qtbot.addWidget(shell.quick)
    engine.start()
    qtbot.waitUntil(lambda: engine.model_state != "loading", timeout=WAIT)
    return shell


@pytest.fixture
def shell(qtbot, indexed: tuple[Path, Path]) -> Iterator[Shell]:  # noqa: ANN001
    shell = make_shell(qtbot, indexed[0], use_tray=True)
    yield shell
    shell.engine.shutdown()
    if shell.tray is not None:
        shell.tray.hide()


def test_tray_menu_actions(qtbot, shell: Shell, monkeypatch) -> None:  # noqa: ANN001
    tray = shell.tray
    assert tray is not None and not QApplication.instance().quitOnLastWindowClosed()
    shell.start()
    texts = [a.text() for a in tray.menu.actions() if not a.isSeparator()]
    assert texts[:2] == ["Quick search", "Open Findling"] and texts[-1] == "Quit Findling"
    assert "Pause indexing" in texts
    qtbot.waitUntil(lambda: tray.status_action.text() == "Index up to date", timeout=WAIT)
    assert "Index up to date" in tray.icon.toolTip()

    tray.quick_action.trigger()
    qtbot.waitUntil(shell.quick.isVisible, timeout=WAIT)
    shell.quick.hide()
    shell.window.hide()
    tray.open_action.trigger()
    assert shell.window.isVisible()

    tray.pause_action.trigger()
    qtbot.waitUntil(lambda: shell.engine.last_progress.state == "paused", timeout=WAIT)
    assert shell.engine.paused and tray.pause_action.text() == "Resume indexing"
    assert shell.window.index_panel.pause_button.text() == "Resume"  # one state, shown everywhere
    qtbot.waitUntil(lambda: tray.status_action.text() == "Paused", timeout=WAIT)  # a queued signal
    tray.pause_action.trigger()
    qtbot.waitUntil(lambda: shell.engine.last_progress.state == "idle", timeout=WAIT)
    assert tray.pause_action.text() == "Pause indexing"

    quits = []
    monkeypatch.setattr(QApplication, "quit", lambda: quits.append(True))
    tray.quit_action.trigger()
    assert quits == [True]


def test_tray_status_line_while_indexing() -> None:
    assert tray_module.status_line(IndexProgress("running", 120, 2000, unit="files")) == \
        "Indexing: 120 / 2,000 files (6%)"
    assert tray_module.status_line(IndexProgress("running", 500, 1000, unit="passages")) == \
        "Embedding: 500 / 1,000 passages (50%)"
    assert tray_module.status_line(IndexProgress("paused", pause_reason="on battery below 20%")) == \
        "Paused: on battery below 20%"


def test_closing_the_window_keeps_findling_in_the_tray(qtbot, shell: Shell, monkeypatch) -> None:  # noqa: ANN001
    notes = []
    monkeypatch.setattr(shell.tray, "notify", lambda title, text: notes.append(title))
    shell.state.remove("tray/hidden_hint_shown")  # as on a first run (the fixture's data dir is shared)
    shell.start()
    assert shell.window.isVisible()
    shell.window.close()
    assert not shell.window.isVisible() and notes == ["Findling keeps running in the tray"]
    shell.handle({"action": "show"})  # a second launch brings it back
    assert shell.window.isVisible()
    shell.window.close()
    assert notes == ["Findling keeps running in the tray"]  # said once only, also across restarts
    from PySide6.QtCore import QSettings

    from desktop.shell import STATE_FILE

    state = QSettings(str(shell.engine.data_path / STATE_FILE), QSettings.Format.IniFormat)
    assert state.value("tray/hidden_hint_shown", False, bool)  # remembered for the next start


def test_quick_search_shows_results_opens_and_hides_on_esc(qtbot, shell: Shell, monkeypatch) -> None:  # noqa: ANN001
    opened = []
    monkeypatch.setattr(actions, "open_file",
                        lambda path, page=None: opened.append(path) or actions.Launch(True))
    quick = shell.quick
    shell.handle({"action": "quick"})
    assert quick.isVisible() and quick.field.text() == ""
    with qtbot.waitSignal(quick.resultsShown, timeout=WAIT,
                          check_params_cb=lambda o: o.query == "notes in general") as blocker:
        qtbot.keyClicks(quick.field, "notes in general")
    outcome = blocker.args[0]
    assert outcome.kind == "ok" and quick.model.rowCount() == QUICK_RESULTS  # 30 match: the top 8
    assert quick.view.isVisible() and quick.view.currentIndex().row() == 0
    qtbot.keyClick(quick.field, Qt.Key.Key_Down)
    assert quick.view.currentIndex().row() == 1
    second = quick.model.result(1).path
    with qtbot.waitSignal(quick.launched, timeout=WAIT):
        qtbot.keyClick(quick.field, Qt.Key.Key_Return)
    assert opened == [second] and not quick.isVisible()

    shell.handle({"action": "quick"})  # summoned again: the last query, selected for retyping
    assert quick.isVisible() and quick.field.selectedText() == "notes in general"
    qtbot.keyClick(quick.field, Qt.Key.Key_Escape)
    assert not quick.isVisible()
    assert not shell.window.isVisible()  # the quick box alone, not the main window


def test_quick_search_continues_in_the_main_window(qtbot, shell: Shell) -> None:  # noqa: ANN001
    quick = shell.quick
    shell.handle({"action": "quick"})
    quick.field.setText("sourdough bread")
    qtbot.keyClick(quick.field, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    assert not quick.isVisible() and shell.window.isVisible()
    qtbot.waitUntil(lambda: shell.window.shown is not None and shell.window.shown.query == "sourdough bread",
                    timeout=WAIT)


def test_without_a_tray_the_window_stays_open_and_says_why(qtbot, indexed, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(tray_module, "available", lambda: False)
    shell = make_shell(qtbot, indexed[0], use_tray=None)
    try:
        assert shell.tray is None and QApplication.instance().quitOnLastWindowClosed()
        shell.start(hidden=True, tray_wait=0.5)  # at login the tray may come late: it waits, then
        assert not shell.window.isVisible()
        qtbot.waitUntil(shell.window.isVisible, timeout=WAIT)  # shows the window: no way back otherwise
        assert "no system tray" in shell.window.statusBar().currentMessage()
        shell.handle({"action": "quick"})
        assert shell.quick.isVisible()
        shell.window.close()  # an ordinary window: closing it closes it (and quits the app)
        assert not shell.window.isVisible()
    finally:
        shell.engine.shutdown()


def test_a_second_instance_hands_over_and_exits(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    data = tmp_path / "data"
    requests = []
    server = become_or_hand_over(data, {"action": "show"})
    assert server is not None
    server.requested.connect(requests.append)
    try:
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "desktop", "--quick", "--data-dir", str(data)],
                                   env=env, stderr=subprocess.PIPE, text=True)
        qtbot.waitUntil(lambda: process.poll() is not None, timeout=WAIT)  # our loop answers it
        elapsed = time.perf_counter() - started
        assert process.returncode == 0, process.stderr.read()
        assert "already running" in process.stderr.read()
        assert [r["action"] for r in requests] == ["quick"]
        assert elapsed < 10  # no QApplication, no model: a round trip (about 0.2 s; slack for CI)
        code = ("import sys; from desktop.app import main; code = main(['--data-dir', sys.argv[1]]); "
                "assert code == 0 and 'PySide6' not in sys.modules, sorted(sys.modules)")
        process = subprocess.Popen([sys.executable, "-c", code, str(data)], env=env, stderr=subprocess.PIPE,
                                   text=True)
        qtbot.waitUntil(lambda: process.poll() is not None, timeout=WAIT)
        assert process.returncode == 0, process.stderr.read()  # the fast path never imports Qt
        assert [r["action"] for r in requests] == ["quick", "show"]
        # a data dir of its own gets an app of its own
        assert server_name(data) != server_name(tmp_path / "other")
        assert not hand_over(server_name(tmp_path / "other"), {"action": "show"})
    finally:
        server.close()
    # the app is gone: the next launch becomes the server
    again = become_or_hand_over(data, {"action": "show"})
    assert again is not None
    again.close()


def test_the_cli_refuses_to_write_while_the_app_indexes(qtbot, indexed, tiny_model_dir) -> None:  # noqa: ANN001
    data, folder = indexed
    shell = make_shell(qtbot, data, use_tray=False)
    try:
        qtbot.waitUntil(lambda: shell.engine.last_progress.state == "idle", timeout=WAIT)  # the app writes
        result = CliRunner().invoke(cli, ["--data-dir", str(data), "index", str(folder)])
        assert result.exit_code == 1
        assert f"The Findling app (pid {os.getpid()}) is indexing" in result.output
        assert "Add folders in its Index tab" in result.output
        searched = CliRunner().invoke(cli, ["--data-dir", str(data), "search", "bread", "--json"])
        assert searched.exit_code == 0 and "note" in searched.stdout  # reading goes on
    finally:
        shell.engine.shutdown()


def test_start_at_login_writes_a_valid_autostart_entry(qtbot, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from desktop import autostart
    from desktop.settings import SettingsDialog

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    data = tmp_path / "my data"  # not the default data dir: the entry names it, quoted
    other = tmp_path / "other"

    def dialog_for(folder: Path) -> SettingsDialog:
        dialog = SettingsDialog(Config(), "auto", data_dir=folder)
        qtbot.addWidget(dialog)
        return dialog

    dialog = dialog_for(data)
    assert not dialog.start_at_login.isChecked()
    dialog.start_at_login.setChecked(True)
    dialog.apply_start_at_login()
    entry = autostart.entry_path(data)
    assert entry.parent == tmp_path / "config" / "autostart" and entry.name.startswith("findling-")
    text = entry.read_text()
    assert "--hidden --data-dir" in text and f'"{data}"' in text
    assert dialog_for(data).start_at_login.isChecked()  # the dialog shows it on for this index
    assert not dialog_for(other).start_at_login.isChecked()  # and off for another one
    other_dialog = dialog_for(other)
    other_dialog.start_at_login.setChecked(True)
    other_dialog.apply_start_at_login()
    kept = entry.read_text()
    dialog.start_at_login.setChecked(False)
    dialog.apply_start_at_login()
    assert not entry.exists() and not autostart.enabled(data)
    assert autostart.enabled(other)  # turning one index's entry off leaves the other's
    entry.parent.joinpath("check.desktop").write_text(kept)
    validate(entry.parent / "check.desktop")  # last: it skips where desktop-file-validate is missing


def test_exec_lines_are_quoted_as_the_desktop_entry_spec_asks() -> None:
    from desktop.autostart import exec_line

    assert exec_line(["/usr/bin/findling-desktop", "--hidden"]) == "/usr/bin/findling-desktop --hidden"
    quoted = exec_line(["/opt/app", "--data-dir", '/home/a b/$x"q%'])
    assert quoted == r'/opt/app --data-dir "/home/a b/\\$x\\"q%%"'


def test_packaged_desktop_entries_are_valid_and_match_the_app() -> None:
    from desktop.autostart import entry_text

    linux = ROOT / "packaging" / "linux"
    assert (linux / "findling-autostart.desktop").read_text() == entry_text(["findling-desktop", "--hidden"])
    for entry in linux.glob("*.desktop"):
        validate(entry)


def test_hidden_start_shows_only_the_tray(qtbot, shell: Shell) -> None:  # noqa: ANN001
    shell.start(hidden=True)
    assert not shell.window.isVisible() and not shell.quick.isVisible()
    shell.handle({"action": "show"})
    assert shell.window.isVisible()


def validate(entry: Path) -> None:
    """desktop-file-validate (Debian's desktop-file-utils) when installed; .ci/run installs it."""
    import shutil

    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.skip("desktop-file-validate is not installed (apt install desktop-file-utils)")
    result = subprocess.run([tool, str(entry)], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "error" not in result.stdout.lower(), result.stdout + result.stderr


def test_pause_from_the_command_line_and_across_restarts(qtbot, shell: Shell) -> None:  # noqa: ANN001
    from indexer.write.watch.power import request_pause, request_resume

    tray, engine = shell.tray, shell.engine
    qtbot.waitUntil(lambda: engine.last_progress.state == "idle", timeout=WAIT)
    request_pause(engine.data_path)  # `findling pause` in a terminal
    qtbot.waitUntil(lambda: tray.pause_action.text() == "Resume indexing", timeout=WAIT)
    request_resume(engine.data_path)  # `findling resume`
    qtbot.waitUntil(lambda: tray.pause_action.text() == "Pause indexing", timeout=WAIT)
    assert not engine.paused
    engine.pause()  # then a restart of the watcher (new excludes): it stays paused
    engine.set_excludes(["*.tmp"])
    qtbot.waitUntil(lambda: engine.last_progress.state == "paused", timeout=WAIT)
    assert engine.paused and tray.pause_action.text() == "Resume indexing"
    engine.resume()
    qtbot.waitUntil(lambda: engine.last_progress.state == "idle", timeout=WAIT)


def test_quick_and_main_searches_do_not_cancel_each_other(qtbot, shell: Shell) -> None:  # noqa: ANN001
    window, quick = shell.window, shell.quick
    shell.start()
    shell.handle({"action": "quick"})
    with qtbot.waitSignal(window.resultsShown, timeout=WAIT), \
            qtbot.waitSignal(quick.resultsShown, timeout=WAIT):
        window.search_field.setText("violin sonata")
        window.run_search()
        quick.field.setText("chess opening")
        quick.run_search()  # queued right behind the main window's search
    assert window.shown.query == "violin sonata" and quick.shown_outcome.query == "chess opening"


def test_a_tray_that_appears_after_a_hidden_start_is_used(qtbot, indexed, monkeypatch) -> None:  # noqa: ANN001
    present = [False]
    monkeypatch.setattr(tray_module, "available", lambda: present[0])
    shell = make_shell(qtbot, indexed[0], use_tray=None)
    try:
        shell.start(hidden=True, tray_wait=10)
        assert shell.tray is None and not shell.window.isVisible()
        present[0] = True  # the panel came up
        qtbot.waitUntil(lambda: shell.tray is not None, timeout=WAIT)
        assert not shell.window.isVisible() and not QApplication.instance().quitOnLastWindowClosed()
    finally:
        shell.engine.shutdown()
        shell.tray.hide()


def test_findling_index_hands_a_new_folder_to_the_app(qtbot, tmp_path: Path, tiny_model_dir) -> None:  # noqa: ANN001
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, text in ((first, "Tomatoes need sun."), (second, "The violin sonata in A major.")):
        folder.mkdir()
        (folder / "note.txt").write_text(text)
    data = tmp_path / "data"
    Config(roots=[str(first)], model=str(tiny_model_dir), reranker="").save(data)
    shell = make_shell(qtbot, data, use_tray=False)
    server = become_or_hand_over(data, {"action": "show"})
    server.requested.connect(shell.handle)
    try:
        qtbot.waitUntil(lambda: shell.engine.last_progress.state == "idle", timeout=WAIT)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        process = subprocess.Popen([sys.executable, "-m", "indexer.cli", "--data-dir", str(data), "index",
                                    str(second)], env=env, stderr=subprocess.PIPE, text=True)
        qtbot.waitUntil(lambda: process.poll() is not None, timeout=WAIT)  # our loop answers it
        assert process.returncode == 0, process.stderr.read()
        assert "it now indexes" in process.stderr.read()
        qtbot.waitUntil(lambda: Config.load(data).roots == [str(first), str(second)], timeout=WAIT)
        qtbot.waitUntil(lambda: indexed_paths(data) == {str(first / "note.txt"), str(second / "note.txt")},
                        timeout=WAIT)  # the app indexed it
    finally:
        server.close()
        shell.engine.shutdown()


def indexed_paths(data: Path) -> set[str]:
    from indexer.datadir import DataDir

    catalog = DataDir(data).open_catalog(readonly=True)
    try:
        return {row.path for row in catalog.files() if row.status == "indexed"}
    finally:
        catalog.close()


def test_quit_from_the_tray_quits_even_though_closing_the_window_only_hides_it(  # noqa: ANN001
        qtbot, indexed, monkeypatch) -> None:
    """On X11, Qt 6 asks every window to close before it quits and gives up when one refuses
    (seen under Xvfb with a tray: Quit hid the window and the app went on). The offscreen
    platform skips that step, so it is played here the way xcb does it."""
    shell = make_shell(qtbot, indexed[0], use_tray=True)
    outcomes = []

    def quit_like_qt6() -> None:
        outcomes.append(all(w.close() for w in QApplication.topLevelWidgets() if w.isVisible()))

    monkeypatch.setattr(QApplication, "quit", quit_like_qt6)
    try:
        shell.start()
        shell.window.close()  # the window's own close button: hidden, Findling stays
        assert not shell.window.isVisible()
        shell.show_main()
        shell.tray.quit_action.trigger()
        assert outcomes == [True] and not shell.window.isVisible()  # every window agreed: it quits
    finally:
        shell.engine.shutdown()
        shell.tray.hide()


def test_tray_and_panel_say_when_images_are_read() -> None:
    from desktop.index_panel import progress_text
    from desktop.progress import status_unit
    from indexer.write.watcher import WatchStatus

    status = WatchStatus("running", 0, 3, 12, "/p/scan.png", None, None, 0, phase="ocr")
    assert status_unit(status) == "images"
    reading = IndexProgress("running", 3, 12, unit="images")
    assert tray_module.status_line(reading) == "Reading images (OCR): 3 / 12 images (25%)"
    assert progress_text(reading) == "Reading text in images and scans (OCR): 3 / 12 images"


def test_settings_turn_ocr_off_and_say_how_to_install_it(qtbot, monkeypatch) -> None:  # noqa: ANN001
    from desktop.settings import SettingsDialog
    from indexer.config import Config
    from indexer.ingest.ocr import availability

    monkeypatch.setattr(availability, "ocr_installed", lambda: False)
    dialog = SettingsDialog(Config(), "auto")
    qtbot.addWidget(dialog)
    assert dialog.ocr.isChecked() and "pip install 'findling[ocr]'" in dialog.ocr_note.text()
    dialog.ocr.setChecked(False)
    dialog.ocr_min_side.setValue(64)
    config, _ = dialog.values()
    assert (config.ocr, config.ocr_min_side_px) == (False, 64)
