"""The app on a shared index (issue 22): Settings' "Search a shared index", search through Milvus with
no local catalog, the read-only Index panel, plain messages, and Open on the reader's mount.

Offscreen Qt on the real engine. Milvus Lite runs in this process (one .db for the module, a
collection per scene), written by the writer's real code (`findling --store URI index`), and is
released at the module's end so nothing outlives it.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
pytest.importorskip("pymilvus", reason="the milvus extra (pymilvus) is not installed")
pytest.importorskip("milvus_lite", reason="the milvus extra (milvus-lite) is not installed")

from app_helpers import app_window  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from desktop import actions, settings  # noqa: E402
from desktop.launch import LaunchOutcome  # noqa: E402
from desktop.main_window import MainWindow  # noqa: E402
from desktop.settings import SettingsDialog  # noqa: E402
from indexer.cli import cli  # noqa: E402
from indexer.config import Config  # noqa: E402
from indexer.store import milvus_store  # noqa: E402
from indexer.store.errors import StoreUnavailable  # noqa: E402
from indexer.store.store_uri import parse_store_uri  # noqa: E402

WAIT = 20_000  # ms
DOCS = {
    "sea.txt": "The lighthouse keeper watched the stormy sea every night from the rocky island.",
    "invoice.md": "Invoice INV-2024-0173 for garden tools and a lawn mower, paid in March.",
    "notes/recipe.txt": "Bake the bread with flour, water, salt and yeast for forty minutes.",
}
SERVER = "milvus://127.0.0.1:9/team"  # nothing listens on port 9 (discard)


def store_uri(db: Path, collection: str) -> str:
    return f"milvus://{db}?collection={collection}"


def write_shared(root: Path, store: str, model: Path) -> Path:
    """The writer: its folder indexed with `findling --store URI index` (its own data dir)."""
    docs = root / "writer-docs"
    for name, text in DOCS.items():
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        (docs / name).write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["--data-dir", str(root / "writer-data"), "--model", str(model),
                                      "--store", store, "index", str(docs)])
    assert result.exit_code == 0, result.output
    return docs


@pytest.fixture(scope="module")
def shared(lite_db: Path, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    store = store_uri(lite_db, "team")
    return write_shared(tmp_path_factory.mktemp("writer"), store, tiny_model_dir), store


def reader_data(tmp_path: Path, model: Path, **settings: object) -> Path:
    """A reader's data dir: a config naming the shared index, no catalog, no folders."""
    data = tmp_path / "reader-data"
    Config(model=str(model), reranker="", **settings).save(data)
    return data


def search(qtbot, window: MainWindow, text: str):  # noqa: ANN001, ANN201 - the SearchOutcome shown
    with qtbot.waitSignal(window.resultsShown, timeout=WAIT) as shown:
        window.search_field.setText(text)
        window.run_search()
    return shown.args[0]


