"""Moving the FastAPI app's users, posts and likes into blogapi.

Rules (also in docs/migrating-from-fastapi.md):
- ids and created_at are kept; a post's updated_at is its created_at (the source keeps no edit
  time); a like's created_at is the import time (the source keeps none).
- Emails are trimmed with the domain lower-cased. Accounts whose emails differ only in case are
  merged into the oldest one (earliest created_at, then lowest id): it keeps its email and
  password, and receives the others' posts and likes. Every merge is reported.
- bcrypt hashes become Django's `bcrypt$<hash>`, so the old password works and is re-hashed with
  Argon2 on first login. Any other hash gives an unusable password (reported): that user resets
  it through password recovery.
- Rows blogapi cannot hold (a title or content empty or too long after trimming, a post whose
  owner is missing, a like on a missing post or by a missing user) are reported one by one and
  skipped only when the caller allows it; otherwise nothing is written.
"""

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

from django.contrib.auth.hashers import make_password
from django.core.management.color import no_style
from django.db import IntegrityError, connection, transaction
from django.db.models import F

from accounts import usernames
from accounts.models import User
from bulk.batches import batched
from posts.models import CONTENT_MAX, TITLE_MAX, Post
from posts.queries import posts_insert_many
from votes.models import Vote
from votes.queries import votes_insert_many

from .source import FastAPISource, SourcePost, SourceUser

BATCH_SIZE = 5000
EMAIL_MAX = User._meta.get_field("email").max_length
BCRYPT_HASH = re.compile(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}")


class TargetNotEmpty(Exception):
    """blogapi already holds accounts, posts or likes; importing on top could clash or duplicate."""


class ProblemRows(Exception):
    """Some source rows cannot be imported and the caller did not allow skipping them."""


@dataclass
class ImportSummary:
    users: int = 0
    posts: int = 0
    votes: int = 0
    merged_users: int = 0
    skipped_users: int = 0
    skipped_posts: int = 0
    skipped_votes: int = 0
    notes: int = 0
    target_rows: dict[str, int] = field(default_factory=dict)

    @property
    def skipped(self) -> int:
        return self.skipped_users + self.skipped_posts + self.skipped_votes


def fastapi_data_import(
    *,
    source: FastAPISource,
    dry_run: bool,
    skip_invalid: bool,
    report: Callable[[str], None],
    progress: Callable[[str], None],
) -> ImportSummary:
    """Copy everything in one transaction, so a refused or failed import leaves blogapi untouched."""
    summary = ImportSummary()
    writer = _DryRun() if dry_run else _PostgresWriter() if connection.vendor == "postgresql" else _Writer()
    try:
        with transaction.atomic():
            summary.target_rows = _target_rows()
            if any(summary.target_rows.values()) and not dry_run:
                raise TargetNotEmpty(_not_empty_message(summary.target_rows))
            with writer.loading(progress):
                _Copy(source=source, summary=summary, writer=writer, report=report, progress=progress).run()
                if summary.skipped and not skip_invalid and not dry_run:
                    raise ProblemRows(
                        f"{summary.skipped} source row(s) cannot be imported (listed above); nothing was "
                        "written. Fix them in the FastAPI database, or run again with --skip-invalid."
                    )
            writer.finish()
    except IntegrityError as exc:
        # Rows are checked before writing, so this means something else wrote to blogapi meanwhile.
        raise TargetNotEmpty(
            f"blogapi's database refused the import ({str(exc).strip()}): was something writing to it "
            "at the same time? Nothing was written."
        ) from exc
    return summary


def _target_rows() -> dict[str, int]:
    return {"users": User.objects.count(), "posts": Post.objects.count(), "likes": Vote.objects.count()}


def _not_empty_message(rows: dict[str, int]) -> str:
    held = ", ".join(f"{count} {name}" for name, count in rows.items())
    return (
        f"blogapi's database already holds {held}: import_fastapi only imports into an empty, freshly "
        "migrated database (imported already? admin accounts are created after the import). "
        "Nothing was written."
    )


@dataclass(frozen=True)
class NewPost:
    id: int
    title: str
    content: str
    published: bool
    created_at: datetime
    owner_id: int


class _Writer:
    """Writes through the ORM: the path for SQLite (development databases)."""

    @contextmanager
    def loading(self, progress: Callable[[str], None]) -> Iterator[None]:
        yield

    def users(self, users: list[User]) -> None:
        User.objects.bulk_create(users)

    def posts(self, posts: list[NewPost]) -> None:
        Post.objects.bulk_create([Post(**vars(post)) for post in posts])

    def votes(self, likes: list[tuple[int, int]]) -> None:
        Vote.objects.bulk_create([Vote(user_id=user_id, post_id=post_id) for user_id, post_id in likes])

    def finish(self) -> None:
        # The target was empty, so every post is an imported one; bulk_create set auto_now's time.
        Post.objects.update(updated_at=F("created_at"))
        self._move_sequences()

    def _move_sequences(self) -> None:
        # New rows must get ids past the imported ones (a no-op on SQLite, which tracks the maximum).
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), [User, Post]):
                cursor.execute(statement)


