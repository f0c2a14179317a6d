"""The app on office files: the preview shows the passage's own sheet, slide or message (an attachment's
text from its mail), and the pane's header names the page as the result card does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402


def shown(preview: TextPreview) -> str:
    """The preview's text, without its marks."""
    return re.sub(r"<[^>]+>", "", preview.html)
from test_office_formats import indexed, office, search  # noqa: E402, F401 - fixtures

from desktop.preview import PreviewPane, TextPreview, load_preview  # noqa: E402
from desktop.results import ResultsModel  # noqa: E402


def test_a_sheet_preview_shows_only_its_sheet(indexed: Path, tiny_model_dir: Path) -> None:  # noqa: F811
    top = search(indexed, tiny_model_dir, "Travel item type:.xlsx")[0]
    assert (top.page, top.page_label) == (2, "Travel")
    preview = load_preview(top, "Travel item")
    assert isinstance(preview, TextPreview) and not preview.note
    assert "Travel item 1" in shown(preview) and "Budget item" not in shown(preview)  # sheet 1 left out
    slide = search(indexed, tiny_model_dir, "thank the lighthouse keepers")[0]
    text = shown(load_preview(slide, "lighthouse keepers"))
    assert "Harbour roadmap" in text and "Slide 1" not in text


def test_an_attachment_previews_from_its_mail(indexed: Path, office: Path, tiny_model_dir: Path) -> None:  # noqa: F811
    top = search(indexed, tiny_model_dir, "lighthouse keeper November")[0]
    assert top.container == str(office / "harbour.eml")
    preview = load_preview(top, "lighthouse keeper")
    assert isinstance(preview, TextPreview) and "November" in shown(preview)
    sheet = next(r for r in search(indexed, tiny_model_dir, "Travel item") if r.container)
    assert "Travel item 1" in shown(load_preview(sheet, "Travel item"))


def test_the_header_and_the_card_name_the_sheet(qtbot, indexed: Path, tiny_model_dir: Path) -> None:  # noqa: ANN001, F811
    top = search(indexed, tiny_model_dir, "Travel item type:.xlsx")[0]
    pane = PreviewPane()
    qtbot.addWidget(pane)
    pane.show_result(top, "Travel item")
    assert "sheet 2 “Travel”" in pane.title.text()
    model = ResultsModel()
    model.set_results([top], "Travel item")
    described = model.data(model.index(0), Qt.ItemDataRole.AccessibleTextRole)
    assert "sample.xlsx, sheet 2 “Travel”, in " in described


def test_open_and_reveal_an_attachment_act_on_its_mail(office: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    from desktop import actions

    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(actions, "open_location",
                        lambda target: seen.append(("open", target)) or actions.Launch(True))
    monkeypatch.setattr(actions, "_show_items_dbus", lambda target: seen.append(("reveal", target)) or True)
    eml = str(office / "harbour.eml")
    assert actions.open_file(f"{eml}#figures.xlsx", page=2).ok
    assert actions.reveal_in_folder(f"{eml}#figures.xlsx").ok
    assert seen == [("open", eml), ("reveal", eml)]