def test_the_setting_round_trips_and_a_bad_uri_is_a_plain_message(qtbot, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    data = tmp_path / "data"
    dialog = SettingsDialog(Config(), "auto", data_dir=data)
    qtbot.addWidget(dialog)
    dialog.store.setText("milvus://relative.db")
    dialog.save()
    assert dialog.result() != SettingsDialog.DialogCode.Accepted
    problem = dialog.store_problem
    assert not problem.isHidden() and "absolute path ending in .db" in problem.text()

    lite = store_uri(tmp_path / "team.db", "notes")
    dialog.store.setText(lite)
    assert dialog.store_problem.isHidden()  # typing clears the old complaint
    dialog.save()
    assert dialog.result() == SettingsDialog.DialogCode.Accepted  # a Lite file: nothing to agree to
    config, backend = dialog.values()
    settings.save_config(config, data, backend)
    assert Config.load(data).store == lite and Config.load(data).store_consent == []
    again = SettingsDialog(Config.load(data), "auto", data_dir=data)
    qtbot.addWidget(again)
    assert again.store.text() == lite

    # a server: the password is kept only if the user says so, and the CLI's consent is asked once
    asked: list[str] = []
    monkeypatch.setattr(settings, "ask_keep_password", lambda parent, shown: QMessageBox.StandardButton.No)
    monkeypatch.setattr(settings, "ask_consent", lambda parent, text: asked.append(text) or False)
    server = SettingsDialog(Config.load(data), "auto", data_dir=data)
    qtbot.addWidget(server)
    server.store.setText("milvus://ann:secret@milvus.example/team")
    server.save()
    assert server.result() != SettingsDialog.DialogCode.Accepted
    assert "Nothing was sent" in server.store_problem.text()
    assert "sends passage text (and file paths) off this machine" in asked[0]
    monkeypatch.setattr(settings, "ask_consent", lambda parent, text: asked.append(text) or True)
    server.save()
    assert server.result() == SettingsDialog.DialogCode.Accepted
    config, backend = server.values()
    settings.save_config(config, data, backend)
    saved = Config.load(data)
    assert saved.store == "milvus://milvus.example/team"
    assert "secret" not in (data / "config.toml").read_text()
    assert saved.store_consent == [parse_store_uri(saved.store).shown]
    assert "FINDLING_MILVUS_TOKEN" in server.store_help.text()


def test_the_window_searches_the_shared_index_with_no_local_catalog(qtbot, shared, tiny_model_dir,  # noqa: ANN001
                                                                      tmp_path, monkeypatch) -> None:
    docs, store = shared
    data = reader_data(tmp_path, tiny_model_dir, store=store)
    with app_window(qtbot, data) as window:
        assert window.model_state == "ready" and window.pages.currentWidget() is window.search_page
        outcome = search(qtbot, window, "lighthouse keeper")
        assert outcome.kind == "ok", outcome.message
        top = outcome.results[0]
        assert top.path == str(docs / "sea.txt") and top.highlights and "lighthouse" in top.snippet
        heatmap = window.similarity.heatmap  # the query and the results, by their passages' vectors
        qtbot.waitUntil(lambda: heatmap.labels[:1] == ["query"] and heatmap.labels[1].endswith("sea.txt"),
                        timeout=WAIT)
        with qtbot.waitSignal(window.engine.searchFinished, timeout=WAIT,
                              check_params_cb=lambda o: o.query == "INV-2024-0173") as quick:
            window.engine.search("INV-2024-0173", k=8, details=False, channel="quick")
        assert [Path(r.path).name for r in quick.args[0].results][:1] == ["invoice.md"]
        assert not window.engine.data.exists()  # no local catalog was made or needed

        # "more like this" and duplicates need the writer's file vectors: refused as the CLI does
        window.results_view.setCurrentIndex(window.results_model.index(window.results_model.first_row()))
        window.find_similar_current()
        assert "`findling similar`" in window.banner_text.text() and window.banner.isVisible()
        assert window.shown is outcome  # the results stay
        with qtbot.waitSignal(window.engine.searchFinished, timeout=WAIT) as similar:  # asked anyway
            window.engine.find_similar(top.path)
        assert similar.args[0].kind == "error" and "not available with --store" in similar.args[0].message
        assert not window.duplicates.find_button.isEnabled()
        assert "not available with --store" in window.duplicates.summary.text()
        with qtbot.waitSignal(window.engine.duplicatesFound, timeout=WAIT) as duplicates:
            window.engine.find_duplicates()
        assert "not available with --store" in duplicates.args[0]

        # the connection drops mid-search: one message, and the next search connects again
        dense = milvus_store.MilvusStore.dense

        def dropped(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            self.client.close()
            raise StoreUnavailable(f"The shared index {self.target.shown} cannot be reached: connection lost")

        monkeypatch.setattr(milvus_store.MilvusStore, "dense", dropped)
        lost = search(qtbot, window, "stormy sea at night")
        assert lost.kind == "error"
        assert window.results_message.text().endswith("cannot be reached: connection lost")
        monkeypatch.setattr(milvus_store.MilvusStore, "dense", dense)
        back = search(qtbot, window, "stormy sea at night")
        assert back.kind == "ok" and Path(back.results[0].path).name == "sea.txt"


def test_the_index_panel_is_read_only_and_says_what_the_shared_index_holds(qtbot, shared,  # noqa: ANN001
                                                                          tiny_model_dir, tmp_path) -> None:
    docs, store = shared
    folder = tmp_path / "own-files"
    folder.mkdir()
    data = reader_data(tmp_path, tiny_model_dir, store=store, roots=[str(folder)])
    with app_window(qtbot, data) as window:
        panel = window.index_panel
        window.tabs.setCurrentWidget(panel)
        shown = parse_store_uri(store).shown
        qtbot.waitUntil(lambda: "passages" in panel.shared_stats.text(), timeout=WAIT)
        assert panel.shared_group.isVisible() and shown in panel.shared_uri.text()
        stats = f"{len(DOCS)} passages · {len(DOCS)} files · model {tiny_model_dir}"
        assert panel.shared_stats.text() == stats
        for part in (panel.add_button, panel.remove_button, panel.pause_button, panel.apply_excludes,
                     panel.excludes, panel.failed, panel.roots):
            assert not part.isVisible()
        assert not any(b.isEnabled() for b in (panel.add_button, panel.remove_button, panel.pause_button))
        assert window.engine.last_progress.state == "shared" and window.engine.indexing.watcher is None
        with qtbot.waitSignal(window.engine.message, timeout=WAIT) as said:
            window.engine.add_root(str(tmp_path))  # e.g. from a test, past the hidden button: refused
        assert "not available while the app shows a shared index" in said.args[0]
        assert Config.load(data).roots == [str(folder)] and not window.engine.data.exists()

        local = dataclasses.replace(window.engine.config, store="")  # back to this computer's index
        window.engine.apply_settings(local, "auto")
        qtbot.waitUntil(lambda: window.index_panel.add_button.isVisible(), timeout=WAIT)
        assert not panel.shared_group.isVisible() and panel.add_button.isEnabled()
        qtbot.waitUntil(lambda: window.engine.last_progress.state == "idle", timeout=WAIT)
        assert window.engine.data.exists() and Config.load(data).store == ""


def test_an_unreachable_or_empty_store_is_one_message_and_search_recovers(qtbot, lite_db, tiny_model_dir,  # noqa: ANN001
                                                                        tiny_e5_dir, tmp_path,
                                                                        monkeypatch) -> None:
    monkeypatch.setattr(milvus_store, "CONNECT_TIMEOUT", 1.0)
    asked: list[str] = []
    monkeypatch.setattr("desktop.main_window.ask_consent", lambda parent, text: asked.append(text) or True)
    data = reader_data(tmp_path / "server", tiny_model_dir, store=SERVER)
    with app_window(qtbot, data) as window:
        outcome = search(qtbot, window, "lighthouse")  # asked first (the CLI's words), then it searched
        assert "sends passage text" in asked[0] and len(asked) == 1
        qtbot.waitUntil(lambda: Config.load(data).store_consent == [SERVER], timeout=WAIT)
        qtbot.waitUntil(lambda: "cannot be reached" in window.results_message.text(), timeout=WAIT)
        assert "Traceback" not in window.results_message.text()
        qtbot.waitUntil(lambda: "cannot be reached" in window.index_panel.shared_problem.text(), timeout=WAIT)

    later = store_uri(lite_db, "later")
    data = reader_data(tmp_path / "lite", tiny_model_dir, store=later)
    with app_window(qtbot, data) as window:
        outcome = search(qtbot, window, "lighthouse")
        assert outcome.kind == "error" and "No shared index" in outcome.message
        assert window.results_message.text() == outcome.message
        docs = write_shared(tmp_path / "writer", later, tiny_model_dir)  # the writer comes along
        outcome = search(qtbot, window, "lighthouse keeper")
        assert outcome.kind == "ok" and outcome.results[0].path == str(docs / "sea.txt")

    with app_window(qtbot, data, str(tiny_e5_dir)) as window:  # a reader with another model
        outcome = search(qtbot, window, "lighthouse")
        assert outcome.kind == "error" and "was built with the model" in outcome.message
        assert window.results_message.text() == outcome.message


def test_open_and_reveal_use_the_readers_mount(qtbot, shared, tiny_model_dir, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    docs, store = shared
    mount = tmp_path / "Volumes" / "share"
    shutil.copytree(docs, mount)
    data = reader_data(tmp_path, tiny_model_dir, store=store, path_map={str(docs): str(mount)})
    opened: list[tuple[str, str]] = []
    monkeypatch.setattr(actions, "open_file", lambda path, page=None: opened.append(("open", path))
                        or actions.Launch(True))
    monkeypatch.setattr(actions, "reveal_in_folder", lambda path: opened.append(("reveal", path))
                        or actions.Launch(True))
    with app_window(qtbot, data) as window:
        outcome = search(qtbot, window, "bread flour yeast")
        assert outcome.results[0].path == str(mount / "notes" / "recipe.txt")
        for act in (window.open_current, window.reveal_current):
            with qtbot.waitSignal(window.launched, timeout=WAIT) as launched:
                act()
            assert isinstance(launched.args[0], LaunchOutcome) and launched.args[0].ok
        assert opened == [("open", str(mount / "notes" / "recipe.txt")),
                          ("reveal", str(mount / "notes" / "recipe.txt"))]
        qtbot.waitUntil(lambda: "forty minutes" in window.preview.text.toPlainText(), timeout=WAIT)
