"""What must never reach the index: secrets behind symlinks, browser profiles and credential files
below any root, private keys under any name, the data dir itself; and errors are retried."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import embedder_for, index_folder, snapshot

from indexer.cli import cli
from indexer.config import Config
from indexer.datadir import DataDir
from indexer.ingest.excludes import (
    LINK_BROKEN,
    LINK_EXCLUDED,
    LINK_NOT_REGULAR,
    LINK_OUTSIDE,
    AnyDepth,
    Excludes,
)
from indexer.ingest.private_keys import PRIVATE_KEY
from indexer.write.watcher import Batch, WatchCallbacks, Watcher, WatchOptions

KEY_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ supersecretkeymaterial"
PRIVATE_KEY_TEXT = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{KEY_BODY}\n-----END OPENSSH PRIVATE KEY-----\n"
SHADOW_TEXT = "root:$6$saltsalt$shadowpasswordhash:19000:0:99999:7:::\n"
QUICK = WatchOptions(debounce=0.05, low_priority=False, battery=lambda: None)
pytestmark = pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")


def fake_home(tmp_path: Path) -> Path:
    """A home with a key in `.ssh`, a shadow file outside it, and links to both from Documents."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text(PRIVATE_KEY_TEXT)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "shadow").write_text(SHADOW_TEXT)
    docs = home / "Documents"
    docs.mkdir()
    (docs / "garden.txt").write_text("Tomatoes need sun and water every day in summer.")
    (docs / "link.txt").symlink_to(home / ".ssh" / "id_rsa")
    (docs / "shadow-link.txt").symlink_to(tmp_path / "etc" / "shadow")
    if os.path.exists("/etc/shadow"):
        (docs / "system-shadow.txt").symlink_to("/etc/shadow")
    return home


def cli_run(*args: str, data: Path, model: Path):
    return CliRunner().invoke(cli, ["--data-dir", str(data), "--model", str(model), *args],
                              catch_exceptions=False)


def stored_text(data: Path) -> str:
    """Every chunk text and file name in the catalog, FTS included, as one string."""
    conn = sqlite3.connect(f"file:{data / 'catalog.sqlite'}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT text FROM chunks UNION ALL SELECT text || ' ' || name FROM chunks_fts")
        return "\n".join(r[0] for r in rows)
    finally:
        conn.close()


def search_results(query: str, data: Path, model: Path, mode: str) -> list[dict]:
    """`findling search QUERY --json`'s results."""
    result = cli_run("search", query, "--json", "--k", "50", "--mode", mode, data=data, model=model)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["results"]


@pytest.mark.parametrize("root", ["home", "Documents"])
def test_symlinked_secrets_never_reach_the_index_or_search(tmp_path: Path, tiny_model_dir: Path,
                                                           root: str) -> None:
    home = fake_home(tmp_path)
    docs = home / "Documents"
    folder = home if root == "home" else docs
    data = tmp_path / "data"
    result = cli_run("index", str(folder), data=data, model=tiny_model_dir)
    assert result.exit_code == 0, result.output

    for mode in ("keyword", "hybrid", "dense"):
        for query in ("supersecretkeymaterial", "shadowpasswordhash", "PRIVATE KEY"):
            out = json.dumps(search_results(query, data, tiny_model_dir, mode))
            assert "supersecretkeymaterial" not in out and "shadowpasswordhash" not in out, (mode, query)
            assert "BEGIN OPENSSH" not in out
    assert "supersecretkeymaterial" not in stored_text(data)
    assert "shadowpasswordhash" not in stored_text(data)

    files = snapshot(data)
    key_link = files[str(docs / "link.txt")]
    assert key_link["status"] == "skipped"
    assert key_link["reason"] == LINK_EXCLUDED  # excluded wherever it is, inside the roots or not
    assert [text for text, *_ in key_link["chunks"]] == ["link.txt"]  # found by its name only
    assert files[str(docs / "shadow-link.txt")]["reason"] == LINK_OUTSIDE
    if (docs / "system-shadow.txt").is_symlink():
        assert files[str(docs / "system-shadow.txt")]["reason"] == LINK_OUTSIDE
    assert files[str(docs / "garden.txt")]["status"] == "indexed"
    assert not any(".ssh" in path for path in files)

    status = json.loads(cli_run("status", "--json", data=data, model=tiny_model_dir).stdout)
    assert status["indexed"] == 1 and status["skipped"] == len(list(docs.iterdir())) - 1


