import hashlib
import io
import os
import tracemalloc

import pytest

from docsign.errors import BlobCorrupted, InvalidInput, NotFound, PayloadTooLarge
from docsign.storage import BlobStore


def test_put_and_read_back_by_sha256(tmp_path):
    store = BlobStore(tmp_path)
    blob = store.put_bytes(b"van ban")
    assert blob.key == hashlib.sha256(b"van ban").hexdigest()
    assert blob.size == 7
    assert store.read_bytes(blob.key) == b"van ban"
    assert store.put_bytes(b"van ban") == blob  # content-addressed: the same bytes, the same blob


def test_corrupted_blob_is_never_returned(tmp_path):
    store = BlobStore(tmp_path)
    blob = store.put_bytes(b"original bytes")
    path = store.path_for(blob.key)
    path.chmod(0o600)
    path.write_bytes(b"tampered bytes")
    with pytest.raises(BlobCorrupted):
        store.read_bytes(blob.key)
    destination = tmp_path / "out.pdf"
    with pytest.raises(BlobCorrupted):
        store.copy_to(blob.key, destination)
    assert not destination.exists()


def test_oversized_stream_leaves_nothing_behind(tmp_path):
    store = BlobStore(tmp_path)
    with pytest.raises(PayloadTooLarge):
        store.put_stream(io.BytesIO(b"x" * 5000), max_bytes=4096)
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert leftovers == []


def test_missing_and_malformed_keys(tmp_path):
    store = BlobStore(tmp_path)
    with pytest.raises(NotFound):
        store.read_bytes("0" * 64)
    with pytest.raises(InvalidInput):
        store.path_for("../../etc/passwd")


class _Zeros(io.RawIOBase):
    """A large stream that exists only as it is read."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = min(len(buffer), self.left)
        buffer[:n] = b"\0" * n
        self.left -= n
        return n


def test_large_blobs_stream_in_bounded_memory(tmp_path):
    size = 300 * 1024 * 1024
    store = BlobStore(tmp_path)
    tracemalloc.start()
    try:
        blob = store.put_stream(io.BufferedReader(_Zeros(size), 1024 * 1024))
        with store.open(blob.key) as fh:
            fh.read(1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert blob.size == size
    assert peak < 16 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB while streaming {size / 1e6:.0f} MB"
    os.unlink(store.path_for(blob.key))
