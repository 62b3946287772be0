"""The serverless broker of the embedded mode: kombu's SQLAlchemy transport on a SQLite file,
tuned for one machine (short polling so a demo feels immediate, a busy timeout so the web app and
the worker can both write to the file)."""

from __future__ import annotations

from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy import create_engine


class Channel(kombu_sqla.Channel):  # type: ignore[misc]
    def _engine_from_config(self):  # type: ignore[no-untyped-def]
        return create_engine(self.connection.client.hostname, connect_args={"timeout": 30})


class Transport(kombu_sqla.Transport):  # type: ignore[misc]
    Channel = Channel
    polling_interval = 0.2
