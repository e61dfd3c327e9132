"""Time `manage.py import_fastapi` on a large FastAPI source built with generate_series.

    .venv/bin/python scripts/bench_import.py                # 100k posts, 10k users, 300k likes
    .venv/bin/python scripts/bench_import.py --posts 20000  # smaller

It drops and recreates the two databases it is given (a source `fastapi_src_*` and an empty
blogapi target), migrates the target, times the import command end to end (process start
included), checks the counts and prints the figure. Exits 1 when the import takes longer than
--max-seconds. Both databases are dropped afterwards unless --keep is given.
"""

import argparse
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import bcrypt
import psycopg2
from psycopg2 import sql

ROOT = Path(__file__).resolve().parent.parent

SCHEMA = """
CREATE TABLE users (
    id SERIAL PRIMARY KEY, email VARCHAR NOT NULL UNIQUE, password VARCHAR NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now());
CREATE TABLE posts (
    id SERIAL PRIMARY KEY, title VARCHAR NOT NULL, content VARCHAR NOT NULL,
    published BOOLEAN NOT NULL DEFAULT TRUE, created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE);
CREATE TABLE votes (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    post_id INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, post_id));
"""

FILL = """
INSERT INTO users (id, email, password, created_at)
    SELECT g, 'user' || g || '@example.com', %(hash)s, timestamptz '2022-01-01' + g * interval '1 hour'
    FROM generate_series(1, %(users)s) g;
INSERT INTO posts (id, title, content, published, created_at, owner_id)
    SELECT g, 'Post number ' || g, repeat('Words about post ' || g || '. ', 12), g %% 10 <> 0,
        timestamptz '2023-01-01' + g * interval '5 minutes', g %% %(users)s + 1
    FROM generate_series(1, %(posts)s) g;
-- Distinct likers per post: offsets k * 13 differ for k < users / 13.
INSERT INTO votes (user_id, post_id)
    SELECT (p * 7 + k * 13) %% %(users)s + 1, p
    FROM generate_series(1, %(posts)s) p, generate_series(0, %(likes)s - 1) k;
ANALYZE;
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="postgres://root@127.0.0.1:5432", help="PostgreSQL server URL")
    parser.add_argument("--source-db", default="fastapi_src_bench")
    parser.add_argument("--target-db", default="blogapi_import_bench")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--likes-per-post", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--keep", action="store_true", help="keep both databases afterwards")
    args = parser.parse_args()
    if not args.source_db.startswith("fastapi_src_"):
        parser.error("--source-db must start with fastapi_src_ (the script drops it)")
    if args.likes_per_post * 13 >= args.users:
        parser.error("--likes-per-post must stay below users / 13")
    return args


def drop(server: str, *names: str, create: bool = False) -> None:
    """Drop the databases (and make them afresh with `create`)."""
    admin = psycopg2.connect(f"{server}/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        for name in names:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            if create:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin.close()


def recreate(server: str, *names: str) -> None:
    drop(server, *names, create=True)


def build_source(url: str, args: argparse.Namespace) -> None:
    password_hash = bcrypt.hashpw(b"benchmark-password", bcrypt.gensalt(rounds=4)).decode()
    with psycopg2.connect(url) as source, source.cursor() as cursor:
        cursor.execute(SCHEMA)
        cursor.execute(
            FILL,
            {"hash": password_hash, "users": args.users, "posts": args.posts, "likes": args.likes_per_post},
        )
    source.close()


def manage(*arguments: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 (our own interpreter and manage.py)
        [sys.executable, str(ROOT / "manage.py"), *arguments],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )


def target_counts(url: str) -> tuple[int, int, int, int]:
    with psycopg2.connect(url) as target, target.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM accounts_user), (SELECT count(*) FROM posts_post), "
            "(SELECT count(*) FROM votes_vote), (SELECT coalesce(sum(vote_count), 0) FROM posts_post)"
        )
        counts = cursor.fetchone()
    target.close()
    return counts


def main() -> int:
    args = parse_args()
    source_url = f"{args.server}/{args.source_db}"
    target_url = f"{args.server}/{args.target_db}"
    env = {
        **os.environ,
        "DATABASE_URL": target_url,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_SETTINGS_MODULE": "blogapi.settings",
    }

    recreate(args.server, args.source_db, args.target_db)
    try:
        started = time.perf_counter()
        build_source(source_url, args)
        print(f"source built in {time.perf_counter() - started:.1f}s", flush=True)
        manage("migrate", "--noinput", env=env)

        started = time.perf_counter()
        result = manage("import_fastapi", "--source", source_url, env=env)
        seconds = time.perf_counter() - started
        print(result.stdout.strip().splitlines()[-2], flush=True)

        users, posts, likes, counted = target_counts(target_url)
        expected = (args.users, args.posts, args.posts * args.likes_per_post)
        if (users, posts, likes) != expected or counted != likes:
            print(f"wrong counts: {(users, posts, likes, counted)}, expected {expected}", file=sys.stderr)
            return 1
        print(
            f"import_fastapi: {posts:,} posts, {users:,} users, {likes:,} likes in {seconds:.1f}s "
            f"({posts / seconds:,.0f} posts/s)",
            flush=True,
        )
        if seconds > args.max_seconds:
            print(f"slower than {args.max_seconds:.0f}s", file=sys.stderr)
            return 1
        return 0
    except subprocess.CalledProcessError as exc:
        print(exc.stdout, exc.stderr, file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            drop(args.server, args.source_db, args.target_db)


if __name__ == "__main__":
    sys.exit(main())
