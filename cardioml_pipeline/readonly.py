"""The analyst door's guard: a DuckDB connection that can read the warehouse and nothing else.

A `read_only=True` connection still lets SQL ATTACH another database file read-write, COPY or
EXPORT patient rows anywhere on disk, read any local file (`read_text('/etc/passwd')`), load
extensions and change settings. Two layers close that:

1. `single_query` accepts exactly one statement, and only a query (SELECT, WITH, FROM, VALUES,
   DESCRIBE, SHOW, SUMMARIZE); everything else is refused with a one-line reason.
2. `lock_down` configures the connection itself: external access off except for the Parquet files
   the warehouse's own views read (the image index and signal shards), no extension autoloading or
   installing, then the configuration locked so no statement can undo it.

The second layer holds even if the first misses a statement type.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import duckdb


class StatementRefused(Exception):
    """A statement the read-only analyst door does not run (one line, for stderr)."""


_REFUSALS: dict[str, str] = {
    "ATTACH": "ATTACH is not allowed: the analyst door reads this warehouse only",
    "DETACH": "DETACH is not allowed: the analyst door reads this warehouse only",
    "COPY": "COPY is not allowed: it reads or writes files; use `cardioml export TABLE --to FILE` to write a table",
    "EXPORT": "EXPORT DATABASE is not allowed: use `cardioml export TABLE --to FILE` to write a table",
    "LOAD": "LOAD and INSTALL are not allowed: extensions cannot be loaded here",
    "SET": "SET, RESET and PRAGMA settings are not allowed: settings cannot be changed here",
    "PRAGMA": "PRAGMA is not allowed: settings cannot be changed here (DESCRIBE, SHOW and SUMMARIZE work)",
    "CALL": "CALL is not allowed: settings cannot be changed here (DESCRIBE, SHOW and SUMMARIZE work)",
}
_QUERY_TYPES = {"SELECT"}


def statement_type_name(statement: duckdb.Statement) -> str:
    return str(statement.type).rsplit(".", 1)[-1]


def single_query(conn: duckdb.DuckDBPyConnection, sql: str) -> str:
    """The text of the one query in `sql`, or StatementRefused. DuckDB parses it (a syntax error
    raises its own ParserException)."""
    statements = conn.extract_statements(sql)
    if not statements:
        raise StatementRefused("no SQL statement given")
    if len(statements) > 1:
        kinds = ", ".join(statement_type_name(s) for s in statements)
        raise StatementRefused(f"one statement per call: got {len(statements)} ({kinds}); run them one at a time")
    statement = statements[0]
    kind = statement_type_name(statement)
    if kind in _QUERY_TYPES:
        return statement.query
    reason = _REFUSALS.get(kind, f"{kind} statements are not allowed")
    raise StatementRefused(f"{reason} (the analyst door is read-only: one SELECT query per call)")


# Our views read Parquet files by absolute path: read_parquet('<path>'[, options]).
_VIEW_FILE = re.compile(r"read_parquet\(\s*'((?:[^']|'')*)'", re.IGNORECASE)
_GLOB_CHARS = re.compile(r"[*?\[{]")


def view_file_access(conn: duckdb.DuckDBPyConnection) -> tuple[list[str], list[str]]:
    """(directories, files) the warehouse's own views read: a glob allows the folder it lists, a
    plain path only that file."""
    directories: set[str] = set()
    files: set[str] = set()
    for (sql,) in conn.execute("SELECT sql FROM duckdb_views() WHERE NOT internal AND sql IS NOT NULL").fetchall():
        for literal in _VIEW_FILE.findall(sql):
            path = literal.replace("''", "'")
            glob = _GLOB_CHARS.search(path)
            if glob:
                folder = path[: glob.start()].rsplit("/", 1)[0]
                if folder:
                    directories.add(folder.rstrip("/") + "/")
            else:
                files.add(path)
    return sorted(directories), sorted(files)


def _sql_list(values: Iterable[str]) -> str:
    return "[" + ", ".join("'" + value.replace("'", "''") + "'" for value in values) + "]"


def lock_down(conn: duckdb.DuckDBPyConnection, writable_files: Iterable[Path] = ()) -> None:
    """Restrict `conn` to the database file, the files its views read and `writable_files` (the
    one file `cardioml export` writes), with extension loading off, and lock the configuration."""
    directories, files = view_file_access(conn)
    files = [*files, *(str(Path(path).absolute()) for path in writable_files)]
    conn.execute("SET autoinstall_known_extensions = false")
    conn.execute("SET autoload_known_extensions = false")
    if directories:
        conn.execute(f"SET allowed_directories = {_sql_list(directories)}")
    if files:
        conn.execute(f"SET allowed_paths = {_sql_list(files)}")
    conn.execute("SET enable_external_access = false")
    conn.execute("SET lock_configuration = true")