def test_link_to_a_file_inside_the_roots_is_indexed_once(tmp_path: Path, tiny_model_dir: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "notes").mkdir(parents=True)
    target = docs / "notes" / "garden.txt"
    target.write_text("Tomatoes need sun and water every day in summer.")
    (docs / "garden-alias.txt").symlink_to(target)
    (docs / "relative-alias.txt").symlink_to(Path("notes") / "garden.txt")
    (docs / "dangling.txt").symlink_to(docs / "gone.txt")
    os.mkfifo(docs / "pipe")
    (docs / "pipe-link.txt").symlink_to(docs / "pipe")
    (docs / "folder-link").symlink_to(docs / "notes", target_is_directory=True)
    data = tmp_path / "data"
    report = index_folder(docs, data, tiny_model_dir)
    files = snapshot(data)
    assert sorted(files) == sorted(str(docs / name) for name in (
        "notes/garden.txt", "garden-alias.txt", "relative-alias.txt", "dangling.txt", "pipe-link.txt"))
    assert files[str(target)]["status"] == "indexed"
    for alias in ("garden-alias.txt", "relative-alias.txt"):
        assert files[str(docs / alias)]["status"] == "skipped"
        assert files[str(docs / alias)]["reason"] == f"symlink to {target}, indexed under its own path"
        assert [text for text, *_ in files[str(docs / alias)]["chunks"]] == [alias]
    assert files[str(docs / "dangling.txt")]["reason"] == LINK_BROKEN
    assert files[str(docs / "pipe-link.txt")]["reason"] == LINK_NOT_REGULAR
    assert (report.indexed, report.skipped) == (1, 4)

    found = search_results("tomatoes sun water", data, tiny_model_dir, "keyword")
    assert [r["path"] for r in found] == [str(target)]  # the content once
    found = search_results("alias", data, tiny_model_dir, "keyword")
    assert {r["path"] for r in found} == {str(docs / "garden-alias.txt"), str(docs / "relative-alias.txt")}

    again = index_folder(docs, data, tiny_model_dir)
    assert (again.unchanged, again.indexed, again.skipped) == (5, 0, 0)
    target.unlink()  # the alias now dangles: judged again although the link itself did not change
    index_folder(docs, data, tiny_model_dir)
    assert snapshot(data)[str(docs / "garden-alias.txt")]["reason"] == LINK_BROKEN


def test_a_link_given_as_a_path_is_judged_as_a_link(tmp_path: Path, tiny_model_dir: Path) -> None:
    """`findling index Documents/link.txt` (or a watcher batch naming it) does not follow it out."""
    home = fake_home(tmp_path)
    data = tmp_path / "data"
    index_folder(home / "Documents" / "link.txt", data, tiny_model_dir)
    files = snapshot(data)
    assert files[str(home / "Documents" / "link.txt")]["reason"] == LINK_EXCLUDED
    index_folder(home / "Documents" / "shadow-link.txt", data, tiny_model_dir)
    assert snapshot(data)[str(home / "Documents" / "shadow-link.txt")]["reason"] == LINK_OUTSIDE
    assert "supersecretkeymaterial" not in stored_text(data)


def test_the_watcher_judges_new_links_by_their_target(tmp_path: Path, tiny_model_dir: Path) -> None:
    home = fake_home(tmp_path)
    docs = home / "Documents"
    for link in docs.iterdir():
        if link.is_symlink():
            link.unlink()
    data = tmp_path / "data"
    watcher = Watcher(DataDir(data), Config(), embedder_for(str(tiny_model_dir)), [str(docs)],
                      QUICK)
    watcher.start()
    try:
        assert watcher.wait_idle(30)
        (docs / "link.txt").symlink_to(home / ".ssh" / "id_rsa")
        (docs / "shadow-link.txt").symlink_to(tmp_path / "etc" / "shadow")
        (docs / "keys").symlink_to(home / ".ssh", target_is_directory=True)  # a folder link: not followed
        (docs / "alias.txt").symlink_to(docs / "garden.txt")
        deadline = time.monotonic() + 30
        while len(snapshot(data)) < 4:
            assert time.monotonic() < deadline, "the new links were never recorded"
            time.sleep(0.05)
        assert watcher.wait_idle(30)
    finally:
        watcher.stop()
    files = snapshot(data)
    assert sorted(files) == sorted(str(docs / n) for n in ("garden.txt", "link.txt", "shadow-link.txt",
                                                            "alias.txt"))
    assert files[str(docs / "link.txt")]["reason"] == LINK_EXCLUDED
    assert files[str(docs / "shadow-link.txt")]["reason"] == LINK_OUTSIDE
    assert files[str(docs / "alias.txt")]["status"] == "skipped"
    assert "supersecretkeymaterial" not in stored_text(data)
    assert "shadowpasswordhash" not in stored_text(data)


def test_default_excludes_hold_at_any_depth_and_for_any_root(tmp_path: Path, tiny_model_dir: Path) -> None:
    homes = tmp_path / "home"  # like /home
    alice = homes / "alice"
    private = [
        alice / ".config" / "google-chrome" / "Default" / "History.txt",
        alice / ".config" / "BraveSoftware" / "Brave-Browser" / "Default" / "Bookmarks.txt",
        alice / ".config" / "chromium" / "Default" / "Preferences.txt",
        alice / ".config" / "microsoft-edge" / "Default" / "Preferences.txt",
        alice / ".config" / "vivaldi" / "Default" / "Preferences.txt",
        alice / ".mozilla" / "firefox" / "abc.default" / "prefs.txt",
        alice / ".local" / "share" / "Trash" / "files" / "old-letter.txt",
        alice / ".local" / "share" / "keyrings" / "login.txt",
        alice / "projects" / "deep" / "down" / "here" / ".ssh" / "config.txt",
        alice / "projects" / ".gnupg" / "notes.txt",
        homes / "bob" / ".password-store" / "bank.txt",
        homes / "usb" / ".Trash-1000" / "files" / "deleted.txt",
    ]
    public = [alice / ".config" / "app" / "settings.txt", alice / ".local" / "share" / "notes" / "todo.txt",
              homes / "bob" / "letter.txt"]
    for path in private + public:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"The text of {path.name}, private or not.")
    for root, expected in [
        (alice / ".config", [public[0]]),
        (alice / ".local", [public[1]]),
        (homes, public),
        (alice / ".config" / "google-chrome", []),  # a root inside an excluded folder indexes nothing
    ]:
        data = tmp_path / f"data-{root.name}"
        index_folder(root, data, tiny_model_dir)
        assert sorted(snapshot(data)) == sorted(str(p) for p in expected), root


CREDENTIALS = [
    ".aws/credentials", ".netrc", ".git-credentials", ".pgpass", ".docker/config.json", ".kube/config",
    ".config/gh/hosts.yml", "project/.env", "project/.env.local", "project/.env.example", ".bash_history",
    ".zsh_history", ".python_history", ".local/share/fish/fish_history", "certs/server.pem",
    "certs/server.key", "backup/id_rsa", "backup/id_ed25519", ".npmrc", ".pypirc",
]


def test_credential_files_are_excluded_by_default_and_can_be_reincluded(tmp_path: Path,
                                                                       tiny_model_dir: Path) -> None:
    home = tmp_path / "home"
    for name in [*CREDENTIALS, "project/README.md", "project/settings.env.md"]:
        path = home / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"token = hunter2 <{name}> for the deploy")
    for root in (home, home / "project"):  # the home, and a root that is not the home
        data = tmp_path / f"data-{root.name}"
        index_folder(root, data, tiny_model_dir)
        assert sorted(snapshot(data)) == [str(home / "project" / "README.md"),
                                          str(home / "project" / "settings.env.md")]
        stored = stored_text(data)
        assert not [name for name in CREDENTIALS if f"<{name}>" in stored]

    data = tmp_path / "data-reincluded"
    index_folder(home, data, tiny_model_dir, Config(excludes=["!.env.example", "!**/.aws/credentials"]))
    assert sorted(snapshot(data)) == sorted(str(home / n) for n in (
        "project/README.md", "project/settings.env.md", "project/.env.example", ".aws/credentials"))


def test_a_private_key_under_any_name_is_skipped(tmp_path: Path, tiny_model_dir: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "backup.txt").write_text(PRIVATE_KEY_TEXT)
    (docs / "server-tls").write_text("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAA supersecretkeymaterial\n")
    (docs / "gpg-export.asc").write_text("\n-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nsupersecretkeymaterial")
    (docs / "howto.md").write_text("# TLS\n\nA key file starts with -----BEGIN RSA PRIVATE KEY----- "
                                   "and must stay secret; the certificate is public.")
    data = tmp_path / "data"
    index_folder(docs, data, tiny_model_dir)
    files = snapshot(data)
    for name in ("backup.txt", "server-tls", "gpg-export.asc"):
        row = files[str(docs / name)]
        assert (row["status"], row["reason"]) == ("skipped", PRIVATE_KEY)
    assert files[str(docs / "howto.md")]["status"] == "indexed"  # a document about keys is not a key
    assert "supersecretkeymaterial" not in stored_text(data)


def test_the_data_dir_is_never_indexed_wherever_it_is(tmp_path: Path, tiny_model_dir: Path) -> None:
    home = tmp_path / "home"
    (home / "notes").mkdir(parents=True)
    (home / "notes" / "a.txt").write_text("The cat sat on the mat.")
    data = home / "my-index"  # not a default-excluded name
    index_folder(home, data, tiny_model_dir)
    index_folder(home, data, tiny_model_dir)  # the catalog and vectors exist now
    assert sorted(snapshot(data)) == [str(home / "notes" / "a.txt")]
    link_in = home / "notes" / "catalog-link"
    link_in.symlink_to(data / "catalog.sqlite")
    index_folder(home, data, tiny_model_dir)
    assert snapshot(data)[str(link_in)]["reason"] == LINK_EXCLUDED


def test_watch_stays_idle_with_the_data_dir_inside_the_root(tmp_path: Path, tiny_model_dir: Path) -> None:
    home = tmp_path / "home"
    (home / "notes").mkdir(parents=True)
    (home / "notes" / "a.txt").write_text("The cat sat on the mat and looked at the garden.")
    data = home / "index-data"
    batches: list[Batch] = []
    watcher = Watcher(DataDir(data), Config(), embedder_for(str(tiny_model_dir)), [str(home)],
                      QUICK, WatchCallbacks(on_batch=batches.append))
    watcher.start()
    try:
        deadline = time.monotonic() + 30
        while not any(b.kind == "embed" for b in batches) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert watcher.wait_idle(30)
        batches.clear()
        time.sleep(2.5)  # the embed commits above wrote the WAL: no event of it may come back
        assert [b for b in batches if b.kind != "embed"] == []
        assert watcher.status().state == "idle"
    finally:
        watcher.stop()
    assert sorted(snapshot(data)) == [str(home / "notes" / "a.txt")]


def refuse_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the extraction workers fail to read a file without read permission, as a non-root
    user's would (the tests run as root)."""
    import worker_tasks

    import indexer.ingest.prepare as prepare

    monkeypatch.setattr(prepare, "_extract_in_worker", worker_tasks.unreadable_when_mode_000)


def test_an_unreadable_file_fixed_by_chmod_is_indexed_at_the_next_run(
        tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    secret = docs / "letter.txt"
    secret.write_text("Dear neighbour, the fence between our gardens needs paint.")
    os.chmod(secret, 0)
    data = tmp_path / "data"
    with monkeypatch.context() as patch:
        refuse_unreadable(patch)
        index_folder(docs, data, tiny_model_dir)
        row = snapshot(data)[str(secret)]
        assert row["status"] == "error" and "Permission denied" in row["reason"]
        os.chmod(secret, 0o644)  # neither size nor mtime changes
        report = index_folder(docs, data, tiny_model_dir)
    assert report.indexed == 1
    row = snapshot(data)[str(secret)]
    assert row["status"] == "indexed" and "fence" in row["chunks"][0][0]


def test_an_extraction_error_is_retried_at_the_next_run(tmp_path: Path, tiny_model_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The file was read (its hash recorded) but its parser failed once: the next run retries it."""
    import worker_tasks

    import indexer.ingest.prepare as prepare

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "letter.txt").write_text("Dear neighbour, the fence between our gardens needs paint.")
    (docs / "copy.txt").write_text("Dear neighbour, the fence between our gardens needs paint.")
    (tmp_path / "fail-once").touch()
    monkeypatch.setattr(prepare, "_extract_in_worker", worker_tasks.parser_fails_once)
    data = tmp_path / "data"
    index_folder(docs, data, tiny_model_dir)
    assert sorted(row["status"] for row in snapshot(data).values()) == ["error", "indexed"]
    index_folder(docs, data, tiny_model_dir)
    assert {row["status"] for row in snapshot(data).values()} == {"indexed"}


def test_the_watcher_retries_an_error_when_its_mode_changes(tmp_path: Path, tiny_model_dir: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("The cat sat on the mat.")
    secret = docs / "letter.txt"
    secret.write_text("Dear neighbour, the fence between our gardens needs paint.")
    os.chmod(secret, 0)
    refuse_unreadable(monkeypatch)
    data = tmp_path / "data"
    watcher = Watcher(DataDir(data), Config(), embedder_for(str(tiny_model_dir)), [str(docs)],
                      QUICK)
    watcher.start()
    try:
        assert watcher.wait_idle(30)
        assert snapshot(data)[str(secret)]["status"] == "error"
        os.chmod(secret, 0o644)  # an attribute event only: size and mtime stay
        deadline = time.monotonic() + 30
        while snapshot(data)[str(secret)]["status"] != "indexed":
            assert time.monotonic() < deadline, "the chmod-fixed file was never retried"
            time.sleep(0.05)
    finally:
        watcher.stop()


def test_any_depth_matcher_agrees_with_pathspec() -> None:
    """The one-regex matcher of the defaults answers as pathspec does, path by path."""
    import pathspec

    from indexer.config import DEFAULT_EXCLUDES
    from indexer.ingest.excludes import anywhere

    spec = pathspec.GitIgnoreSpec.from_lines([anywhere(p) for p in DEFAULT_EXCLUDES])
    fast = AnyDepth(DEFAULT_EXCLUDES)
    names = ["notes.txt", ".ssh", "id_rsa", "id_rsa.pub", ".env", ".env.prod", "x.env", "a.pem", "k.key",
             "credentials", ".aws", "google-chrome", ".config", "Default", "Trash", ".Trash-1000", "x~",
             "~$doc.docx", "a.tmp", ".bash_history", "history", "node_modules", ".git", ".gitignore",
             "Library", "Application Support", "Firefox", "$RECYCLE.BIN", "config.json", ".docker"]
    paths = {f"{a}/{b}/{c}{end}" for a in ("home/u", "u") for b in names for c in names for end in ("", "/")}
    assert len(paths) > 3000
    disagree = [p for p in paths if fast.match(p) != spec.match_file(p)]
    assert disagree == []
    assert any(fast.match(p) for p in paths) and not all(fast.match(p) for p in paths)


def test_excludes_without_defaults_keep_the_data_dir_and_the_users_patterns(tmp_path: Path) -> None:
    config = Config(excludes=["*.log", "!keep.log"], use_default_excludes=False)
    rules = Excludes.for_config(config, tmp_path / "data", [str(tmp_path)])
    assert rules.excluded(str(tmp_path), str(tmp_path / "data" / "catalog.sqlite"))
    assert rules.excluded(str(tmp_path), str(tmp_path / "x" / "run.log"))
    assert not rules.excluded(str(tmp_path), str(tmp_path / "x" / "keep.log"))
    assert not rules.excluded(str(tmp_path), str(tmp_path / ".ssh" / "id_rsa"))


def test_a_root_the_default_excludes_cover_is_said_not_silently_empty(tmp_path: Path,
                                                                     tiny_model_dir: Path) -> None:
    """`findling index ~/.cache/notes` used to print "0 files" and nothing else; it now says why, and
    the way it names (use_default_excludes = false) indexes the folder."""
    notes = tmp_path / "home" / ".cache" / "notes"
    notes.mkdir(parents=True)
    (notes / "a.txt").write_text("The cat sat on the mat.")
    data = tmp_path / "data"
    result = cli_run("index", str(notes), data=data, model=tiny_model_dir)
    assert f"Nothing in {notes} is indexed: the default exclude '.cache/' covers it" in result.output
    assert "use_default_excludes" in result.output and snapshot(data) == {}
    inside = data / "inbox"
    inside.mkdir()
    result = cli_run("index", str(inside), data=data, model=tiny_model_dir)
    assert "it is inside the index's own data folder" in result.output
    config = Config.load(data)
    config.use_default_excludes = False
    config.save(data)
    result = cli_run("index", str(notes), data=data, model=tiny_model_dir)
    assert "Nothing in" not in result.output
    assert list(snapshot(data)) == [str(notes / "a.txt")]
