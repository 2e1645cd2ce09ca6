#!/usr/bin/env python3
"""Makes the SQLite fixtures of `tests/durable_input.rs`, which are checked in next to this script.

The root package of the workspace has no SQLite library of its own (only `orch` links rusqlite),
so these files are made once, here, with Python's `sqlite3` module, and committed. To remake them:

    cd tests/durable_input && python3 make_fixtures.py

The files are small (512-byte pages, rollback journal: no -wal file to carry along). The tests
copy them to a temporary directory before opening them, since opening a journal changes it.

- `foreign.db`: another program's database (its own tables, no application id).
- `other_application.db`: a database whose `PRAGMA application_id` is another program's
  (GeoPackage's "GPKG").
- `future_format.db`: an orch journal (orch's application id and tables) whose format,
  `PRAGMA user_version`, is 99: as written by a newer orch.
- `bad_entry.db`: an orch journal of format 1 holding two runs whose entries this orch cannot
  read: run `evt-a`, whose second entry is cut short (not JSON), and run `evt-c`, whose entry is
  JSON of an event type orch does not know.

The orch schema below mirrors `SCHEMA` in `orch/src/sqlite.rs` (format 1).
"""

import os
import sqlite3

HERE = os.path.dirname(os.path.abspath(__file__))
ORCH_APPLICATION_ID = 0x6F726368  # "orch"
GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"

ORCH_SCHEMA = """
    CREATE TABLE runs (
        event_id TEXT PRIMARY KEY,
        orchestration TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        organization_id TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT
    ) WITHOUT ROWID;
    CREATE INDEX runs_by_tenant ON runs (tenant_id, started_at);
    CREATE TABLE entries (
        seq INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL,
        entry TEXT NOT NULL
    );
    CREATE INDEX entries_by_run ON entries (event_id, seq);
"""

AT = "2025-01-01T00:00:00.000000000Z"


def make(name, build):
    path = os.path.join(HERE, name)
    for stale in (path, path + "-journal", path + "-wal", path + "-shm"):
        if os.path.exists(stale):
            os.remove(stale)
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA page_size = 512")
    connection.execute("PRAGMA journal_mode = DELETE")
    build(connection)
    connection.close()


def foreign(connection):
    connection.executescript(
        """
        CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT);
        INSERT INTO notes (title, body) VALUES ('groceries', 'milk; eggs');
        """
    )


def other_application(connection):
    connection.executescript(
        f"""
        PRAGMA application_id = {GPKG_APPLICATION_ID};
        CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL);
        """
    )


def orch_journal(format_version):
    def build(connection):
        connection.executescript(
            f"""
            BEGIN;
            {ORCH_SCHEMA}
            PRAGMA application_id = {ORCH_APPLICATION_ID};
            PRAGMA user_version = {format_version};
            COMMIT;
            """
        )

    return build


def run_started(event_id):
    return (
        '{"event_id":"%s","at":"%s","offset_ns":0,"event":{"type":"run_started",'
        '"orchestration":"order","tenant_id":"t","organization_id":"o","payload_type":"u32",'
        '"payload":1,"fingerprint":"0000000000000000"}}' % (event_id, AT)
    )


def bad_entry(connection):
    orch_journal(1)(connection)
    entries = [
        (1, "evt-a", run_started("evt-a")),
        # Cut short, as by a hand edit or a bad copy: not JSON.
        (2, "evt-a", '{"event_id":"evt-a","at":"%s","offset_ns":5,"event":{"type":"attem' % AT),
        # JSON, but an event this version of orch does not know.
        (3, "evt-c", '{"event_id":"evt-c","at":"%s","offset_ns":0,"event":{"type":"run_paused"}}' % AT),
    ]
    connection.execute("BEGIN")
    for seq, event_id, entry in entries:
        connection.execute(
            "INSERT INTO entries (seq, event_id, entry) VALUES (?, ?, ?)", (seq, event_id, entry)
        )
    for event_id in ("evt-a", "evt-c"):
        connection.execute(
            "INSERT INTO runs (event_id, orchestration, tenant_id, organization_id, started_at) "
            "VALUES (?, 'order', 't', 'o', ?)",
            (event_id, AT),
        )
    connection.execute("COMMIT")


make("foreign.db", foreign)
make("other_application.db", other_application)
make("future_format.db", orch_journal(99))
make("bad_entry.db", bad_entry)
