import stat

import pytest

from docsign.config import load_settings, prepare_data_dir
from docsign.errors import ConfigError, StorageError


def test_embedded_defaults_live_under_var(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings({})
    assert s.data_dir == tmp_path / "var"
    assert s.keys_dir == tmp_path / "keys"
    assert s.database_url == f"sqlite:///{tmp_path / 'var' / 'docsign.sqlite'}"
    assert s.broker_url == f"sqla+sqlite:///{tmp_path / 'var' / 'broker.sqlite'}"
    assert s.tsa_url == "http://127.0.0.1:8000/pki/tsa"
    assert s.max_upload_mb == 50
    assert s.embedded_database and s.embedded_broker


@pytest.mark.parametrize(("variable", "value", "fragment"), [
    ("DOCSIGN_MAX_UPLOAD_MB", "fifty", "DOCSIGN_MAX_UPLOAD_MB must be a whole number"),
    ("DOCSIGN_MAX_UPLOAD_MB", "0", "DOCSIGN_MAX_UPLOAD_MB must be between"),
    ("DOCSIGN_DATABASE_URL", "not a url", "DOCSIGN_DATABASE_URL"),
    ("DOCSIGN_DATABASE_URL", "mysql://x@y/z", "SQLite or PostgreSQL"),
    ("DOCSIGN_BROKER_URL", "kafka://x", "DOCSIGN_BROKER_URL"),
    ("DOCSIGN_TSA_URL", "ftp://tsa", "DOCSIGN_TSA_URL"),
    ("DOCSIGN_PUBLIC_URL", "http://", "DOCSIGN_PUBLIC_URL must name a host"),
])
def test_malformed_settings_name_the_variable(variable, value, fragment):
    with pytest.raises(ConfigError) as info:
        load_settings({variable: value})
    assert fragment in info.value.message
    assert variable in info.value.message


def test_secret_key_is_generated_once_with_mode_0600(tmp_path):
    s = load_settings({"DOCSIGN_DATA_DIR": str(tmp_path / "var")})
    prepare_data_dir(s)
    first = s.secret_key
    assert len(first) >= 48
    assert load_settings({"DOCSIGN_DATA_DIR": str(tmp_path / "var")}).secret_key == first
    for name in ("secret_key", "keystore.passphrase"):
        assert stat.S_IMODE((tmp_path / "var" / name).stat().st_mode) == 0o600


def test_secret_key_from_environment_wins(tmp_path):
    s = load_settings({"DOCSIGN_DATA_DIR": str(tmp_path), "DOCSIGN_SECRET_KEY": "from-env"})
    assert s.secret_key == "from-env"


def test_read_only_data_dir_is_one_clear_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        s = load_settings({"DOCSIGN_DATA_DIR": str(ro / "var")})
        with pytest.raises(StorageError, match="not writable"):
            if _running_as_root():
                # root ignores permission bits; a path under a file is unwritable for everyone
                (tmp_path / "file").write_text("x")
                prepare_data_dir(load_settings({"DOCSIGN_DATA_DIR": str(tmp_path / "file" / "var")}))
            prepare_data_dir(s)
    finally:
        ro.chmod(0o700)


def _running_as_root() -> bool:
    import os

    return os.geteuid() == 0
