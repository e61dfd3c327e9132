"""API.md, Idempotent retries: Idempotency-Key on POST /api/v1/posts/ and POST /api/v1/votes/."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from io import StringIO

import psycopg2
import pytest
from django.core.management import call_command
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.mixins import CreateModelMixin

from idempotency import queries
from idempotency.decorators import _lock_id, body_fingerprint
from idempotency.models import StoredAnswer
from posts.models import Post
from posts.serializers import PostSerializer
from posts.tests.factories import make_post
from votes.models import Vote

pytestmark = pytest.mark.django_db

POST = {"title": "Retried", "content": "Sent twice, written once"}


def create(client, body=POST, key="key-1", **extra):
    return client.post("/api/v1/posts/", body, format="json", HTTP_IDEMPOTENCY_KEY=key, **extra)


def vote(client, post_id, direction, key="vote-1"):
    return client.post(
        "/api/v1/votes/", {"post_id": post_id, "dir": direction}, format="json", HTTP_IDEMPOTENCY_KEY=key
    )


def test_user_can_repeat_a_create_and_gets_the_first_answer(auth_client, user):
    first = create(auth_client)
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    again = create(auth_client)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert Post.objects.filter(owner=user).count() == 1


def test_a_repeat_writes_nothing(auth_client):
    create(auth_client)
    with CaptureQueriesContext(connection) as repeat:
        assert create(auth_client).status_code == 201
    writes = [q["sql"] for q in repeat.captured_queries if q["sql"].startswith(("UPDATE", "DELETE"))]
    assert writes == []
    inserts = [q["sql"] for q in repeat.captured_queries if q["sql"].startswith(("INSERT", "WITH"))]
    # SQLite: the claim, refused by the kept row. PostgreSQL: the post's INSERT keeping the key,
    # refused as a whole.
    assert len(inserts) == 1
    assert StoredAnswer.objects.count() == 1
    assert Post.objects.count() == 1


def test_what_a_keyed_create_adds_to_the_statements(auth_client):
    with CaptureQueriesContext(connection) as plain:
        auth_client.post("/api/v1/posts/", POST, format="json")
    with CaptureQueriesContext(connection) as keyed:
        assert create(auth_client).status_code == 201

    def statements(captured):
        # Savepoints are the test's transaction; a keyed create draws post ids 64 at a time.
        return [q["sql"] for q in captured if "SAVEPOINT" not in q["sql"] and "nextval" not in q["sql"]]

    plain_sql, keyed_sql = statements(plain.captured_queries), statements(keyed.captured_queries)
    keeping = [sql.split()[0] for sql in keyed_sql if "idempotency_" in sql]
    if connection.vendor == "postgresql":
        assert len(keyed_sql) == len(plain_sql)
        # The post's own INSERT keeps the key and its answer.
        (insert,) = [sql for sql in keyed_sql if "posts_post" in sql and "INSERT" in sql]
        assert insert.startswith("WITH kept AS (INSERT INTO idempotency_storedanswer")
        assert keeping == ["WITH"]
    else:
        # A claim before the write and the answer after it, in one transaction.
        assert len(keyed_sql) == len(plain_sql) + 2
        assert keeping == ["INSERT", "UPDATE"]


def test_the_same_body_in_another_key_order_is_a_repeat(auth_client, user):
    assert create(auth_client, {"title": "A", "content": "B", "published": True}).status_code == 201
    again = create(auth_client, {"published": True, "content": "B", "title": "A"})
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert Post.objects.filter(owner=user).count() == 1


def test_the_same_key_with_another_body_is_422(auth_client, user):
    assert create(auth_client).status_code == 201
    response = create(auth_client, {**POST, "title": "Something else"})
    assert response.status_code == 422
    assert set(response.json()) == {"detail"}
    assert Post.objects.filter(owner=user).count() == 1


def test_another_users_identical_key_is_a_new_request(auth_client, other_client, user, other_user):
    mine = create(auth_client)
    theirs = create(other_client)
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]
    assert Post.objects.filter(owner=user).count() == Post.objects.filter(owner=other_user).count() == 1
    # And with another body: still not the first user's key, so no 422 either.
    assert create(other_client, {**POST, "title": "Mine"}, key="key-2").status_code == 201
    assert create(auth_client, {**POST, "title": "Other"}, key="key-2").status_code == 201


def test_the_same_key_on_the_other_endpoint_is_a_new_request(auth_client, other_user):
    post = make_post(other_user)
    assert create(auth_client, key="shared").status_code == 201
    response = vote(auth_client, post.id, 1, key="shared")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers
    assert Vote.objects.filter(post=post).count() == 1


def test_user_can_repeat_a_like_and_an_unlike(auth_client, user, other_user):
    post = make_post(other_user)
    assert vote(auth_client, post.id, 1, key="like").status_code == 201
    repeated = vote(auth_client, post.id, 1, key="like")
    # Without the key this would be the 409 of a second like.
    assert (repeated.status_code, repeated.headers["Idempotent-Replayed"]) == (201, "true")
    assert repeated.json() == {"detail": "Vote added."}
    assert vote(auth_client, post.id, 0, key="unlike").status_code == 200
    repeated = vote(auth_client, post.id, 0, key="unlike")
    assert (repeated.status_code, repeated.json()) == (200, {"detail": "Vote removed."})
    post.refresh_from_db()
    assert post.vote_count == 0
    assert not Vote.objects.exists()


def test_client_errors_are_kept(auth_client, user, other_user):
    invalid = create(auth_client, {"title": "", "content": "x"})
    assert invalid.status_code == 400
    assert set(invalid.json()) == {"title"}
    again = create(auth_client, {"title": "", "content": "x"})
    assert (again.status_code, again.json()) == (400, invalid.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    # The key now belongs to the refused body: a corrected request needs a new key.
    assert create(auth_client, POST).status_code == 422

    draft = make_post(other_user, published=False)
    missing = vote(auth_client, draft.id, 1)
    assert missing.status_code == 404
    draft.published = True
    draft.save()
    kept = vote(auth_client, draft.id, 1)
    assert (kept.status_code, kept.headers["Idempotent-Replayed"]) == (404, "true")
    assert not Vote.objects.exists()


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("boom"),
        # The 503 drops the broken connection, which only a test outside a transaction survives.
        pytest.param(
            OperationalError("server closed the connection"), marks=pytest.mark.django_db(transaction=True)
        ),
    ],
)
def test_a_server_error_is_not_kept_and_the_retry_runs_again(auth_client, user, monkeypatch, error):
    def fail(self, **kwargs):
        raise error

    with monkeypatch.context() as patched:
        patched.setattr(Post, "save", fail)
        auth_client.raise_request_exception = False
        failed = create(auth_client)
    assert failed.status_code in (500, 503)
    assert not StoredAnswer.objects.exists()
    retried = create(auth_client)
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers
    assert Post.objects.filter(owner=user).count() == 1


def test_a_failure_after_the_write_leaves_one_post_for_the_retry(auth_client, user, monkeypatch):
    def fail_after_the_insert(self, data):
        assert Post.objects.filter(owner=user).exists()
        raise RuntimeError("crash between the write and the response")

    with monkeypatch.context() as patched:
        patched.setattr(CreateModelMixin, "get_success_headers", fail_after_the_insert)
        auth_client.raise_request_exception = False
        assert create(auth_client).status_code == 500
    retried = create(auth_client)
    assert retried.status_code == 201
    assert Post.objects.filter(owner=user).count() == 1
    assert StoredAnswer.objects.count() == 1
    if connection.vendor == "postgresql":
        # The post and its answer were kept by one statement: the retry gets that answer.
        assert retried.headers["Idempotent-Replayed"] == "true"
        assert retried.json()["id"] == Post.objects.get().pk
    else:
        # The transaction around claim, post and answer was rolled back: the retry ran again.
        assert "Idempotent-Replayed" not in retried.headers


def test_a_write_the_database_refuses_keeps_no_answer(auth_client, user, monkeypatch):
    # An empty title gets past the patched validation but not the table's check constraint.
    with monkeypatch.context() as patched:
        patched.setattr(PostSerializer, "validate", lambda self, attrs: {**attrs, "title": ""})
        auth_client.raise_request_exception = False
        assert create(auth_client).status_code == 500
    assert not StoredAnswer.objects.exists()
    assert not Post.objects.exists()
    retried = create(auth_client)
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers
    assert Post.objects.filter(owner=user).count() == 1


def test_an_expired_key_is_a_new_request(auth_client, user):
    assert create(auth_client).status_code == 201
    StoredAnswer.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    again = create(auth_client, {**POST, "title": "Another body is fine too"})
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again.headers
    assert Post.objects.filter(owner=user).count() == 2
    assert StoredAnswer.objects.get().expires_at > timezone.now() + timedelta(hours=23)


def test_answers_are_kept_for_idempotency_key_hours(auth_client, settings):
    settings.IDEMPOTENCY_KEY_HOURS = 2
    before = timezone.now()
    create(auth_client)
    kept = StoredAnswer.objects.get()
    assert before + timedelta(hours=2) <= kept.expires_at <= timezone.now() + timedelta(hours=2)
    assert kept.endpoint == "posts"
    assert kept.key == "key-1"
    assert kept.status == 201


def test_zero_hours_switches_keys_off(auth_client, user, settings):
    settings.IDEMPOTENCY_KEY_HOURS = 0
    assert create(auth_client).status_code == 201
    assert create(auth_client).status_code == 201
    assert Post.objects.filter(owner=user).count() == 2
    assert not StoredAnswer.objects.exists()
    assert create(auth_client, key="not a key").status_code == 400


@pytest.mark.parametrize(
    "key",
    ["", " ", "with space", "x" * 256, "tab\tkey", "line\x01", "del\x7f", "caf\u00e9", "nul\x00"],
)
def test_a_malformed_key_is_400(auth_client, user, other_user, key):
    post = make_post(other_user)
    for response in (create(auth_client, key=key), vote(auth_client, post.id, 1, key=key)):
        assert response.status_code == 400
        assert set(response.json()) == {"detail"}
        assert "Idempotency-Key" in response.json()["detail"]
    assert Post.objects.filter(owner=user).count() == 0
    assert not Vote.objects.exists()


@pytest.mark.parametrize("key", ["x", "x" * 255, "!~", "3f2c1e0a-9b7d-4c5e-8f6a-1b2c3d4e5f60"])
def test_keys_of_1_to_255_visible_characters_are_taken(auth_client, key):
    assert create(auth_client, key=key).status_code == 201
    assert create(auth_client, key=key).headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/posts/"),
        ("get", "/api/v1/posts/mine/"),
        ("get", "/api/v1/posts/{id}/"),
        ("patch", "/api/v1/posts/{id}/"),
        ("put", "/api/v1/posts/{id}/"),
        ("delete", "/api/v1/posts/{id}/"),
        ("get", "/api/v1/users/me/"),
        ("post", "/api/v1/users/"),
        ("post", "/api/v1/auth/token/"),
    ],
)
def test_a_key_on_an_operation_that_takes_none_is_400(auth_client, user, method, path):
    post = make_post(user)
    response = getattr(auth_client, method)(
        path.format(id=post.id), {"title": "T", "content": "C"}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Idempotency-Key is only accepted on POST /api/v1/posts/ and POST /api/v1/votes/."
    }
    assert Post.objects.get().title == post.title


def test_a_key_outside_the_api_is_ignored(client):
    assert client.get("/healthz", HTTP_IDEMPOTENCY_KEY="k").status_code == 200


def test_a_key_without_credentials_is_401(api_client):
    response = create(api_client)
    assert response.status_code == 401
    assert not StoredAnswer.objects.exists()


def test_browsers_may_send_the_key_cross_origin(api_client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    response = api_client.options(
        "/api/v1/posts/",
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type, idempotency-key",
    )
    assert "idempotency-key" in response.headers["Access-Control-Allow-Headers"]


def test_purge_deletes_expired_answers_only(auth_client):
    create(auth_client, key="old")
    create(auth_client, key="new")
    StoredAnswer.objects.filter(key="old").update(expires_at=timezone.now() - timedelta(seconds=1))
    dry = StringIO()
    call_command("purge_expired_credentials", "--dry-run", stdout=dry)
    assert "idempotency keys: 1 would be deleted" in dry.getvalue()
    out = StringIO()
    call_command("purge_expired_credentials", stdout=out)
    assert "idempotency keys: 1 deleted" in out.getvalue()
    assert list(StoredAnswer.objects.values_list("key", flat=True)) == ["new"]


def test_the_fingerprint_is_of_the_parsed_body():
    assert body_fingerprint({"a": 1, "b": [1, 2]}) == body_fingerprint({"b": [1, 2], "a": 1})
    assert body_fingerprint({"a": 1}) != body_fingerprint({"a": "1"})
    assert len(body_fingerprint({})) == 64


def test_the_schema_documents_the_key_on_the_two_writes(api_client):
    schema = api_client.get("/api/schema/?format=json").json()
    for path in ("/api/v1/posts/", "/api/v1/votes/"):
        operation = schema["paths"][path]["post"]
        header = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
        assert len(header) == 1
        assert header[0]["in"] == "header"
        assert not header[0].get("required", False)
        assert header[0]["schema"]["pattern"] == "^[!-~]{1,255}$"
        assert {"409", "422"} <= set(operation["responses"])
        assert "Retry-After" in operation["responses"]["409"]["headers"]
    assert "Already liked" in schema["paths"]["/api/v1/votes/"]["post"]["responses"]["409"]["description"]
    listing = schema["paths"]["/api/v1/posts/"]["get"]
    assert all(p["name"] != "Idempotency-Key" for p in listing.get("parameters", []))
    assert "422" not in listing["responses"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_repeat_while_the_first_is_running_is_409(auth_client, user, other_user):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one writer at a time: a repeat waits for the first and gets its answer")
    post = make_post(other_user)
    body = {"post_id": post.pk, "dir": 1}
    # The first like, still running in another session: it holds the claim, uncommitted.
    first = psycopg2.connect(**connection.get_connection_params())
    try:
        now = timezone.now()
        keeping = queries.Keeping(
            user.pk, "votes", "vote-1", body_fingerprint(body), now, now + timedelta(hours=1)
        )
        with first.cursor() as cursor:
            cursor.execute(
                queries.CLAIM_POSTGRESQL,
                [_lock_id(user.pk, "votes", "vote-1"), *keeping.values(queries.CLAIMED, "")],
            )
            claim_id = cursor.fetchone()[0]
        busy = vote(auth_client, post.pk, 1)
        assert busy.status_code == 409
        assert set(busy.json()) == {"detail"}
        assert busy.headers["Retry-After"] == "1"
        assert not Vote.objects.exists()

        with first.cursor() as cursor:
            cursor.execute(queries.ANSWER, [201, '{"detail": "Vote added."}', claim_id])
        first.commit()
        done = vote(auth_client, post.pk, 1)
        assert (done.status_code, done.json(), done.headers["Idempotent-Replayed"]) == (
            201,
            {"detail": "Vote added."},
            "true",
        )
        assert not Vote.objects.exists()  # the first "ran" in the other session only
    finally:
        first.close()


def _in_a_thread_of_its_own(function, *args):
    try:
        return function(*args)
    finally:
        connection.close()  # this thread's own connection


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_repeat_while_the_first_create_is_writing_waits_for_its_answer(auth_client, user):
    if connection.vendor != "postgresql":
        pytest.skip("the create's INSERT keeps its answer on PostgreSQL only")
    # The first create's INSERT, in flight in another session: its kept answer is uncommitted.
    first = psycopg2.connect(**connection.get_connection_params())
    try:
        now = timezone.now()
        keeping = queries.Keeping(
            user.pk, "posts", "key-1", body_fingerprint(POST), now, now + timedelta(hours=1)
        )
        with first.cursor() as cursor:
            cursor.execute(queries.KEEP, keeping.values(201, '{"id": 7}'))
        with ThreadPoolExecutor(1) as pool:
            repeat = pool.submit(_in_a_thread_of_its_own, create, auth_client)
            # The repeat's INSERT waits on the unique key until the first commits or rolls back.
            with pytest.raises(TimeoutError):
                repeat.result(timeout=1)
            first.commit()
            done = repeat.result(timeout=10)
        assert (done.status_code, done.json(), done.headers["Idempotent-Replayed"]) == (
            201,
            {"id": 7},
            "true",
        )
        assert not Post.objects.exists()
    finally:
        first.close()
