"""The `docsign` command as a person at a terminal uses it: real subprocesses, real databases."""

import os
import stat

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.backend


def test_init_demo_is_idempotent_and_prints_logins(settings_env, settings):
    first = run_cli("init", "--demo", env=settings_env)
    assert first.returncode == 0, first.stderr
    assert "migrated to revision" in first.stdout
    assert "tinh.vanthu" in first.stdout and "docsign-demo" in first.stdout
    p12_before = {p.name: p.read_bytes() for p in (settings.keys_dir / "demo").glob("*.p12")}
    second = run_cli("init", "--demo", env=settings_env)
    assert second.returncode == 0, second.stderr
    assert "already at revision" in second.stdout
    assert {p.name: p.read_bytes() for p in (settings.keys_dir / "demo").glob("*.p12")} == p12_before
    for path in (settings.keys_dir / "demo").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_directory_accounts_tokens_and_audit(settings_env):
    assert run_cli("init", env=settings_env).returncode == 0
    added = run_cli("agency", "add", "--code", "000.00.00.H41", "--name", "UBND tỉnh Nghệ An", env=settings_env)
    assert added.returncode == 0, added.stderr
    assert "agency.000.00.00.H41" in added.stdout
    again = run_cli("agency", "add", "--code", "000.00.00.H41", "--name", "x", env=settings_env)
    assert again.returncode == 65
    assert again.stderr.strip() == "error: an agency with code 000.00.00.H41 already exists"
    bad = run_cli("agency", "add", "--code", "H41", "--name", "x", env=settings_env)
    assert bad.returncode == 65 and bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr
    listed = run_cli("agency", "list", env=settings_env)
    assert "000.00.00.H41  UBND tỉnh Nghệ An" in listed.stdout
    user = run_cli("user", "add", "--login", "vt", "--name", "Văn Thư", "--agency", "000.00.00.H41", "--role", "clerk",
                   env={**settings_env, "DOCSIGN_NEW_PASSWORD": "a long enough password"})
    assert user.returncode == 0, user.stderr
    token = run_cli("token", "create", "--agency", "000.00.00.H41", env=settings_env)
    assert token.returncode == 0 and token.stdout.strip().startswith("dsk_")
    verified = run_cli("audit", "verify", env=settings_env)
    assert verified.returncode == 0 and "audit chain intact: 3 events" in verified.stdout


def test_commands_refuse_an_uninitialised_database(settings_env):
    result = run_cli("worker", "--all", env=settings_env)
    assert result.returncode == 69
    assert result.stderr.strip() == ("error: the database is not initialised: "
                                     "run `docsign init` (or `docsign init --demo`)")


@pytest.mark.embedded_only
def test_bad_settings_and_unreachable_services_are_one_line(settings_env, tmp_path):
    bad = run_cli("init", env={**settings_env, "DOCSIGN_MAX_UPLOAD_MB": "lots"})
    assert (bad.returncode, bad.stderr.strip()) == (78, "error: DOCSIGN_MAX_UPLOAD_MB must be a whole number of MiB, "
                                                         "not 'lots'")
    down = run_cli("init", env={**settings_env, "DOCSIGN_DATABASE_URL": "postgresql+psycopg://u@127.0.0.1:9/x"})
    assert down.returncode == 69 and down.stderr.startswith("error: the database does not answer")
    assert len(down.stderr.strip().splitlines()) == 1
    assert run_cli("init", env=settings_env).returncode == 0
    broker_down = run_cli("web", "--port", "8999", env={**settings_env, "DOCSIGN_BROKER_URL": "redis://127.0.0.1:9/0"})
    assert broker_down.returncode == 69 and broker_down.stderr.startswith("error: the message broker does not answer")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    ro = run_cli("init", env={**settings_env, "DOCSIGN_DATA_DIR": str(blocker / "var")})
    assert ro.returncode == 74 and "is not writable" in ro.stderr and len(ro.stderr.strip().splitlines()) == 1
    assert os.path.isfile(blocker)
