"""RECOVERY_CODES_PER_HOUR and RESET_FAILURE_LIMIT (API.md, "Recovery codes")."""

from datetime import timedelta

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from accounts.models import AuthFailure, RecoveryCode
from accounts.tests.test_recovery import (
    ACCEPTED,
    INVALID_CODE,
    NEW_PASSWORD,
    code_in,
    emailed_code,
    request_code,
    reset,
    wrong,
)


@pytest.mark.django_db
def test_at_most_three_codes_an_hour_and_the_last_one_stays_valid(api_client, user):
    for _ in range(3):
        assert request_code(api_client, user.email).status_code == 202
    assert len(mail.outbox) == 3
    last = code_in(mail.outbox[-1].body)
    extra = request_code(api_client, user.email)
    assert extra.status_code == 202
    assert extra.json() == ACCEPTED
    assert len(mail.outbox) == 3
    assert RecoveryCode.objects.filter(state="active").count() == 1
    assert reset(api_client, user.email, last).status_code == 200


@pytest.mark.django_db
def test_codes_are_sent_again_after_an_hour(api_client, user):
    for _ in range(3):
        request_code(api_client, user.email)
    RecoveryCode.objects.update(created_at=timezone.now() - timedelta(minutes=61))
    assert request_code(api_client, user.email).status_code == 202
    assert len(mail.outbox) == 4


@pytest.mark.django_db
@override_settings(RECOVERY_CODES_PER_HOUR=1)
def test_codes_per_hour_comes_from_the_settings(api_client, user, other_user):
    request_code(api_client, user.email)
    request_code(api_client, user.email)
    request_code(api_client, other_user.email)
    assert [message.to for message in mail.outbox] == [[user.email], [other_user.email]]


def guess_wrong(client, address: str, code: str, times: int) -> None:
    for _ in range(times):
        assert reset(client, address, wrong(code)).json() == INVALID_CODE


@pytest.mark.django_db
def test_ten_wrong_codes_in_a_day_refuse_resets_for_a_day(api_client, user):
    for _ in range(2):
        code = emailed_code(api_client, user.email)
        guess_wrong(api_client, user.email, code, 5)
    right = emailed_code(api_client, user.email)
    refused = reset(api_client, user.email, right)
    assert refused.status_code == 400
    assert refused.json() == INVALID_CODE
    user.refresh_from_db()
    assert not user.check_password(NEW_PASSWORD)

    AuthFailure.objects.filter(scope="reset").update(
        failed_at=timezone.now() - timedelta(hours=24, seconds=1)
    )
    assert reset(api_client, user.email, right).status_code == 200


@pytest.mark.django_db
def test_nine_wrong_codes_leave_resets_working(api_client, user):
    code = emailed_code(api_client, user.email)
    guess_wrong(api_client, user.email, code, 4)
    code = emailed_code(api_client, user.email)
    guess_wrong(api_client, user.email, code, 4)
    code = emailed_code(api_client, user.email)
    guess_wrong(api_client, user.email, code, 1)
    assert reset(api_client, user.email, code).status_code == 200


@pytest.mark.django_db
def test_wrong_codes_spread_over_more_than_a_day_do_not_lock(api_client, user):
    code = emailed_code(api_client, user.email)
    guess_wrong(api_client, user.email, code, 5)
    AuthFailure.objects.update(failed_at=timezone.now() - timedelta(hours=25))
    RecoveryCode.objects.update(created_at=timezone.now() - timedelta(hours=2))
    code = emailed_code(api_client, user.email)
    guess_wrong(api_client, user.email, code, 4)
    assert reset(api_client, user.email, code).status_code == 200


@pytest.mark.django_db
@override_settings(RESET_FAILURE_LIMIT=2)
def test_reset_lock_is_per_account_and_from_the_settings(api_client, user, other_user):
    code = emailed_code(api_client, user.email)
    guess_wrong(api_client, user.email, code, 2)
    assert reset(api_client, user.email, code).json() == INVALID_CODE
    theirs = emailed_code(api_client, other_user.email)
    assert reset(api_client, other_user.email, theirs).status_code == 200
