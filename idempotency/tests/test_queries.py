"""The statements of idempotency/queries.py, run directly (no ORM query does what they do)."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from idempotency import queries
from idempotency.decorators import _lock_id
from idempotency.models import StoredAnswer

pytestmark = pytest.mark.django_db


def _keeping(user, key="q", fingerprint="f" * 64, now=None, hours=1):
    now = now or timezone.now()
    return queries.Keeping(user.pk, "posts", key, fingerprint, now, now + timedelta(hours=hours))


def _claim(user, key="q", fingerprint="f" * 64, now=None, hours=1):
    keeping = _keeping(user, key, fingerprint, now, hours)
    return queries.claim(keeping, lock_id=_lock_id(user.pk, "posts", key))


def test_a_claim_is_refused_while_its_key_is_kept_and_taken_over_once_expired(user):
    claim_id = _claim(user)
    assert claim_id is not None
    assert queries.kept(_keeping(user)) is None
    queries.answer(claim_id=claim_id, status=201, body='{"id": 1}')
    assert _claim(user) is None
    kept = queries.kept(_keeping(user))
    assert kept == queries.Kept("f" * 64, 201, '{"id": 1}')

    later = timezone.now() + timedelta(hours=2)
    assert queries.kept(_keeping(user, now=later)) is None
    assert _claim(user, fingerprint="e" * 64, now=later) == claim_id
    row = StoredAnswer.objects.get()
    assert (row.fingerprint, row.status, row.body) == ("e" * 64, queries.CLAIMED, "")


def test_an_answer_without_a_write_is_kept_once_and_again_after_it_expires(user):
    assert queries.keep(_keeping(user, "k"), 400, '{"title": ["required"]}')
    assert not queries.keep(_keeping(user, "k"), 400, '{"other": 1}')
    kept = queries.kept(_keeping(user, key="k"))
    assert kept == queries.Kept("f" * 64, 400, '{"title": ["required"]}')

    later = timezone.now() + timedelta(hours=2)
    assert queries.keep(_keeping(user, "k", fingerprint="e" * 64, now=later), 422, "{}")
    assert StoredAnswer.objects.get().fingerprint == "e" * 64


@pytest.mark.postgres
def test_a_kept_key_fails_the_write_that_would_keep_it_again(user):
    if connection.vendor != "postgresql":
        pytest.skip("a data-modifying WITH is PostgreSQL's (SQLite keeps the answer in a transaction)")
    queries.keep(_keeping(user, "k"), 201, '{"id": 1}')
    sql, params = queries.keep_with_write(_keeping(user, "k"), 201, '{"id": 2}', "SELECT %s", ["write"])
    assert sql.startswith("WITH kept AS (INSERT INTO idempotency_storedanswer")
    assert params[-1] == "write"
    with pytest.raises(IntegrityError) as refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    assert queries.key_taken(refused.value)
    assert not queries.key_taken(IntegrityError("another constraint"))
    assert StoredAnswer.objects.get().body == '{"id": 1}'


def test_only_an_expired_answer_is_dropped(user):
    queries.keep(_keeping(user, "k"), 201, "{}")
    assert not queries.drop_expired(_keeping(user, "k"))
    assert queries.drop_expired(_keeping(user, "k", now=timezone.now() + timedelta(hours=2)))
    assert not StoredAnswer.objects.exists()
