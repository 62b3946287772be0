"""docsign itself hashes passwords at the production cost (the test process lowers it: tests/conftest.py)."""

import subprocess
import sys

from argon2 import extract_parameters, profiles

from docsign import security


def test_docsign_hashes_passwords_with_argon2id_at_rfc_9106_low_memory_cost():
    assert security.PASSWORD_PARAMETERS == profiles.RFC_9106_LOW_MEMORY
    made = subprocess.run([sys.executable, "-c", "from docsign.security import hash_password; "
                           "print(hash_password('mật khẩu thử'))"], capture_output=True, text=True, check=True)
    stored = made.stdout.strip()
    assert stored.startswith("$argon2id$")
    assert extract_parameters(stored) == profiles.RFC_9106_LOW_MEMORY
    assert security.verify_password(stored, "mật khẩu thử")
    assert not security.verify_password(stored, "mật khẩu khác")
