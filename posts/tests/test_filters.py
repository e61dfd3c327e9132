"""PostFilter.clean() and filter_cleaned(): the filterset's form, without building one per request."""

import pytest
from django.http import QueryDict
from django_filters.utils import translate_validation
from rest_framework.exceptions import ValidationError

from posts.filters import PostFilter
from posts.models import Post

VALID = [
    "",
    "owner=1",
    "owner=%207%20",
    "ordering=-votes",
    "ordering=votes",
    "ordering=created_at",
    "ordering=-created_at,",
    "ordering=,",
    "ordering=",
    "search=",
    "search=two%20terms",
    "search=%20spaced%20",
    "created_after=2020-01-01",
    "created_before=9999-12-31",
    "created_after=2020-01-01&created_before=2020-01-31&owner=3&search=x&ordering=votes",
    "limit=5&cursor=abc&offset=3&unknown=1",
]
INVALID = [
    "owner=abc",
    "owner=0",
    "owner=-1",
    "owner=1.5",
    "owner=99999999999999999999999",
    "ordering=bogus",
    "ordering=votes,bogus",
    "ordering=id",
    f"search={'x' * 501}",
    "created_after=2020-13-01",
    "created_after=01/01/2020",
    "created_before=2020-02-30",
    "created_before=today",
    "owner=x&created_after=y&created_before=z&ordering=w",
    "ordering=w&owner=x&search=ok",
]


def form_answer(params: QueryDict):
    filterset = PostFilter(params, queryset=Post.objects.all())
    if not filterset.is_valid():
        return "400", translate_validation(filterset.errors).detail
    return filterset.form.cleaned_data, str(filterset.qs.query)


@pytest.mark.django_db
@pytest.mark.parametrize("query", VALID)
def test_valid_parameters_clean_and_filter_as_the_form_does(query):
    params = QueryDict(query)
    cleaned = PostFilter.clean(params)
    assert (cleaned, str(PostFilter.filter_cleaned(Post.objects.all(), cleaned).query)) == form_answer(params)


@pytest.mark.django_db
@pytest.mark.parametrize("query", INVALID)
def test_invalid_parameters_give_the_forms_400(query):
    params = QueryDict(query)
    with pytest.raises(ValidationError) as raised:
        PostFilter.clean(params)
    expected = form_answer(params)
    assert ("400", raised.value.detail) == expected
    # Same keys in the same order, same messages and codes.
    assert list(raised.value.detail) == list(expected[1])
    assert [[(str(error), error.code) for error in errors] for errors in raised.value.detail.values()] == [
        [(str(error), error.code) for error in errors] for errors in expected[1].values()
    ]
