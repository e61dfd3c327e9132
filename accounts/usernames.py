"""Usernames: the rule they follow, and how one is made from an email when none is given.

Plain functions without model imports, so the data migration that names existing users uses
the same rule as registration, the admin, seed_demo and import_fastapi.
"""

import re
from collections.abc import Iterable

from django.core.exceptions import ValidationError

MIN_LENGTH = 3
MAX_LENGTH = 30
PATTERN = re.compile(r"[A-Za-z0-9_.-]{3,30}", re.ASCII)
HAS_LETTER = re.compile(r"[A-Za-z]", re.ASCII)
INVALID = "3 to 30 characters of letters, digits, _ . and -, with at least one letter."
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_.-]+", re.ASCII)


def is_valid(value: str) -> bool:
    return bool(PATTERN.fullmatch(value) and HAS_LETTER.search(value))


def validate_username(value: str) -> None:
    """Model-field validator: the contract's rule (ASCII letters only, so look-alikes cannot pass)."""
    if not isinstance(value, str) or not is_valid(value):
        raise ValidationError(INVALID, code="invalid")


def base_from_email(email: str) -> str:
    """The email's local part, reduced to allowed characters; padded when too short or letterless."""
    base = _NOT_ALLOWED.sub("", email.rsplit("@", 1)[0])[:MAX_LENGTH]
    if not HAS_LETTER.search(base) or len(base) < MIN_LENGTH:
        base = f"user_{base}" if base else "user"
    return base[:MAX_LENGTH]


def first_free(base: str, taken: Iterable[str]) -> str:
    """`base`, or `base` with the smallest number from 2 up that no username in `taken` has.

    `taken` holds lower-cased usernames; the number replaces the end of a base that is too long.
    """
    taken = set(taken)
    if base.lower() not in taken:
        return base
    number = 2
    while True:
        suffix = str(number)
        candidate = base[: MAX_LENGTH - len(suffix)] + suffix
        if candidate.lower() not in taken:
            return candidate
        number += 1


def name_all(users: Iterable, taken: set[str]) -> None:
    """Give every user without a username one from its email, unique among `taken` and each other.

    For bulk writes (bulk_create skips save()); `taken` (lower-cased) grows with each name given.
    """
    for user in users:
        if not user.username:
            user.username = first_free(base_from_email(user.email), taken)
        taken.add(user.username.lower())
