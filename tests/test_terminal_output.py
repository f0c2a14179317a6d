"""No file can drive the user's terminal: control characters from names and contents are printed
as visible escapes; JSON output stays JSON, non-ASCII text unescaped as before."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.cli import cli
from indexer.cli.terminal import visible

RETITLE = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2J"


def test_visible_escapes_controls_and_bidi_overrides_only() -> None:
    assert visible(f"a{RETITLE}b{CLEAR}\r\b\x9b\u202etxt.exe") == \
        "a\\x1b]0;pwned\\x07b\\x1b[2J\\x0d\\x08\\x9b\\u202etxt.exe"
    plain = "Café, 日本語, emoji 👩‍💻, a\u00a0b — unchanged"
    assert visible(plain) == plain


@pytest.fixture
def hostile(tmp_path: Path, tiny_model_dir: Path) -> Path:
    """An index of one file whose name and content carry terminal escapes, and one broken PDF."""
    docs = tmp_path / "docs"
    docs.mkdir()
    name = f"note{RETITLE}{CLEAR}.txt" if os.name == "posix" else "note.txt"
    (docs / name).write_text(f"Café receipts {RETITLE} and {CLEAR} more receipts", encoding="utf-8")
    (docs / f"broken{CLEAR}.pdf" if os.name == "posix" else docs / "broken.pdf").write_bytes(b"%PDF-1.4 x")
    data = tmp_path / "data"
    result = CliRunner().invoke(cli, ["--data-dir", str(data), "--model", str(tiny_model_dir), "index",
                                      str(docs)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return data


@pytest.mark.parametrize("color", [False, True])
def test_search_and_status_print_no_raw_escape(hostile: Path, tiny_model_dir: Path, color: bool) -> None:
    runner = CliRunner()
    for args in (["search", "receipts", "--mode", "keyword", "--no-rerank"], ["status"]):
        result = runner.invoke(cli, ["--data-dir", str(hostile), "--model", str(tiny_model_dir), *args],
                               color=color, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        output = result.stdout + result.stderr
        for raw in ("\x1b]", "\x07", CLEAR):
            assert raw not in output, (args, output)
        if not color:
            assert "\x1b" not in output  # nothing but our own styling ever starts with ESC
        assert "\\x1b[2J" in output  # shown, visibly (both names carry it)
    assert "Café receipts" in runner.invoke(
        cli, ["--data-dir", str(hostile), "search", "receipts", "--mode", "keyword", "--no-rerank"]).stdout


def test_json_output_stays_json(hostile: Path, tiny_model_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(hostile), "--model", str(tiny_model_dir), "search",
                                      "receipts", "--mode", "keyword", "--no-rerank", "--json"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\\u001b]0;pwned\\u0007" in result.stdout
    assert "Café" in result.stdout  # ensure_ascii=False, as before
    [hit] = json.loads(result.stdout)["results"]
    assert RETITLE in hit["snippet"]  # the data itself is kept
