"""Settings from DOCSIGN_* environment variables, with embedded defaults under ./var.

Loading settings is pure (it reads and validates, nothing more); creating the data directory and the
generated secrets happens in :func:`prepare_data_dir`, called by `docsign init` and the app factory.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from docsign.errors import ConfigError, StorageError

ENV_PREFIX = "DOCSIGN_"
SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name, not a secret
BROKER_SCHEMES = {"sqla+sqlite", "redis", "rediss", "amqp", "amqps", "pyamqp"}
KEYSTORE_PASSPHRASE_FILE = "keystore.passphrase"  # noqa: S105 - a file name
AUDIT_KEY_FILE = "audit_key"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    """Where the embedded database, broker, blobs and generated secrets live."""
    database_url: str
    """SQLAlchemy URL of the main database."""
    broker_url: str
    """Celery/kombu broker URL."""
    keys_dir: Path
    """Key material: demo PKI and key files that key references point at."""
    public_url: str
    """Base URL other parties reach this service at (printed in demo certificates' AIA/CRL)."""
    tsa_url: str
    """RFC 3161 timestamp authority used for B-T and higher."""
    max_upload_mb: int
    """Largest accepted upload, in MiB."""
    redeliver_after_seconds: int = 120
    """A delivery still queued this long after its message went out is published again."""
    delivery_attempts: int = 8
    """Attempts before a delivery is dead-lettered for an admin to re-drive: a worker's tries after
    retryable faults (with backoff), and the relay's publications of a delivery no one answered."""
    secret_key_override: str | None = None
    """DOCSIGN_SECRET_KEY when set; otherwise a key generated once into the data dir."""
    verify_rate: tuple[int, int] | None = (600, 60)
    """Public verification requests allowed per client IP: (requests, per seconds), None for no limit
    (DOCSIGN_VERIFY_RATE, e.g. "60/minute", "5/second", "off")."""
    verify_concurrency: int = 2
    """Anonymous verifications one web process runs at once (DOCSIGN_VERIFY_CONCURRENCY); more get 503."""
    verify_per_client: int = 2
    """Anonymous verifications one client IP may have running in one web process (DOCSIGN_VERIFY_PER_CLIENT)."""
    verify_timeout_seconds: int = 60
    """Longest one verification may run before its worker process is killed (DOCSIGN_VERIFY_TIMEOUT)."""
    fetch_allow_hosts: tuple[tuple[str, int], ...] = ()
    """Extra origins verification may fetch certificates, OCSP and CRLs from (DOCSIGN_FETCH_ALLOW_HOSTS,
    comma-separated host, host:port or URL), besides those the trust anchors name and the TSA/public URL."""
    smtp_url: str | None = None
    """Mail server for signed e-mail notifications (DOCSIGN_SMTP_URL: smtp://[user:password@]host[:port],
    smtps://... for TLS from the start, ?starttls=1 to upgrade); e-mail is off when unset."""
    mail_from: str | None = None
    """Envelope sender of notifications (DOCSIGN_MAIL_FROM); the From header is the seal's own address."""
    fetch_allow_private: bool = False
    """Let verification fetch from loopback/private/link-local addresses (DOCSIGN_FETCH_ALLOW_PRIVATE)."""
    fetch_max_requests: int = 16
    """Fetches one verification may make (DOCSIGN_FETCH_MAX_REQUESTS)."""
    fetch_max_seconds: int = 10
    """Seconds all fetches of one verification may take (DOCSIGN_FETCH_MAX_SECONDS)."""
    axis_url: str | None = None
    """The national document axis (VXP) endpoint, DOCSIGN_AXIS_URL; the axis is off when unset."""
    axis_system_id: str | None = None
    """This system's systemId on the axis (DOCSIGN_AXIS_SYSTEM_ID)."""
    axis_secret: str | None = None
    """The secret the axis issued with the systemId (DOCSIGN_AXIS_SECRET); keys the request HMAC."""
    login_rate: tuple[int, int] | None = (60, 60)
    """Login attempts (POST /login) allowed per client IP, as verify_rate (DOCSIGN_LOGIN_RATE)."""
    ratelimit_storage: str = "database"
    """Where the rate limits count, shared by every web process: "database" (the main database) or a
    redis:// URL (DOCSIGN_RATELIMIT_STORAGE; by default the broker when the broker is Redis)."""
    session_hours: int = 8
    """A login lasts at most this long (DOCSIGN_SESSION_HOURS)."""
    secure_cookies: bool = False
    """Cookies only over HTTPS (DOCSIGN_SECURE_COOKIES=1 behind a TLS proxy)."""
    audit_key_override: str | None = None
    """DOCSIGN_AUDIT_KEY when set; otherwise a key generated once into the data dir (never in the database)."""
    audit_checkpoint_seconds: int = 3600
    """How often the relay has the audit chains' heads timestamped by the TSA (DOCSIGN_AUDIT_CHECKPOINT)."""
    ltv_check_hours: int = 24
    """How often the beat job looks for kept documents whose evidence must be renewed (DOCSIGN_LTV_CHECK_HOURS)."""
    ltv_renew_days_before: int = 90
    """A document's evidence is renewed this many days before it stops holding (DOCSIGN_LTV_RENEW_DAYS_BEFORE)."""

    @property
    def embedded_database(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url.startswith("sqla+sqlite")

    @property
    def result_backend(self) -> str:
        """Task results go to the main database, whatever the broker."""
        return "db+" + self.database_url

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def secret_key(self) -> str:
        if self.secret_key_override:
            return self.secret_key_override
        return read_or_create_secret(self.data_dir / SECRET_KEY_FILE)

    @property
    def audit_key(self) -> str:
        """The HMAC key of the audit log, kept outside the database it authenticates."""
        if self.audit_key_override:
            return self.audit_key_override
        return read_or_create_secret(self.data_dir / AUDIT_KEY_FILE)

    @property
    def keystore_passphrase(self) -> bytes:
        """Passphrase that encrypts the private keys docsign generates (demo PKI) at rest."""
        return read_or_create_secret(self.data_dir / KEYSTORE_PASSPHRASE_FILE).encode()


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        value = env.get(ENV_PREFIX + name)
        return value.strip() if value is not None and value.strip() else None

    data_dir = Path(get("DATA_DIR") or "var").expanduser().absolute()
    keys_dir = Path(get("KEYS_DIR") or "keys").expanduser().absolute()
    database_url = get("DATABASE_URL") or f"sqlite:///{data_dir / 'docsign.sqlite'}"
    _check_database_url(database_url)
    broker_url = get("BROKER_URL") or f"sqla+sqlite:///{data_dir / 'broker.sqlite'}"
    _check_url("DOCSIGN_BROKER_URL", broker_url, BROKER_SCHEMES)
    public_url = (get("PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/")
    _check_url("DOCSIGN_PUBLIC_URL", public_url, {"http", "https"})
    tsa_url = get("TSA_URL") or f"{public_url}/pki/tsa"
    _check_url("DOCSIGN_TSA_URL", tsa_url, {"http", "https"})
    max_upload_mb = _int_setting(get, "MAX_UPLOAD_MB", 50, 1, 10240, "a whole number of MiB")
    redeliver_after = _int_setting(get, "REDELIVER_AFTER", 120, 5, 86400, "a whole number of seconds")
    delivery_attempts = _int_setting(get, "DELIVERY_ATTEMPTS", 8, 1, 100, "a whole number")
    verify_rate = _rate_setting(get, "VERIFY_RATE", "600/minute")
    verify_concurrency = _int_setting(get, "VERIFY_CONCURRENCY", 2, 1, 256, "a whole number")
    verify_per_client = _int_setting(get, "VERIFY_PER_CLIENT", 2, 1, 256, "a whole number")
    verify_timeout = _int_setting(get, "VERIFY_TIMEOUT", 60, 1, 3600, "a whole number of seconds")
    from docsign.pki.outbound import parse_allowed_hosts  # pulls in certvalidator: only when settings load

    try:
        fetch_allow_hosts = parse_allowed_hosts(get("FETCH_ALLOW_HOSTS") or "")
    except ValueError as exc:
        raise ConfigError(f"DOCSIGN_FETCH_ALLOW_HOSTS: {exc}") from None
    fetch_allow_private = _bool_setting(get, "FETCH_ALLOW_PRIVATE")
    fetch_max_requests = _int_setting(get, "FETCH_MAX_REQUESTS", 16, 0, 1000, "a whole number")
    fetch_max_seconds = _int_setting(get, "FETCH_MAX_SECONDS", 10, 1, 300, "a whole number of seconds")
    axis_url = get("AXIS_URL")
    if axis_url is not None:
        _check_url("DOCSIGN_AXIS_URL", axis_url, {"http", "https"})
        if not (get("AXIS_SYSTEM_ID") and get("AXIS_SECRET")):
            raise ConfigError("DOCSIGN_AXIS_URL needs DOCSIGN_AXIS_SYSTEM_ID and DOCSIGN_AXIS_SECRET")
    login_rate = _rate_setting(get, "LOGIN_RATE", "60/minute")
    ratelimit_storage = get("RATELIMIT_STORAGE") or (
        broker_url if urlsplit(broker_url).scheme in {"redis", "rediss"} else "database")
    if ratelimit_storage != "database":
        _check_url("DOCSIGN_RATELIMIT_STORAGE", ratelimit_storage, {"redis", "rediss"})
    session_hours = _int_setting(get, "SESSION_HOURS", 8, 1, 24 * 30, "a whole number of hours")
    secure_cookies = _bool_setting(get, "SECURE_COOKIES")
    audit_checkpoint = _int_setting(get, "AUDIT_CHECKPOINT", 3600, 10, 7 * 86400, "a whole number of seconds")
    ltv_check_hours = _int_setting(get, "LTV_CHECK_HOURS", 24, 1, 24 * 30, "a whole number of hours")
    ltv_renew_days = _int_setting(get, "LTV_RENEW_DAYS_BEFORE", 90, 1, 3650, "a whole number of days")
    smtp_url = get("SMTP_URL")
    if smtp_url is not None:
        from docsign.mail.transport import parse_smtp_url

        parse_smtp_url(smtp_url)  # refuses a malformed URL now, without echoing its password
    mail_from = get("MAIL_FROM")
    if mail_from is not None:
        from docsign.mail.addresses import checked_address

        mail_from = checked_address(mail_from, "DOCSIGN_MAIL_FROM", error=ConfigError)
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        broker_url=broker_url,
        keys_dir=keys_dir,
        public_url=public_url,
        tsa_url=tsa_url,
        max_upload_mb=max_upload_mb,
        redeliver_after_seconds=redeliver_after,
        delivery_attempts=delivery_attempts,
        secret_key_override=get("SECRET_KEY"),
        verify_rate=verify_rate,
        verify_concurrency=verify_concurrency,
        verify_per_client=verify_per_client,
        verify_timeout_seconds=verify_timeout,
        fetch_allow_hosts=fetch_allow_hosts,
        fetch_allow_private=fetch_allow_private,
        fetch_max_requests=fetch_max_requests,
        fetch_max_seconds=fetch_max_seconds,
        axis_url=axis_url.rstrip("/") if axis_url else None,
        axis_system_id=get("AXIS_SYSTEM_ID"),
        axis_secret=get("AXIS_SECRET"),
        login_rate=login_rate,
        ratelimit_storage=ratelimit_storage,
        session_hours=session_hours,
        secure_cookies=secure_cookies,
        audit_key_override=get("AUDIT_KEY"),
        audit_checkpoint_seconds=audit_checkpoint,
        smtp_url=smtp_url,
        mail_from=mail_from,
        ltv_check_hours=ltv_check_hours,
        ltv_renew_days_before=ltv_renew_days,
    )


def _bool_setting(get, name: str) -> bool:  # type: ignore[no-untyped-def]
    raw = (get(name) or "0").lower()
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"DOCSIGN_{name} must be 1 or 0 (true or false), not {raw!r}")


def _int_setting(get, name: str, default: int, low: int, high: int, what: str) -> int:  # type: ignore[no-untyped-def]
    raw = get(name) or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"DOCSIGN_{name} must be {what}, not {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"DOCSIGN_{name} must be between {low} and {high}, not {value}")
    return value


_RATE_PERIODS = {"second": 1, "s": 1, "minute": 60, "min": 60, "m": 60, "hour": 3600, "h": 3600}


def _rate_setting(get, name: str, default: str) -> tuple[int, int] | None:  # type: ignore[no-untyped-def]
    """"N/second", "N/minute" or "N/hour" as (N, seconds); "off" as None."""
    raw = get(name) or default
    if raw.lower() in {"off", "none", "0"}:
        return None
    count, _, period = raw.partition("/")
    seconds = _RATE_PERIODS.get(period.strip().lower())
    try:
        requests = int(count)
    except ValueError:
        requests = 0
    if seconds is None or not 1 <= requests <= 1_000_000:
        raise ConfigError(f"DOCSIGN_{name} must be a number of requests per second, minute or hour "
                          f"(like \"60/minute\") or \"off\", not {raw!r}")
    return requests, seconds


def _check_url(variable: str, url: str, schemes: set[str]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        allowed = ", ".join(sorted(schemes))
        raise ConfigError(f"{variable} must be a URL with one of the schemes {allowed}; got {url!r}")
    if parts.scheme in {"http", "https"} and not parts.netloc:
        raise ConfigError(f"{variable} must name a host; got {url!r}")


def _check_database_url(url: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"DOCSIGN_DATABASE_URL is not a database URL: {url!r}") from None
    if parsed.get_backend_name() not in {"sqlite", "postgresql"}:
        raise ConfigError(f"DOCSIGN_DATABASE_URL must be SQLite or PostgreSQL; got {parsed.get_backend_name()!r}")


def prepare_data_dir(settings: Settings) -> None:
    """Create the data directory layout; a read-only or unusable location is one clear error."""
    try:
        for path in (settings.data_dir, settings.blob_dir, settings.data_dir / "tmp"):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Keys, secrets, documents and the database live here: nobody else on the machine reads them.
        if settings.data_dir.stat().st_uid == os.getuid():
            os.chmod(settings.data_dir, 0o700)
        for url in (settings.database_url, settings.broker_url):
            sqlite_file = sqlite_path(url)
            if sqlite_file is not None and sqlite_file.parent.is_dir():
                create_private_file(sqlite_file)
        probe = settings.data_dir / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise StorageError(f"the data directory {settings.data_dir} is not writable ({exc.strerror})") from None
    settings.secret_key  # noqa: B018 - generated once, now, while the directory is known writable
    settings.keystore_passphrase  # noqa: B018
    settings.audit_key  # noqa: B018
    from docsign import audit  # here, not at the top: the audit log needs the models, settings do not

    audit.bind(settings)


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (database or kombu broker), None for other URLs and in-memory SQLite."""
    scheme, sep, rest = url.partition(":///")
    if not sep or scheme not in {"sqlite", "sqlite+pysqlite", "sqla+sqlite"}:
        return None
    path = rest.split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def create_private_file(path: Path) -> None:
    """Create ``path`` readable by its owner only (0600), or make an existing one so.

    SQLite gives its -wal and -shm files the mode of the database file, so this covers them too. An
    existing file is never opened: closing any descriptor of a SQLite file drops the locks this
    process's connections hold on it (POSIX advisory locks), which corrupts the WAL index."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        try:
            info = path.stat()
            if info.st_uid == os.getuid() and info.st_mode & 0o077:
                os.chmod(path, 0o600)
        except OSError as exc:
            raise StorageError(f"cannot make {path} private ({exc.strerror})") from None
    except OSError as exc:
        raise StorageError(f"cannot create {path} ({exc.strerror})") from None


def read_or_create_secret(path: Path) -> str:
    """Read a generated secret, creating it (mode 0600, atomically) the first time."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise StorageError(f"cannot read {path} ({exc.strerror})") from None
    value = secrets.token_urlsafe(48)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # never overwrite a secret another process created meanwhile
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    except OSError as exc:
        raise StorageError(f"cannot create {path} ({exc.strerror})") from None
    return path.read_text().strip()
