"""A broken or wrong config.toml is one plain message (exit code 2), never a traceback; a
misspelt key is a warning with the closest name; `findling config reset` starts again safely."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.cli import cli
from indexer.config import Config, ConfigError, reset

BROKEN = {
    "bad TOML": ('roots = ["/a"\n', "line 1: this is not valid TOML"),
    "wrong type": ('chunk_tokens = "lots"\n', 'line 1: chunk_tokens: expected a whole number, got "lots"'),
    "negative size": ('model = "m"\nmax_file_mb = -5\n',
                      "line 2: max_file_mb: expected a number above 0, got -5"),
    "unknown value": ('search_mode = "magic"\n',
                      'line 1: search_mode: expected one of "dense", "keyword", "hybrid", got "magic"'),
    "list of numbers": ("roots = [1, 2]\n", "line 1: roots: expected a list of strings"),
    "empty file": ("", "the file is empty"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_broken_config_is_one_message_and_exit_code_2(tmp_path: Path, case: str) -> None:
    text, expected = BROKEN[case]
    (tmp_path / "config.toml").write_text(text)
    for command in (["status"], ["search", "invoice"], ["roots", "list"], ["index"]):
        result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), *command])
        assert result.exit_code == 2, (command, result.output)
        assert f"Error in {tmp_path / 'config.toml'}" in result.output and expected in result.output
        assert "findling config reset" in result.output
        assert "Traceback" not in result.output
        assert isinstance(result.exception, SystemExit)  # click's own exit, not an uncaught error


def test_a_folder_or_an_unreadable_file_of_that_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.toml").mkdir()
    with pytest.raises(ConfigError, match="this is a folder, not a settings file"):
        Config.load(tmp_path)
    (tmp_path / "config.toml").rmdir()
    (tmp_path / "config.toml").write_text('model = "m"\n')
    real = Path.read_bytes

    def refuse(self: Path) -> bytes:
        if self.name == "config.toml":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "status"])
    assert result.exit_code == 2
    assert "the file cannot be read (Permission denied)" in result.output


def test_a_misspelt_key_is_a_warning_and_the_command_goes_on(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('rootz = ["/srv/docs"]\n')
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "roots", "list"])
    assert result.exit_code == 0, result.output
    assert "line 1: `rootz` is not a setting; it is ignored. Did you mean `roots`?" in result.output


def test_reset_keeps_a_backup_and_the_folders_it_can_read(tmp_path: Path) -> None:
    broken = 'roots = ["/srv/docs"]\nexcludes = ["*.log"]\nchunk_tokens = "lots"\n'
    (tmp_path / "config.toml").write_text(broken)
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "config", "reset"])
    assert result.exit_code == 0, result.output
    backups = list(tmp_path.glob("config.toml.bak-*"))
    assert len(backups) == 1 and backups[0].read_text() == broken
    config = Config.load(tmp_path)
    assert config.roots == ["/srv/docs"] and config.excludes == ["*.log"] and config.chunk_tokens == 256
    (tmp_path / "config.toml").write_text("roots = [\n")  # unreadable TOML: nothing can be kept
    backup, config = reset(tmp_path)
    assert backup is not None and backup.read_text() == "roots = [\n" and config.roots == []


def test_saving_keeps_comments_and_unknown_keys(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('# my folders\nroots = ["/a"]\nfuture_setting = 3\n')
    config = Config.load(tmp_path)
    config.roots.append("/b")
    config.save(tmp_path)
    saved = (tmp_path / "config.toml").read_text()
    assert saved.startswith("# my folders\n") and "future_setting = 3" in saved
    assert Config.load(tmp_path).roots == ["/a", "/b"]


def test_the_shared_index_settings_round_trip_and_path_map_is_checked(tmp_path: Path) -> None:
    config = Config(store="milvus:///srv/team.db?collection=team", store_consent=["milvus://h:19530/t"],
                    path_map={"/srv/share": "/Volumes/share"})
    config.save(tmp_path)
    assert Config.load(tmp_path) == config
    (tmp_path / "config.toml").write_text('path_map = ["/srv/share"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="path_map: expected a table of strings"):
        Config.load(tmp_path)
