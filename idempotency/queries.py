"""The SQL of a keyed request: claim the key, record the answer, read a kept answer.

Hand-written because the claim is one statement that an ORM query cannot express (an upsert
that only takes over an expired row, and on PostgreSQL a try-lock), and because on PostgreSQL
a keyed create keeps its answer in the very INSERT that writes the post (`keep_with_write`).
The claim and the answer run in the caller's transaction, the one that also makes the write.
tests/test_queries.py runs each of them.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection

TABLE = "idempotency_storedanswer"
# Placeholder status of a claimed row; the row only ever commits with the real status.
CLAIMED = 0

_CLAIM_COLUMNS = "user_id, endpoint, key, fingerprint, status, body, created_at, expires_at"
# A conflicting row is taken over only once it has expired; otherwise the insert does nothing.
_TAKE_OVER_EXPIRED = f"""ON CONFLICT (user_id, endpoint, key) DO UPDATE
    SET fingerprint = excluded.fingerprint, status = excluded.status, body = excluded.body,
        created_at = excluded.created_at, expires_at = excluded.expires_at
    WHERE {TABLE}.expires_at <= excluded.created_at
RETURNING id"""  # noqa: S608

# PostgreSQL: a request whose key is held by a transaction still running must not wait for it
# (the unique index would block the insert until that transaction ends). The transaction-scoped
# advisory lock, taken first, tells at once; it is released at commit or rollback.
CLAIM_POSTGRESQL = f"""WITH free AS (SELECT pg_try_advisory_xact_lock(%s) AS ok)
INSERT INTO {TABLE} ({_CLAIM_COLUMNS})
SELECT %s, %s, %s, %s, %s, %s, %s, %s FROM free WHERE ok
{_TAKE_OVER_EXPIRED}"""  # noqa: S608
# An answer kept as it is given, with no claim before it: prefixed to the INSERT that makes the
# write (a data-modifying WITH, which PostgreSQL runs with the statement whether or not the
# statement reads it), or on its own for an answer without a write. Without ON CONFLICT in the
# prefix a kept key fails the whole statement, the write included. KEEP with the placeholder
# status is also the claim on SQLite, which lets one writer at a time: a second request waits
# for the first to commit.
_KEEP_VALUES = f"INSERT INTO {TABLE} ({_CLAIM_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"  # noqa: S608
KEEP_WITH_WRITE = f"WITH kept AS ({_KEEP_VALUES})\n"
KEEP = f"{_KEEP_VALUES}\n{_TAKE_OVER_EXPIRED}"
DROP_EXPIRED = f"""DELETE FROM {TABLE}
WHERE user_id = %s AND endpoint = %s AND key = %s AND expires_at <= %s"""  # noqa: S608
ONE_PER_KEY = "stored_answer_one_per_key"
ANSWER = f"UPDATE {TABLE} SET status = %s, body = %s WHERE id = %s"  # noqa: S608
KEPT = f"""SELECT fingerprint, status, body FROM {TABLE}
WHERE user_id = %s AND endpoint = %s AND key = %s AND expires_at > %s"""  # noqa: S608


@dataclass(frozen=True)
class Kept:
    fingerprint: str
    status: int
    body: str


@dataclass(frozen=True)
class Keeping:
    """What a keyed request keeps with its answer: whose key, for which endpoint, the body's
    fingerprint, and from when to when."""

    user_id: int
    endpoint: str
    key: str
    fingerprint: str
    now: datetime
    expires_at: datetime

    def values(self, status: int, body: str) -> list:
        """The row's columns in _CLAIM_COLUMNS order."""
        who = [self.user_id, self.endpoint, self.key, self.fingerprint]
        return [*who, status, body, self.now, self.expires_at]


def claim(keeping: Keeping, *, lock_id: int) -> int | None:
    """The id of a row now reserved for this request's answer, or None when the key is taken."""
    values = keeping.values(CLAIMED, "")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(CLAIM_POSTGRESQL, [lock_id, *values])
        else:
            cursor.execute(KEEP, values)
        row = cursor.fetchone()
    return row[0] if row else None


def answer(*, claim_id: int, status: int, body: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(ANSWER, [status, body, claim_id])


def kept(keeping: Keeping) -> Kept | None:
    """The answer kept for this key, or None while the request holding it is still running."""
    with connection.cursor() as cursor:
        cursor.execute(KEPT, [keeping.user_id, keeping.endpoint, keeping.key, keeping.now])
        row = cursor.fetchone()
    if row is None or row[1] == CLAIMED:
        return None
    return Kept(*row)


def keep_with_write(keeping: Keeping, status: int, body: str, sql: str, params) -> tuple[str, list]:
    """`sql` (one INSERT) made to keep the answer too, in the same statement."""
    return KEEP_WITH_WRITE + sql, [*keeping.values(status, body), *params]


def keep(keeping: Keeping, status: int, body: str) -> bool:
    """Keep an answer that came without a write; False when the key is already kept."""
    with connection.cursor() as cursor:
        cursor.execute(KEEP, keeping.values(status, body))
        return cursor.fetchone() is not None


def drop_expired(keeping: Keeping) -> bool:
    """Delete the key's expired answer, if it has one, so the key can be used again."""
    with connection.cursor() as cursor:
        cursor.execute(DROP_EXPIRED, [keeping.user_id, keeping.endpoint, keeping.key, keeping.now])
        return cursor.rowcount > 0


def key_taken(error: IntegrityError) -> bool:
    """Whether the statement failed because its key is already kept (or being kept right now)."""
    diagnostics = getattr(error.__cause__, "diag", None)
    return getattr(diagnostics, "constraint_name", None) == ONE_PER_KEY
