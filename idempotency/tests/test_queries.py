"""The statements of idempotency/queries.py, run directly (no ORM query does what they do)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from idempotency import queries
from idempotency.decorators import _lock_id
from idempotency.models import StoredAnswer

pytestmark = pytest.mark.django_db


def _claim(user, key="q", fingerprint="f" * 64, now=None, hours=1):
    now = now or timezone.now()
    return queries.claim(
        lock_id=_lock_id(user.pk, "posts", key),
        user_id=user.pk,
        endpoint="posts",
        key=key,
        fingerprint=fingerprint,
        now=now,
        expires_at=now + timedelta(hours=hours),
    )


def test_a_claim_is_refused_while_its_key_is_kept_and_taken_over_once_expired(user):
    claim_id = _claim(user)
    assert claim_id is not None
    assert queries.kept(user_id=user.pk, endpoint="posts", key="q", now=timezone.now()) is None
    queries.answer(claim_id=claim_id, status=201, body='{"id": 1}')
    assert _claim(user) is None
    kept = queries.kept(user_id=user.pk, endpoint="posts", key="q", now=timezone.now())
    assert kept == queries.Kept("f" * 64, 201, '{"id": 1}')

    later = timezone.now() + timedelta(hours=2)
    assert queries.kept(user_id=user.pk, endpoint="posts", key="q", now=later) is None
    assert _claim(user, fingerprint="e" * 64, now=later) == claim_id
    row = StoredAnswer.objects.get()
    assert (row.fingerprint, row.status, row.body) == ("e" * 64, queries.CLAIMED, "")
