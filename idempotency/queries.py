"""The SQL of a keyed request: claim the key, record the answer, read a kept answer.

Hand-written because the claim is one statement that an ORM query cannot express (an upsert
that only takes over an expired row, and on PostgreSQL a try-lock), and a keyed create must
cost no more than one extra INSERT and one UPDATE. Each statement runs in the caller's
transaction, the one that also makes the write. tests/test_queries.py runs each of them.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

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
SELECT %s, %s, %s, %s, {CLAIMED}, '', %s, %s FROM free WHERE ok
{_TAKE_OVER_EXPIRED}"""  # noqa: S608
# SQLite lets one writer at a time: a second request waits for the first to commit.
CLAIM_SQLITE = f"""INSERT INTO {TABLE} ({_CLAIM_COLUMNS})
VALUES (%s, %s, %s, %s, {CLAIMED}, '', %s, %s)
{_TAKE_OVER_EXPIRED}"""  # noqa: S608
ANSWER = f"UPDATE {TABLE} SET status = %s, body = %s WHERE id = %s"  # noqa: S608
KEPT = f"""SELECT fingerprint, status, body FROM {TABLE}
WHERE user_id = %s AND endpoint = %s AND key = %s AND expires_at > %s"""  # noqa: S608


@dataclass(frozen=True)
class Kept:
    fingerprint: str
    status: int
    body: str


def claim(
    *,
    lock_id: int,
    user_id: int,
    endpoint: str,
    key: str,
    fingerprint: str,
    now: datetime,
    expires_at: datetime,
) -> int | None:
    """The id of a row now reserved for this request's answer, or None when the key is taken."""
    values = [user_id, endpoint, key, fingerprint, now, expires_at]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(CLAIM_POSTGRESQL, [lock_id, *values])
        else:
            cursor.execute(CLAIM_SQLITE, values)
        row = cursor.fetchone()
    return row[0] if row else None


def answer(*, claim_id: int, status: int, body: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(ANSWER, [status, body, claim_id])


def kept(*, user_id: int, endpoint: str, key: str, now: datetime) -> Kept | None:
    """The answer kept for this key, or None while the request holding it is still running."""
    with connection.cursor() as cursor:
        cursor.execute(KEPT, [user_id, endpoint, key, now])
        row = cursor.fetchone()
    if row is None or row[1] == CLAIMED:
        return None
    return Kept(*row)
