"""Hand-written SQL of the accounts app, on its hot paths; each statement has a test in
accounts/tests/test_queries.py that runs it beside the ORM query it stands for."""

from django.db import connection

from .models import User

# The bearer-token user read (every authenticated request). Building the ORM query
# (User.objects.filter(pk=...).first()) cost a tenth of a typical request.
USER_BY_ID = "SELECT * FROM accounts_user WHERE id = %s"

# The recovery request's one database round trip with the in-process task backend: the same
# on every path, so an unreachable database is the usual 503 whether or not the account exists.
PING = "SELECT 1"


def user_by_id(user_id: int) -> User | None:
    return next(iter(User.objects.raw(USER_BY_ID, [user_id])), None)


def ping() -> int:
    with connection.cursor() as cursor:
        cursor.execute(PING)
        return cursor.fetchone()[0]