class _DryRun(_Writer):
    """Reads and checks every row, writes nothing."""

    def users(self, users: list[User]) -> None:
        pass

    def posts(self, posts: list[NewPost]) -> None:
        pass

    def votes(self, likes: list[tuple[int, int]]) -> None:
        pass

    def finish(self) -> None:
        pass


class _PostgresWriter(_Writer):
    """Posts and likes as one INSERT ... SELECT FROM unnest(arrays) per batch: no model
    instances to build, and updated_at written as it should be."""

    TABLES = (Post._meta.db_table, Vote._meta.db_table)

    @contextmanager
    def loading(self, progress: Callable[[str], None]) -> Iterator[None]:
        """Drop the foreign keys and non-unique indexes of posts and likes; add them back after.

        PostgreSQL's advice for bulk loads: one index build and one foreign-key validation per
        constraint cost a fraction of checking and indexing row by row (the vote-count updates
        would re-index every post again). DDL is transactional, so a rolled-back import gets
        them back; primary keys, unique and check constraints stay and enforce during the load.
        """
        tables = list(self.TABLES)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE contype = 'f' AND conrelid = ANY(%s::regclass[])",
                [tables],
            )
            foreign_keys = cursor.fetchall()
            cursor.execute(
                "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
                "WHERE NOT indisunique AND indrelid = ANY(%s::regclass[])",
                [tables],
            )
            indexes = cursor.fetchall()
            for table, name, _ in foreign_keys:
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {connection.ops.quote_name(name)}")
            for name, _ in indexes:
                cursor.execute(f"DROP INDEX {name}")
        yield
        progress(f"building {len(indexes)} indexes and checking {len(foreign_keys)} foreign keys")
        with connection.cursor() as cursor:
            for _, definition in indexes:
                cursor.execute(definition)
            for table, name, definition in foreign_keys:
                cursor.execute(
                    f"ALTER TABLE {table} ADD CONSTRAINT {connection.ops.quote_name(name)} {definition}"
                )
            cursor.execute(f"ANALYZE {', '.join(tables)}")

    def posts(self, posts: list[NewPost]) -> None:
        posts_insert_many([[getattr(post, column.name) for post in posts] for column in fields(NewPost)])

    def votes(self, likes: list[tuple[int, int]]) -> None:
        votes_insert_many(likes)

    def finish(self) -> None:
        self._move_sequences()


def normalise_email(raw: str | None) -> str:
    return User.objects.normalize_email((raw or "").strip())


def django_password(raw: str | None) -> str | None:
    """Django's bcrypt hasher format for a passlib bcrypt hash, or None when it is not one."""
    if raw and BCRYPT_HASH.fullmatch(raw):
        return f"bcrypt${raw}"
    return None


