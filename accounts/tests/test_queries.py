"""Each statement of accounts/queries.py beside the ORM query it stands for, on the same rows."""

import pytest
from django.db.models import Value

from accounts import queries
from accounts.models import User


def fields(user: User | None) -> dict | None:
    if user is None:
        return None
    return {field.attname: getattr(user, field.attname) for field in User._meta.concrete_fields}


@pytest.mark.django_db
def test_user_by_id_reads_the_row_the_orm_reads(user, make_user):
    make_user("inactive@example.com", is_active=False, username="Gone.1")
    for user_id in [*User.objects.values_list("id", flat=True), 987654]:
        assert fields(queries.user_by_id(user_id)) == fields(User.objects.filter(pk=user_id).first())


@pytest.mark.django_db
def test_ping_answers_what_the_orm_answers(user, django_assert_num_queries):
    # The ORM has no table-less SELECT; the nearest is a constant read through a row.
    with django_assert_num_queries(1):
        answer = queries.ping()
    assert answer == User.objects.annotate(one=Value(1)).values_list("one", flat=True).first() == 1
