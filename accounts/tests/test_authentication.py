"""Bearer authentication reads the user row on every request: each check bites at once."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from conftest import bearer


def me(client):
    return client.get("/api/v1/users/me/")


@pytest.mark.django_db
def test_token_of_a_deleted_user_is_401(auth_client, user):
    assert me(auth_client).status_code == 200
    user.delete()
    response = me(auth_client)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_token_issued_before_a_password_change_is_401(auth_client, user):
    assert me(auth_client).status_code == 200
    user.set_password("another-long-passphrase-42")
    user.save()
    assert me(auth_client).status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("claim", ["not-a-number", None])
def test_token_without_a_usable_user_id_is_401(user, claim):
    token = AccessToken.for_user(user)
    if claim is None:
        del token["user_id"]
    else:
        token["user_id"] = claim
    assert me(bearer(str(token))).status_code == 401


@pytest.mark.django_db
def test_token_names_the_user_it_was_issued_to(auth_client, user, other_user):
    body = me(auth_client).json()
    assert body["id"] == user.id
    assert User.objects.get(pk=body["id"]).email == user.email


@pytest.mark.django_db
def test_token_accepted_before_is_401_once_it_expires(user):
    token = AccessToken.for_user(user)
    # `exp` is whole seconds, so a 2 s lifetime leaves at least 1 s of validity.
    token.set_exp(from_time=timezone.now(), lifetime=timedelta(seconds=2))
    client = bearer(str(token))
    assert me(client).status_code == 200
    time.sleep(2.1)
    response = me(client)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
