"""Content-addressed blob store on the filesystem.

A blob's key is the SHA-256 of its bytes. Writes stream into a temporary file in the store, are
fsynced and renamed into place, so a partial blob is never visible under its key. Reads check the
bytes against the key before handing them out: a corrupted blob raises BlobCorrupted and its bytes
are never returned.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from docsign.errors import BlobCorrupted, InvalidInput, NotFound, PayloadTooLarge, StorageError

CHUNK = 1024 * 1024
KEY_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class StoredBlob:
    key: str
    """SHA-256 hex digest of the bytes."""
    size: int


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / ".tmp"

    def path_for(self, key: str) -> Path:
        if not KEY_RE.match(key):
            raise InvalidInput(f"not a blob key: {key!r}")
        return self.root / key[:2] / key[2:4] / key

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def put_stream(self, source: BinaryIO, max_bytes: int | None = None) -> StoredBlob:
        """Store everything ``source`` yields, in chunks; over ``max_bytes`` nothing is kept."""
        digest = hashlib.sha256()
        size = 0
        try:
            self._tmp.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="blob-")
        except OSError as exc:
            raise StorageError(f"cannot write to the blob store {self.root} ({exc.strerror})") from None
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise PayloadTooLarge(f"the file is larger than {max_bytes // (1024 * 1024)} MiB")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            key = digest.hexdigest()
            final = self.path_for(key)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(tmp, 0o440)
            os.replace(tmp, final)  # same content under the same name: replacing an existing copy is harmless
            _fsync_dir(final.parent)
            return StoredBlob(key, size)
        except OSError as exc:
            raise StorageError(f"cannot write to the blob store {self.root} ({exc.strerror})") from None
        finally:
            tmp.unlink(missing_ok=True)

    def put_bytes(self, data: bytes) -> StoredBlob:
        import io

        return self.put_stream(io.BytesIO(data))

    def put_file(self, path: Path) -> StoredBlob:
        with path.open("rb") as fh:
            return self.put_stream(fh)

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        """An open, verified file: its bytes were hashed through once and match ``key``."""
        path = self.path_for(key)
        try:
            fh = path.open("rb")
        except FileNotFoundError:
            raise NotFound(f"blob {key[:12]}… is missing from the store") from None
        except OSError as exc:
            raise StorageError(f"cannot read blob {key[:12]}… ({exc.strerror})") from None
        with fh:
            digest = hashlib.sha256()
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
            if digest.hexdigest() != key:
                raise BlobCorrupted(f"stored file {key[:12]}… no longer matches its SHA-256; restore it from backup")
            fh.seek(0)
            yield fh

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as fh:
            return fh.read()

    def copy_to(self, key: str, destination: Path) -> None:
        """Write a verified copy to ``destination`` atomically."""
        with self.open(key) as fh:
            tmp = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
            try:
                with tmp.open("wb") as out:
                    shutil.copyfileobj(fh, out, CHUNK)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, destination)
            finally:
                tmp.unlink(missing_ok=True)

    def check_writable(self) -> None:
        try:
            self._tmp.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self._tmp):
                pass
        except OSError as exc:
            raise StorageError(f"the blob store {self.root} is not writable ({exc.strerror})") from None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
