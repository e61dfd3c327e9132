import functools
from datetime import UTC, date, datetime, time, timedelta

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.forms.utils import ErrorDict, ErrorList
from django.utils.datastructures import MultiValueDict
from django_filters.utils import translate_validation
from drf_spectacular.utils import extend_schema_field

from httpkit.converters import MAX_ID

from .models import Post

# Newest first; id breaks ties in the same direction.
DEFAULT_ORDERING = ("-created_at", "-id")


class IdFilter(django_filters.Filter):
    """An integer id; anything else (text, decimals, numbers beyond 64 bits) is a 400."""

    field_class = forms.IntegerField


def _start_of_day(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


class PostFilter(django_filters.FilterSet):
    """List parameters of docs/api.md; any invalid value is a 400, never silently ignored."""

    search = django_filters.CharFilter(
        method="filter_search",
        label="Search",
        max_length=500,
        help_text="Every whitespace-separated term must occur in the title or the content "
        "(case-insensitive plain substring).",
    )
    created_after = django_filters.DateFilter(
        method="filter_created_after",
        label="Created on or after",
        input_formats=["%Y-%m-%d"],
        help_text="YYYY-MM-DD, whole days in UTC, inclusive.",
    )
    created_before = django_filters.DateFilter(
        method="filter_created_before",
        label="Created on or before",
        input_formats=["%Y-%m-%d"],
        help_text="YYYY-MM-DD, whole days in UTC, inclusive.",
    )
    owner = extend_schema_field(
        {"type": "integer", "minimum": 1, "maximum": MAX_ID, "description": "A user id."}
    )(IdFilter(field_name="owner_id", min_value=1, max_value=MAX_ID))
    ordering = django_filters.OrderingFilter(
        fields=(("created_at", "created_at"), ("vote_count", "votes")),
        help_text="created_at, -created_at (default), votes or -votes; ties broken by id.",
    )

    class Meta:
        model = Post
        fields = ["search", "created_after", "created_before", "owner", "ordering"]

    # Filters whose matches the trigger-kept tallies (PostCount) already count.
    tallied_filters = ("owner",)

    @classmethod
    def row_filters(cls) -> list[str]:
        """Parameters that choose which posts are listed (every one but the ordering)."""
        return [
            name
            for name, declared in cls.base_filters.items()
            if not isinstance(declared, django_filters.OrderingFilter)
        ]

    @classmethod
    def narrowing_filters(cls) -> list[str]:
        """Parameters that drop posts in ways no tally counts: with one of them, rows are counted."""
        return [name for name in cls.row_filters() if name not in cls.tallied_filters]

    @classmethod
    def clean(cls, params) -> dict:
        """What the filter form's cleaned_data would hold for `params`, or its 400, without a form.

        Building a FilterSet copies every filter and builds a form class and a form for each
        request: about a quarter of a filtered feed request's time. The fields here are made
        once and each value is read and cleaned as the form does it (widget, field.clean), so
        the values and the error messages are the form's own.
        """
        cleaned, errors = {}, ErrorDict()
        no_files = MultiValueDict()
        for name, field in cls._fields().items():
            try:
                cleaned[name] = field.clean(field.widget.value_from_datadict(params, no_files, name))
            except ValidationError as error:
                errors[name] = ErrorList(error.error_list)
        if errors:
            raise translate_validation(errors)
        return cleaned

    @classmethod
    def filter_cleaned(cls, queryset, cleaned: dict):
        """`queryset` narrowed and ordered by values from clean(), as `PostFilter(...).qs` does."""
        filters = cls._template().filters
        for name in cls.row_filters():
            queryset = filters[name].filter(queryset, cleaned[name])
        return _ordered(queryset, cleaned.get("ordering"))

    @classmethod
    @functools.cache
    def _template(cls) -> "PostFilter":
        """One unbound filterset whose filters (stateless, bound to it) serve every request."""
        return cls(queryset=cls._meta.model.objects.none())

    @classmethod
    @functools.cache
    def _fields(cls) -> dict:
        return {name: declared.field for name, declared in cls._template().filters.items()}

    def filter_search(self, queryset, name, value):
        for term in value.split():
            queryset = queryset.filter(Q(title__icontains=term) | Q(content__icontains=term))
        return queryset

    def filter_created_after(self, queryset, name, value: date):
        return queryset.filter(created_at__gte=_start_of_day(value))

    def filter_created_before(self, queryset, name, value: date):
        if value == date.max:
            return queryset
        return queryset.filter(created_at__lt=_start_of_day(value + timedelta(days=1)))

    @property
    def qs(self):
        return _ordered(super().qs, self.form.cleaned_data.get("ordering"))


def _ordered(queryset, ordering: list[str] | None):
    """Ordering is always total: created_at or votes, then id in the same direction."""
    # Empty items (`?ordering=,`) are skipped, as OrderingFilter itself does.
    keys = [key for key in ordering or [] if key] or [DEFAULT_ORDERING[0]]
    keys = [{"votes": "vote_count", "-votes": "-vote_count"}.get(k, k) for k in keys]
    tie_breaker = "-id" if keys[-1].startswith("-") else "id"
    return queryset.order_by(*keys, tie_breaker)
