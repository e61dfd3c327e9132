"""Read-only access to the FastAPI app's PostgreSQL database.

The schema is the one the FastAPI app's Alembic migrations leave: `users`, `posts` (or
`posts_orm`, with the owner in `owner_id` or `user_id`) and `votes`. Names are read from the
source's catalog, so both deployment variants work without options.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import psycopg2
from psycopg2 import sql

POSTS_TABLES = ("posts", "posts_orm")
OWNER_COLUMNS = ("owner_id", "user_id")
USERS_COLUMNS = {"id", "email", "password", "created_at"}
POSTS_COLUMNS = {"id", "title", "content", "created_at"}
VOTES_COLUMNS = {"user_id", "post_id"}
FETCH_SIZE = 5000


class SourceError(Exception):
    """The source cannot be read, or it is not the FastAPI app's schema."""


@dataclass(frozen=True)
class Layout:
    posts_table: str
    owner_column: str
    has_published: bool
    has_codes: bool


@dataclass(frozen=True)
class SourceUser:
    id: int
    email: str | None
    password: str | None
    created_at: datetime | None


@dataclass(frozen=True)
class SourcePost:
    id: int
    title: str | None
    content: str | None
    published: bool | None
    created_at: datetime | None
    owner_id: int | None


class FastAPISource:
    """One connection in a REPEATABLE READ, READ ONLY transaction: a consistent snapshot that
    cannot change the source, even if the old app is still writing."""

    def __init__(self, connection, layout: Layout):
        self.connection = connection
        self.layout = layout

    @classmethod
    def open(cls, url: str, *, posts_table: str | None = None, owner_column: str | None = None):
        try:
            connection = psycopg2.connect(url, connect_timeout=10, application_name="blogapi import_fastapi")
        except psycopg2.Error as exc:
            raise SourceError(f"cannot connect to the source database: {str(exc).strip()}") from exc
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            layout = detect_layout(connection, posts_table=posts_table, owner_column=owner_column)
        except BaseException:
            connection.close()
            raise
        return cls(connection, layout)

    def close(self) -> None:
        self.connection.rollback()
        self.connection.close()

    def __enter__(self) -> "FastAPISource":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def count(self, table: str) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
            return cursor.fetchone()[0]

    def users(self) -> list[SourceUser]:
        # `created_at::timestamptz`: a `timestamp without time zone` holds the server's local time
        # (what now() gave), and the cast reads it in the server's TimeZone, which this session keeps.
        query = sql.SQL("SELECT id, email, password, created_at::timestamptz FROM users ORDER BY id")
        return [SourceUser(*row) for row in self._stream("users", query)]

    def posts(self) -> Iterator[SourcePost]:
        layout = self.layout
        published = sql.Identifier("published") if layout.has_published else sql.SQL("TRUE")
        query = sql.SQL(
            "SELECT id, title, content, {}, created_at::timestamptz, {} FROM {} ORDER BY id"
        ).format(published, sql.Identifier(layout.owner_column), sql.Identifier(layout.posts_table))
        for row in self._stream("posts", query):
            yield SourcePost(*row)

    def votes(self) -> Iterator[tuple[int, int]]:
        """(user_id, post_id) pairs, unique by the source's composite primary key."""
        yield from self._stream(
            "votes", sql.SQL("SELECT user_id, post_id FROM votes ORDER BY post_id, user_id")
        )

    def _stream(self, name: str, query: sql.Composable) -> Iterator[tuple]:
        # A server-side cursor keeps memory flat however large the source is.
        with self.connection.cursor(name=f"import_{name}") as cursor:
            cursor.itersize = FETCH_SIZE
            cursor.execute(query)
            yield from cursor


def detect_layout(connection, *, posts_table: str | None, owner_column: str | None) -> Layout:
    """Find the posts table and its owner column in information_schema, or check the given ones."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'"
        )
        columns: dict[str, set[str]] = {}
        for table, column in cursor.fetchall():
            columns.setdefault(table, set()).add(column)

    _require(columns, "users", USERS_COLUMNS)
    _require(columns, "votes", VOTES_COLUMNS)
    posts_table = posts_table or _pick(
        [name for name in POSTS_TABLES if name in columns], "posts table", POSTS_TABLES, "--posts-table"
    )
    _require(columns, posts_table, POSTS_COLUMNS)
    owner_column = owner_column or _pick(
        [name for name in OWNER_COLUMNS if name in columns[posts_table]],
        f"owner column of {posts_table}",
        OWNER_COLUMNS,
        "--owner-column",
    )
    _require(columns, posts_table, {owner_column})
    return Layout(
        posts_table=posts_table,
        owner_column=owner_column,
        has_published="published" in columns[posts_table],
        has_codes="code" in columns,
    )


def _require(columns: dict[str, set[str]], table: str, needed: set[str]) -> None:
    if table not in columns:
        raise SourceError(f"the source has no table {table!r}: is this the FastAPI app's database?")
    missing = needed - columns[table]
    if missing:
        raise SourceError(f"table {table!r} in the source lacks column(s) {', '.join(sorted(missing))}")


def _pick(found: list[str], what: str, candidates: tuple[str, ...], option: str) -> str:
    if len(found) == 1:
        return found[0]
    if not found:
        raise SourceError(
            f"no {what} in the source (looked for {' or '.join(candidates)}); name it with {option}"
        )
    raise SourceError(f"the source has both {' and '.join(found)} as {what}; choose one with {option}")
