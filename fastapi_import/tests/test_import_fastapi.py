"""`manage.py import_fastapi` against real FastAPI databases built here with plain SQL."""

import io
from datetime import UTC, datetime
from functools import cache
from urllib.parse import quote
from uuid import uuid4

import bcrypt
import psycopg2
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from psycopg2 import sql
from rest_framework.test import APIClient

from accounts.models import User
from conftest import bearer, login
from fastapi_import.source import FastAPISource
from posts.models import Post
from votes.models import Vote

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

PRODUCTION_HASHERS = [h for h in settings.PASSWORD_HASHERS if "MD5" not in h]


@cache
def bcrypt_hash(password: str) -> str:
    """What passlib stored in the FastAPI app (cost 4 keeps the tests fast)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def utc(year, month, day, hour=0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


class SourceDatabase:
    """A FastAPI app database: the Alembic schema, in one of its deployment variants."""

    def __init__(self, name: str, server: dict):
        self.name = name
        password = f":{quote(server['PASSWORD'])}" if server["PASSWORD"] else ""
        self.url = f"postgres://{quote(server['USER'])}{password}@{server['HOST']}:{server['PORT']}/{name}"
        self.connection = psycopg2.connect(self.url)
        self.connection.autocommit = True

    def create_schema(
        self, *, posts_table="posts", owner_column="owner_id", published=True, foreign_keys=True
    ):
        timestamp = "TIMESTAMP WITH TIME ZONE" if posts_table == "posts" else "TIMESTAMP"
        if timestamp == "TIMESTAMP":
            # Naive columns on a server whose TimeZone is not UTC: they hold New York local time.
            self.execute(
                sql.SQL("ALTER DATABASE {} SET timezone TO 'America/New_York'").format(
                    sql.Identifier(self.name)
                )
            )
            self.execute("SET TIME ZONE 'America/New_York'")
        references = "REFERENCES users (id) ON DELETE CASCADE" if foreign_keys else ""
        post_references = f"REFERENCES {posts_table} (id) ON DELETE CASCADE" if foreign_keys else ""
        published_column = "published BOOLEAN NOT NULL DEFAULT TRUE," if published else ""
        self.execute(f"""
            CREATE TABLE users (
                id SERIAL PRIMARY KEY, email VARCHAR NOT NULL UNIQUE, password VARCHAR NOT NULL,
                created_at {timestamp} NOT NULL DEFAULT now());
            CREATE TABLE {posts_table} (
                id SERIAL PRIMARY KEY, title VARCHAR NOT NULL, content VARCHAR NOT NULL, {published_column}
                created_at {timestamp} NOT NULL DEFAULT now(),
                {owner_column} INTEGER NOT NULL {references});
            CREATE TABLE votes (
                user_id INTEGER NOT NULL {references}, post_id INTEGER NOT NULL {post_references},
                {"PRIMARY KEY (user_id, post_id)" if foreign_keys else "created_at TIMESTAMP"});
            CREATE TABLE code (id SERIAL PRIMARY KEY, email VARCHAR NOT NULL, code VARCHAR NOT NULL);
        """)
        self.posts_table, self.owner_column, self.published = posts_table, owner_column, published
        return self

    def execute(self, statement: str, params=()) -> list[tuple]:
        with self.connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def add_user(self, id, email, password, created_at):
        self.execute(
            "INSERT INTO users (id, email, password, created_at) VALUES (%s, %s, %s, %s)",
            (id, email, bcrypt_hash(password) if password else "not-a-hash", created_at),
        )

    def add_post(self, id, owner, title="A title", content="Some content", published=True, created_at=None):
        columns = ["id", "title", "content", "created_at", self.owner_column]
        values = [id, title, content, created_at or utc(2024, 1, id % 28 + 1), owner]
        if self.published:
            columns.append("published")
            values.append(published)
        self.execute(
            sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                sql.Identifier(self.posts_table),
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.SQL(", ").join(sql.Placeholder() * len(values)),
            ),
            values,
        )

    def add_votes(self, *pairs):
        for user_id, post_id in pairs:
            self.execute("INSERT INTO votes (user_id, post_id) VALUES (%s, %s)", (user_id, post_id))

    def vote_counts(self) -> dict[int, int]:
        return dict(self.execute("SELECT post_id, count(*) FROM votes GROUP BY post_id"))


@pytest.fixture
def make_source():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the FastAPI source is a real PostgreSQL database")
    server = connection.settings_dict
    admin = psycopg2.connect(**connection.get_connection_params())
    admin.autocommit = True
    sources: list[SourceDatabase] = []

    def make() -> SourceDatabase:
        name = f"fastapi_src_{uuid4().hex[:12]}"
        with admin.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        sources.append(SourceDatabase(name, server))
        return sources[-1]

    yield make
    with admin.cursor() as cursor:
        for source in sources:
            source.connection.close()
            cursor.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(source.name))
            )
    admin.close()


def seed(source: SourceDatabase) -> SourceDatabase:
    """Three users, four posts (one a draft), six likes."""
    source.add_user(1, "alice@example.com", "alice-old-password", utc(2023, 1, 1))
    source.add_user(2, "bob@Example.com", "bob-old-password", utc(2023, 2, 1))
    source.add_user(7, "carol@example.com", "carol-old-password", utc(2023, 3, 1))
    source.add_post(1, owner=1, title="Hello", content="First post", created_at=utc(2024, 5, 1, 9))
    source.add_post(2, owner=1, title="Draft", content="Not yet", published=False)
    source.add_post(3, owner=2, title="Bob writes", content="Something")
    source.add_post(10, owner=7, title="Carol writes", content="Something else")
    source.add_votes((2, 1), (7, 1), (1, 3), (7, 3), (1, 10), (2, 10))
    return source


@pytest.fixture
def source(make_source) -> SourceDatabase:
    return seed(make_source().create_schema())


def run_import(source: SourceDatabase, *options: str) -> str:
    out = io.StringIO()
    call_command("import_fastapi", "--source", source.url, *options, stdout=out)
    return out.getvalue()


def test_import_keeps_ids_timestamps_and_counts(source):
    output = run_import(source)

    assert "imported 3 users, 4 posts, 6 likes; skipped 0 users, 0 posts, 0 likes" in output
    assert sorted(User.objects.values_list("id", "email", "created_at")) == [
        (1, "alice@example.com", utc(2023, 1, 1)),
        (2, "bob@example.com", utc(2023, 2, 1)),
        (7, "carol@example.com", utc(2023, 3, 1)),
    ]
    assert sorted(Post.objects.values_list("id", "owner_id", "published")) == [
        (1, 1, True),
        (2, 1, False),
        (3, 2, True),
        (10, 7, True),
    ]
    first = Post.objects.get(pk=1)
    assert (first.title, first.content, first.created_at) == ("Hello", "First post", utc(2024, 5, 1, 9))
    assert all(post.updated_at == post.created_at for post in Post.objects.all())
    assert Vote.objects.count() == 6
    imported_counts = dict(Post.objects.values_list("id", "vote_count"))
    assert imported_counts == {1: 2, 2: 0, 3: 2, 10: 2}
    assert {id: count for id, count in imported_counts.items() if count} == source.vote_counts()
    assert "table code (password-recovery codes) is not imported" in output


def test_imported_user_logs_in_with_old_password_and_is_upgraded_to_argon2(source, settings, api_client):
    settings.PASSWORD_HASHERS = PRODUCTION_HASHERS
    run_import(source)
    assert User.objects.get(pk=1).password.startswith("bcrypt$$2b$04$")

    wrong = api_client.post("/api/v1/auth/token/", {"email": "alice@example.com", "password": "guess-again"})
    assert wrong.status_code == 401
    tokens = login(api_client, "Alice@example.com", "alice-old-password")
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert User.objects.get(pk=1).password.startswith("argon2$argon2id$")
    login(api_client, "alice@example.com", "alice-old-password")

    alice = bearer(tokens["access_token"])
    post = alice.get("/api/v1/posts/3/").json()
    assert (post["votes"], post["has_voted"], post["owner"]["id"]) == (2, True, 2)
    assert alice.get("/api/v1/posts/2/").json()["published"] is False
    assert (
        bearer(login(api_client, "bob@example.com", "bob-old-password")["access_token"])
        .get("/api/v1/posts/2/")
        .status_code
        == 404
    )


def test_password_longer_than_72_bytes_still_logs_in(source, settings, api_client):
    settings.PASSWORD_HASHERS = PRODUCTION_HASHERS
    long_password = "correct horse battery staple " * 4
    # passlib hashed only the first 72 bytes (bcrypt's limit) without complaint.
    passlib_hash = bcrypt.hashpw(long_password.encode()[:72], bcrypt.gensalt(rounds=4)).decode()
    source.execute(
        "INSERT INTO users (id, email, password) VALUES (30, 'long@example.com', %s)", [passlib_hash]
    )
    run_import(source)

    wrong = api_client.post("/api/v1/auth/token/", {"email": "long@example.com", "password": "x" * 100})
    assert wrong.status_code == 401
    login(api_client, "long@example.com", long_password)
    user = User.objects.get(pk=30)
    assert user.password.startswith("argon2$argon2id$")
    assert user.check_password(long_password)
    assert not user.check_password(long_password[:72])


def test_new_rows_get_ids_past_the_imported_ones(source, api_client):
    run_import(source)
    alice = bearer(login(api_client, "alice@example.com", "alice-old-password")["access_token"])

    created = alice.post("/api/v1/posts/", {"title": "After the move", "content": "Still here"})
    assert created.status_code == 201
    assert created.json()["id"] == 11
    registered = APIClient().post(
        "/api/v1/users/", {"email": "dave@example.com", "password": "a-brand-new-password"}
    )
    assert registered.status_code == 201
    assert registered.json()["id"] == 8
    assert alice.post("/api/v1/votes/", {"post_id": 10, "dir": 1}).status_code == 409
    assert alice.post("/api/v1/votes/", {"post_id": 11, "dir": 1}).status_code == 201


def test_dry_run_reports_and_writes_nothing(source):
    output = run_import(source, "--dry-run")

    assert "would import 3 users, 4 posts, 6 likes" in output
    assert "dry run: nothing was written" in output
    assert (User.objects.count(), Post.objects.count(), Vote.objects.count()) == (0, 0, 0)


def test_second_import_is_refused_and_duplicates_nothing(source):
    run_import(source)
    with pytest.raises(CommandError, match="already holds 3 users, 4 posts, 6 likes"):
        run_import(source)
    assert (User.objects.count(), Post.objects.count(), Vote.objects.count()) == (3, 4, 6)
    assert dict(Post.objects.values_list("id", "vote_count")) == {1: 2, 2: 0, 3: 2, 10: 2}


def test_dry_run_on_a_non_empty_database_warns(source):
    run_import(source)
    assert "a real run would be refused" in run_import(source, "--dry-run")


@pytest.mark.parametrize(
    ("posts_table", "owner_column"),
    [("posts_orm", "user_id"), ("posts_orm", "owner_id"), ("posts", "user_id")],
)
def test_table_and_column_variants_are_detected(make_source, posts_table, owner_column):
    source = seed(make_source().create_schema(posts_table=posts_table, owner_column=owner_column))

    output = run_import(source)

    assert f"source: posts in {posts_table!r}, owner column {owner_column!r}" in output
    assert sorted(Post.objects.values_list("id", "owner_id")) == [(1, 1), (2, 1), (3, 2), (10, 7)]
    # posts_orm deployments here use `timestamp without time zone` in New York time.
    assert Post.objects.get(pk=1).created_at == utc(2024, 5, 1, 9)
    assert User.objects.get(pk=7).created_at == utc(2023, 3, 1)
    assert dict(Post.objects.values_list("id", "vote_count")) == {1: 2, 2: 0, 3: 2, 10: 2}


def test_options_settle_ambiguous_or_unusual_names(make_source):
    source = seed(make_source().create_schema(posts_table="posts_orm", owner_column="user_id"))
    source.execute("CREATE TABLE posts (id SERIAL PRIMARY KEY)")
    source.execute("ALTER TABLE posts_orm ADD COLUMN owner_id INTEGER")

    with pytest.raises(CommandError, match="both posts and posts_orm"):
        run_import(source)
    with pytest.raises(CommandError, match="both owner_id and user_id"):
        run_import(source, "--posts-table", "posts_orm")
    with pytest.raises(CommandError, match="lacks column"):
        run_import(source, "--posts-table", "posts_orm", "--owner-column", "author")
    with pytest.raises(CommandError, match="no table 'articles'"):
        run_import(source, "--posts-table", "articles")
    assert Post.objects.count() == 0

    output = run_import(source, "--posts-table", "posts_orm", "--owner-column", "user_id")
    assert "imported 3 users, 4 posts, 6 likes" in output


def test_missing_published_column_imports_every_post_as_published(make_source):
    source = make_source().create_schema(published=False)
    source.add_user(1, "alice@example.com", "alice-old-password", utc(2023, 1, 1))
    source.add_post(1, owner=1)

    output = run_import(source)

    assert "posts has no published column: every post is imported as published" in output
    assert Post.objects.get(pk=1).published is True


@pytest.fixture
def broken_source(make_source) -> SourceDatabase:
    """A deployment without foreign or primary keys on likes, holding rows blogapi refuses."""
    source = seed(make_source().create_schema(foreign_keys=False))
    source.add_user(8, "nohash@example.com", None, utc(2023, 4, 1))
    source.add_post(20, owner=1, title="   ", content="Blank title")
    source.add_post(21, owner=1, title="x" * 201, content="Long title")
    source.add_post(22, owner=2, title="Empty", content=" \n ")
    source.add_post(23, owner=99, title="Orphan", content="Owner gone")
    source.add_post(24, owner=8, title="  Padded  ", content="  Trimmed like the API does  ")
    source.add_user(9, "   ", "blank-email-password", utc(2023, 5, 1))
    source.add_post(25, owner=9, title="By a blank email", content="Cannot log in")
    source.add_votes((1, 42), (77, 1), (2, 21), (1, 3))
    return source


BROKEN_LINES = [
    "skipped: post 20: the title is empty",
    "skipped: post 21: the title has 201 characters (at most 200)",
    "skipped: post 22: the content is empty",
    "skipped: post 23: owner user 99 does not exist",
    "skipped: like of post 42 by user 1: the post does not exist",
    "skipped: like of post 1 by user 77: the user does not exist",
    "skipped: like of post 21 by user 2: the post was skipped",
    "note: user 8 (nohash@example.com): the password is not a bcrypt hash",
    "skipped: user 9: email '   ' is empty or over 254 characters",
    "skipped: post 25: owner user 9 was skipped",
    "note: like of post 3 by user 1: listed twice in the source, kept once",
]


def test_problem_rows_are_reported_and_block_the_import(broken_source):
    with pytest.raises(CommandError, match=r"9 source row\(s\) cannot be imported"):
        run_import(broken_source)
    assert (User.objects.count(), Post.objects.count(), Vote.objects.count()) == (0, 0, 0)

    dry = run_import(broken_source, "--dry-run")
    for line in BROKEN_LINES:
        assert line in dry
    assert "would import 4 users, 5 posts, 6 likes; skipped 1 users, 5 posts, 3 likes" in dry
    assert "a real run would be refused unless given --skip-invalid" in dry


def test_skip_invalid_imports_the_rest_and_reports_each_skipped_row(broken_source):
    output = run_import(broken_source, "--skip-invalid")

    for line in BROKEN_LINES:
        assert line in output
    assert sorted(Post.objects.values_list("id", flat=True)) == [1, 2, 3, 10, 24]
    padded = Post.objects.get(pk=24)
    assert (padded.title, padded.content) == ("Padded", "Trimmed like the API does")
    assert Vote.objects.count() == 6
    assert dict(Post.objects.values_list("id", "vote_count")) == {1: 2, 2: 0, 3: 2, 10: 2, 24: 0}
    assert not User.objects.get(pk=8).has_usable_password()


def test_progress_is_reported_batch_by_batch(source, monkeypatch):
    monkeypatch.setattr("fastapi_import.services.BATCH_SIZE", 2)

    output = run_import(source)

    assert "posts: 2 of 4 read\nposts: 4 of 4 read\n" in output
    assert "likes: 6 of 6 read\n" in output
    assert run_import(source, "--dry-run", "--verbosity", "0").count(" read\n") == 0


def test_emails_differing_only_in_case_merge_into_the_oldest_account(source, api_client):
    source.add_user(20, "Dana@Example.com", "dana-newer-password", utc(2023, 6, 1))
    source.add_user(21, "dana@example.COM", "dana-older-password", utc(2022, 6, 1))
    source.add_post(30, owner=20, title="From the newer account", content="Kept")
    source.add_post(31, owner=21, title="From the older account", content="Kept")
    source.add_votes((20, 1), (21, 1), (20, 31))

    output = run_import(source)

    assert "user 20 (Dana@Example.com) merged into user 21 (dana@example.COM)" in output
    assert "like of post 1 by user 21: user 21 already likes it, kept once" in output
    assert "imported 4 users (1 more merged into them), 6 posts, 8 likes" in output
    dana = User.objects.get(email__lower="dana@example.com")
    assert (dana.id, dana.email, dana.created_at) == (21, "dana@example.com", utc(2022, 6, 1))
    assert not User.objects.filter(pk=20).exists()
    assert set(Post.objects.filter(owner=dana).values_list("id", flat=True)) == {30, 31}
    assert Post.objects.get(pk=1).vote_count == 3
    assert Post.objects.get(pk=31).vote_count == 1
    login(api_client, "DANA@example.com", "dana-older-password")


def test_source_is_read_in_a_read_only_transaction(source):
    reader = FastAPISource.open(source.url)
    try:
        with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction), reader.connection.cursor() as cursor:
            cursor.execute("DELETE FROM votes")
    finally:
        reader.close()
    assert len(source.vote_counts()) == 3


def test_database_without_the_fastapi_schema_is_refused(make_source):
    with pytest.raises(CommandError, match="no table 'users'"):
        run_import(make_source())


def test_unreachable_source_is_a_clear_error():
    with pytest.raises(CommandError, match="cannot connect to the source database"):
        call_command(
            "import_fastapi", "--source", "postgres://nobody@127.0.0.1:1/fastapi", stdout=io.StringIO()
        )


def schema_objects() -> set[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = ANY('{posts_post,votes_vote}'::regclass[]) "
            "UNION SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('posts_post', 'votes_vote')"
        )
        return set(cursor.fetchall())


def test_indexes_and_foreign_keys_are_back_after_an_import_or_a_refusal(source, broken_source):
    before = schema_objects()
    assert any("FOREIGN KEY" in definition for _, definition in before)
    assert any("gin_trgm_ops" in definition for _, definition in before)

    with pytest.raises(CommandError):
        run_import(broken_source)
    assert schema_objects() == before
    run_import(source)
    assert schema_objects() == before


def test_imported_users_get_usernames_from_their_emails(source):
    source.add_user(20, "ALICE@other.org", "another-password-1", utc(2023, 6, 1))
    source.add_user(21, "12@example.com", "another-password-2", utc(2023, 7, 1))
    run_import(source)
    assert dict(User.objects.values_list("id", "username")) == {
        1: "alice",
        2: "bob",
        7: "carol",
        20: "ALICE2",
        21: "user_12",
    }
