"""Usernames: made from the email when left out, validated, unique ignoring case."""

import pytest
from django.db import IntegrityError

from accounts import usernames
from accounts.models import User
from conftest import PASSWORD

USERS = "/api/v1/users/"
TAKEN = {"username": ["A user with that username already exists."]}


def register(client, email, **extra):
    return client.post(USERS, {"email": email, "password": PASSWORD, **extra}, format="json")


@pytest.mark.django_db
def test_username_is_made_from_the_email_with_a_number_when_taken(api_client):
    names = [
        register(api_client, f"jo.doe@{domain}").json()["username"] for domain in ("a.org", "b.org", "c.org")
    ]
    assert names == ["jo.doe", "jo.doe2", "jo.doe3"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("ab@example.com", "user_ab"),
        ("12345@example.com", "user_12345"),
        ("j+tag@example.com", "jtag"),
        ("o'brien@example.com", "obrien"),
        ("a" * 64 + "@example.com", "a" * 30),
    ],
)
def test_made_usernames_follow_the_rule(api_client, email, expected):
    body = register(api_client, email).json()
    assert body["username"] == expected
    assert usernames.is_valid(body["username"])


@pytest.mark.django_db
def test_user_can_choose_a_username(api_client):
    response = register(api_client, "x@example.com", username="Zed-1.2_3")
    assert response.status_code == 201
    assert response.json()["username"] == "Zed-1.2_3"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "username",
    [
        "ab",
        "a" * 31,
        "12345",
        "___",
        "has space",
        "bad!",
        "ünï",
        "tab\tx",
        "nul\x00x",
        42,
        None,
        ["x"],
        {"a": 1},
    ],
)
def test_invalid_username_is_400(api_client, username):
    response = register(api_client, "x@example.com", username=username)
    assert response.status_code == 400
    assert list(response.json()) == ["username"]
    assert not User.objects.exists()


@pytest.mark.django_db
def test_username_taken_in_another_case_is_400(api_client, make_user):
    make_user("someone@example.com", username="Taken")
    response = register(api_client, "x@example.com", username="tAKEN")
    assert response.status_code == 400
    assert response.json() == TAKEN


@pytest.mark.django_db
def test_database_refuses_a_case_variant_username(make_user):
    make_user("one@example.com", username="Same")
    with pytest.raises(IntegrityError):
        User.objects.create(email="two@example.com", username="sAME")


@pytest.mark.django_db
def test_username_race_ends_in_400_not_500(api_client, make_user, monkeypatch):
    make_user("one@example.com", username="raced")
    # As if the other sign-up had not committed when this one checked: the index decides.
    monkeypatch.setattr("accounts.serializers.validate_username_free", lambda value, **kw: value)
    response = register(api_client, "two@example.com", username="RACED")
    assert response.status_code == 400
    assert response.json() == TAKEN


@pytest.mark.django_db
def test_made_username_taken_meanwhile_is_made_again(api_client, make_user, monkeypatch):
    make_user("sam@a.org")
    # The first pick collides (as a concurrent sign-up would); the retry finds the next free one.
    picks = iter(["sam", None])
    original = User.free_username_for.__func__

    def first_stale(cls, email):
        pick = next(picks, None)
        return pick or original(cls, email)

    monkeypatch.setattr(User, "free_username_for", classmethod(first_stale))
    response = register(api_client, "sam@b.org")
    assert response.status_code == 201
    assert response.json()["username"] == "sam2"


def test_first_free_shortens_a_long_base_for_the_number():
    base = "b" * 30
    assert usernames.first_free(base, {base}) == "b" * 29 + "2"
    assert usernames.first_free("ann", {"ann", "ann2"}) == "ann3"
