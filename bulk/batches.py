"""Batches for bulk loads (the demo seeder, the FastAPI import): one INSERT per batch of rows."""

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

T = TypeVar("T")


def batched(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of at most `size` rows, in order; rows are read lazily, one batch at a time."""
    if size < 1:
        raise ValueError("a batch holds at least one row")
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch
