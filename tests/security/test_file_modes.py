"""Item 13: the data directory and the SQLite files are for the service's user only.

Attack: another account on the machine reads the database (users, token hashes, the audit log) or the
data dir. Before, both were created with the umask's modes (0755 / 0644).
"""

from __future__ import annotations

import os
import stat

import pytest

from docsign.config import load_settings
from docsign.web.app import create_app

pytestmark = pytest.mark.embedded_only


def _mode(path) -> int:  # type: ignore[no-untyped-def]
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_install_keeps_its_files_private(tmp_path):  # type: ignore[no-untyped-def]
    old_umask = os.umask(0o022)  # a usual umask: what it would give is world-readable
    try:
        settings = load_settings({"DOCSIGN_DATA_DIR": str(tmp_path / "var"), "DOCSIGN_KEYS_DIR": str(tmp_path / "k")})
        from docsign import migrations

        settings.keys_dir.mkdir()
        app = create_app(settings)
        migrations.upgrade(settings.database_url)
        assert app.test_client().get("/healthz").status_code == 200  # the broker's database is made too
    finally:
        os.umask(old_umask)
    data = settings.data_dir
    assert _mode(data) == 0o700
    assert _mode(data / "blobs") == 0o700 and _mode(data / "tmp") == 0o700
    files = sorted(p for p in data.iterdir() if p.name.endswith((".sqlite", ".sqlite-wal", ".sqlite-shm")))
    assert {p.name for p in files} >= {"docsign.sqlite", "broker.sqlite"}
    for path in files:
        assert _mode(path) == 0o600, f"{path.name} is {oct(_mode(path))}"


def test_an_existing_world_readable_install_is_tightened(tmp_path):  # type: ignore[no-untyped-def]
    data = tmp_path / "var"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    (data / "docsign.sqlite").touch()
    os.chmod(data / "docsign.sqlite", 0o644)
    create_app(load_settings({"DOCSIGN_DATA_DIR": str(data), "DOCSIGN_KEYS_DIR": str(tmp_path / "k")}))
    assert _mode(data) == 0o700 and _mode(data / "docsign.sqlite") == 0o600
