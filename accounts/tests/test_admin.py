import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.models import User
from conftest import PASSWORD, admin_action, bearer, login, session_client

CHANGELIST = "/admin/accounts/user/"


@pytest.fixture
def moderator(make_user) -> User:
    """Staff with the user permissions a moderator needs, not a superuser."""
    staff = make_user("mod@example.com", is_staff=True)
    staff.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="accounts", codename__in=["view_user", "change_user"]
        )
    )
    return staff


@pytest.fixture
def moderator_client(moderator) -> Client:
    return session_client(moderator)


@pytest.fixture
def superuser_client(db) -> Client:
    return session_client(User.objects.create_superuser(email="root@example.com", password=PASSWORD))


def run_action(client: Client, action: str, users: list[User]):
    return admin_action(client, CHANGELIST, action, users)


@pytest.mark.django_db
def test_staff_can_log_into_admin_with_email(moderator):
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "MOD@example.com", "password": PASSWORD, "next": "/admin/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_non_staff_cannot_use_admin(user):
    client = session_client(user)
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_changelist_shows_moderator_columns_and_searches_email(moderator_client, make_user):
    make_user("carol@example.com")
    make_user("dave@example.com")
    response = moderator_client.get(CHANGELIST, {"q": "CAROL"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "carol@example.com" in page
    assert "dave@example.com" not in page
    for column in ("column-email", "column-is_active", "column-is_staff", "column-created_at"):
        assert column in page


@pytest.mark.django_db
def test_filter_by_active(moderator_client, make_user):
    make_user("gone@example.com", is_active=False)
    make_user("here@example.com")
    page = moderator_client.get(CHANGELIST, {"is_active__exact": "0"}).content.decode()
    assert "gone@example.com" in page
    assert "here@example.com" not in page


@pytest.mark.django_db
def test_superuser_can_add_user_and_password_is_hashed(superuser_client):
    response = superuser_client.post(
        "/admin/accounts/user/add/",
        {
            "email": "New.Person@EXAMPLE.com",
            "password1": "a-long-new-secret",
            "password2": "a-long-new-secret",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    created = User.objects.get(email="New.Person@example.com")
    assert created.password != "a-long-new-secret"
    assert "a-long-new-secret" not in created.password
    assert created.check_password("a-long-new-secret")
    assert created.is_active
    assert not created.is_staff


@pytest.mark.django_db
def test_add_user_refuses_weak_password_and_duplicate_email(superuser_client, user):
    weak = superuser_client.post(
        "/admin/accounts/user/add/",
        {"email": "weak@example.com", "password1": "12345678", "password2": "12345678"},
    )
    assert weak.status_code == 200
    assert "This password is entirely numeric." in weak.content.decode()
    duplicate = superuser_client.post(
        "/admin/accounts/user/add/",
        {"email": user.email.upper(), "password1": "a-long-new-secret", "password2": "a-long-new-secret"},
    )
    assert duplicate.status_code == 200
    assert "A user with that email already exists." in duplicate.content.decode()
    assert User.objects.filter(email__lower="weak@example.com").count() == 0
    assert User.objects.filter(email__lower=user.email).count() == 1


@pytest.mark.django_db
def test_change_form_never_shows_the_password_hash(superuser_client, user):
    response = superuser_client.get(f"/admin/accounts/user/{user.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    digest = user.password.rsplit("$", 1)[-1]
    assert len(digest) >= 16
    assert digest not in page
    assert user.password not in page
    assert 'href="../password/"' in page


@pytest.mark.django_db
def test_deactivate_action_blocks_tokens_at_once(moderator_client, user, other_user, api_client):
    tokens = login(api_client, user.email)
    client = bearer(tokens["access_token"])
    assert client.get("/api/v1/users/me/").status_code == 200

    response = run_action(moderator_client, "deactivate_users", [user])

    assert "Deactivated 1 user(s)." in response.content.decode()
    user.refresh_from_db()
    other_user.refresh_from_db()
    assert not user.is_active
    assert other_user.is_active
    refused = client.get("/api/v1/users/me/")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"].startswith("Bearer")
    refresh = api_client.post("/api/v1/auth/token/refresh/", {"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401
    relogin = api_client.post("/api/v1/auth/token/", {"email": user.email, "password": PASSWORD})
    assert relogin.status_code == 401
    assert relogin.json()["detail"] == "Invalid credentials"


@pytest.mark.django_db
def test_reactivating_does_not_revive_old_refresh_tokens(moderator_client, user, api_client):
    tokens = login(api_client, user.email)
    run_action(moderator_client, "deactivate_users", [user])
    run_action(moderator_client, "reactivate_users", [user])
    refresh = api_client.post("/api/v1/auth/token/refresh/", {"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401
    assert login(api_client, user.email)["token_type"] == "bearer"


@pytest.mark.django_db
def test_reactivate_action_restores_access(moderator_client, make_user, api_client):
    banned = make_user("banned@example.com", is_active=False)
    response = run_action(moderator_client, "reactivate_users", [banned])
    assert "Reactivated 1 user(s)." in response.content.decode()
    banned.refresh_from_db()
    assert banned.is_active
    assert login(api_client, banned.email)["token_type"] == "bearer"


@pytest.mark.django_db
def test_moderator_cannot_deactivate_themselves(moderator_client, moderator, user):
    response = run_action(moderator_client, "deactivate_users", [moderator, user])
    page = response.content.decode()
    assert "You cannot deactivate your own account." in page
    assert "Deactivated 1 user(s)." in page
    moderator.refresh_from_db()
    user.refresh_from_db()
    assert moderator.is_active
    assert not user.is_active


@pytest.mark.django_db
def test_view_only_staff_cannot_deactivate(make_user, user):
    viewer = make_user("viewer@example.com", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_user"))
    client = session_client(viewer)
    response = run_action(client, "deactivate_users", [user])
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.is_active


# Usernames and deactivation through the forms


@pytest.mark.django_db
def test_changelist_lists_and_searches_usernames(moderator_client, make_user):
    make_user("carol@example.com", username="Caroline")
    make_user("dave@example.com")
    page = moderator_client.get(CHANGELIST, {"q": "carol"}).content.decode()
    assert "column-username" in page
    assert "Caroline" in page
    assert "dave@example.com" not in page
    by_name = moderator_client.get(CHANGELIST, {"q": "carolin"}).content.decode()
    assert "carol@example.com" in by_name


@pytest.mark.django_db
def test_add_form_takes_a_username_or_makes_one(superuser_client, user):
    secret = {"password1": "a-long-new-secret", "password2": "a-long-new-secret"}
    named = superuser_client.post(
        "/admin/accounts/user/add/", {"email": "erin@example.com", "username": "erin_x", **secret}
    )
    assert named.status_code == 302
    assert User.objects.get(email="erin@example.com").username == "erin_x"
    unnamed = superuser_client.post("/admin/accounts/user/add/", {"email": "alice@other.org", **secret})
    assert unnamed.status_code == 302
    # "alice" is the fixture user's: a number is added.
    assert User.objects.get(email="alice@other.org").username == "alice2"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("username", "message"),
    [
        ("ALICE", "A user with that username already exists."),
        ("no spaces", "3 to 30 characters of letters"),
        ("12345", "3 to 30 characters of letters"),
    ],
)
def test_add_form_refuses_taken_or_invalid_usernames(superuser_client, user, username, message):
    response = superuser_client.post(
        "/admin/accounts/user/add/",
        {
            "email": "new@example.com",
            "username": username,
            "password1": "a-long-new-secret",
            "password2": "a-long-new-secret",
        },
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.filter(email="new@example.com").exists()


def change_form_data(user: User, **changes) -> dict:
    data = {
        "email": user.email,
        "username": user.username,
        "is_active": "on" if user.is_active else "",
        "is_staff": "",
        "is_superuser": "",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


@pytest.mark.django_db
def test_unticking_active_in_the_form_revokes_refresh_tokens_for_good(superuser_client, user, api_client):
    tokens = login(api_client, user.email)
    change = f"/admin/accounts/user/{user.pk}/change/"
    off = superuser_client.post(change, change_form_data(user, is_active=""))
    assert off.status_code == 302, off.content.decode()[:3000]
    user.refresh_from_db()
    assert not user.is_active
    assert bearer(tokens["access_token"]).get("/api/v1/users/me/").status_code == 401

    on = superuser_client.post(change, change_form_data(user, is_active="on"))
    assert on.status_code == 302
    user.refresh_from_db()
    assert user.is_active
    refresh = api_client.post("/api/v1/auth/token/refresh/", {"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401
    assert login(api_client, user.email)["token_type"] == "bearer"


@pytest.mark.django_db
def test_change_form_renames_and_refuses_a_taken_username(superuser_client, user, other_user):
    change = f"/admin/accounts/user/{user.pk}/change/"
    taken = superuser_client.post(change, change_form_data(user, username="Bob"))
    assert taken.status_code == 200
    assert "A user with that username already exists." in taken.content.decode()
    renamed = superuser_client.post(change, change_form_data(user, username="alice.w"))
    assert renamed.status_code == 302
    user.refresh_from_db()
    assert user.username == "alice.w"