class _Copy:
    """One pass over the source: users into memory (for merging), posts and likes streamed."""

    def __init__(self, *, source, summary, writer, report, progress):
        self.source = source
        self.summary = summary
        self.writer = writer
        self.report = report
        self.progress = progress
        self.now = datetime.now(UTC)
        self.user_ids: set[int] = set()
        # Lower-cased usernames given so far (the target is empty): each made from the email.
        self.usernames_taken: set[str] = set()
        self.skipped_user_ids: set[int] = set()
        self.merged_into: dict[int, int] = {}
        self.post_ids: set[int] = set()
        self.skipped_post_ids: set[int] = set()
        self.merge_survivors: set[int] = set()
        self.merged_likes: set[tuple[int, int]] = set()
        self.previous_like: tuple[int, int] | None = None

    def run(self) -> None:
        layout = self.source.layout
        if not layout.has_published:
            self._note(f"{layout.posts_table} has no published column: every post is imported as published")
        if layout.has_codes:
            self._note("table code (password-recovery codes) is not imported: codes are short-lived")
        self._users()
        self._posts()
        self._votes()

    def _note(self, line: str) -> None:
        self.summary.notes += 1
        self.report(f"note: {line}")

    def _skip(self, what: str, line: str) -> None:
        setattr(self.summary, f"skipped_{what}", getattr(self.summary, f"skipped_{what}") + 1)
        self.report(f"skipped: {line}")

    def _progress(self, name: str, done: int, total: int) -> None:
        if total > BATCH_SIZE:
            self.progress(f"{name}: {done:,} of {total:,} read")

    # Users

    def _users(self) -> None:
        by_email: dict[str, list[SourceUser]] = {}
        for row in self.source.users():
            email = normalise_email(row.email)
            if not email or len(email) > EMAIL_MAX:
                self.skipped_user_ids.add(row.id)
                self._skip(
                    "users", f"user {row.id}: email {row.email!r} is empty or over {EMAIL_MAX} characters"
                )
                continue
            by_email.setdefault(email.lower(), []).append(row)

        far_future = datetime.max.replace(tzinfo=UTC)
        keep = []
        for rows in by_email.values():
            rows.sort(key=lambda r: (r.created_at or far_future, r.id))
            kept, *others = rows
            keep.append(kept)
            for other in others:
                self.merged_into[other.id] = kept.id
                self.merge_survivors.add(kept.id)
                self.summary.merged_users += 1
                self._note(
                    f"user {other.id} ({other.email}) merged into user {kept.id} ({kept.email}), the older "
                    f"account with the same email ignoring case: its posts and likes move to user {kept.id}; "
                    "its password is not kept"
                )

        keep.sort(key=lambda r: r.id)
        done = 0
        for batch in batched(keep, BATCH_SIZE):
            users = [self._user(row) for row in batch]
            usernames.name_all(users, self.usernames_taken)
            self.writer.users(users)
            done += len(batch)
            self._progress("users", done, len(keep))
        self.summary.users = len(keep)

    def _user(self, row: SourceUser) -> User:
        self.user_ids.add(row.id)
        password = django_password(row.password)
        if password is None:
            password = make_password(None)
            self._note(
                f"user {row.id} ({row.email}): the password is not a bcrypt hash; imported with an unusable "
                "password, so this user sets a new one through password recovery"
            )
        created_at = row.created_at
        if created_at is None:
            created_at = self.now
            self._note(f"user {row.id} has no created_at: set to the import time")
        return User(id=row.id, email=normalise_email(row.email), password=password, created_at=created_at)

    # Posts

    def _posts(self) -> None:
        total = self.source.count(self.source.layout.posts_table)
        done = 0
        for batch in batched(self.source.posts(), BATCH_SIZE):
            posts = [post for row in batch if (post := self._post(row)) is not None]
            if posts:
                self.writer.posts(posts)
            done += len(batch)
            self._progress("posts", done, total)

    def _post(self, row: SourcePost) -> NewPost | None:
        owner_id = self.merged_into.get(row.owner_id, row.owner_id)
        title = (row.title or "").strip()
        content = (row.content or "").strip()
        problem = None
        if owner_id not in self.user_ids:
            problem = f"owner user {row.owner_id} {self._missing_user(row.owner_id)}"
        elif not title:
            problem = "the title is empty"
        elif len(title) > TITLE_MAX:
            problem = f"the title has {len(title)} characters (at most {TITLE_MAX})"
        elif not content:
            problem = "the content is empty"
        elif len(content) > CONTENT_MAX:
            problem = f"the content has {len(content)} characters (at most {CONTENT_MAX})"
        if problem:
            self.skipped_post_ids.add(row.id)
            self._skip("posts", f"post {row.id}: {problem}")
            return None

        published = row.published
        if published is None:
            published = False
            self._note(f"post {row.id} has no published value: imported as a draft")
        created_at = row.created_at
        if created_at is None:
            created_at = self.now
            self._note(f"post {row.id} has no created_at: set to the import time")
        self.post_ids.add(row.id)
        self.summary.posts += 1
        return NewPost(
            id=row.id,
            title=title,
            content=content,
            published=published,
            created_at=created_at,
            owner_id=owner_id,
        )

    def _missing_user(self, user_id: int | None) -> str:
        return "was skipped" if user_id in self.skipped_user_ids else "does not exist"

    # Likes

    def _votes(self) -> None:
        total = self.source.count("votes")
        done = 0
        for batch in batched(self.source.votes(), BATCH_SIZE):
            likes = [like for user_id, post_id in batch if (like := self._vote(user_id, post_id)) is not None]
            self.summary.votes += len(likes)
            if likes:
                self.writer.votes(likes)
            done += len(batch)
            self._progress("likes", done, total)

    def _vote(self, source_user_id: int, post_id: int) -> tuple[int, int] | None:
        like = f"like of post {post_id} by user {source_user_id}"
        user_id = self.merged_into.get(source_user_id, source_user_id)
        if user_id not in self.user_ids:
            self._skip("votes", f"{like}: the user {self._missing_user(source_user_id)}")
            return None
        if post_id not in self.post_ids:
            missing = "was skipped" if post_id in self.skipped_post_ids else "does not exist"
            self._skip("votes", f"{like}: the post {missing}")
            return None
        if (source_user_id, post_id) == self.previous_like:
            # Rows come sorted, so a repeat (possible only without the primary key) is adjacent.
            self._note(f"{like}: listed twice in the source, kept once")
            return None
        self.previous_like = (source_user_id, post_id)
        if user_id in self.merge_survivors:
            # Two merged accounts may have liked the same post; blogapi keeps one like per user.
            if (user_id, post_id) in self.merged_likes:
                self._note(f"{like}: user {user_id} already likes it, kept once")
                return None
            self.merged_likes.add((user_id, post_id))
        return user_id, post_id
