import pytest

from bulk.batches import batched


def test_batches_keep_every_row_in_order():
    assert list(batched(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batched(range(6), 3)) == [[0, 1, 2], [3, 4, 5]]
    assert list(batched([], 3)) == []


def test_rows_are_read_one_batch_at_a_time():
    read = []

    def rows():
        for n in range(10):
            read.append(n)
            yield n

    batches = batched(rows(), 4)
    assert next(batches) == [0, 1, 2, 3]
    assert read == [0, 1, 2, 3]


def test_an_empty_batch_size_is_refused():
    with pytest.raises(ValueError, match="at least one row"):
        next(batched([1], 0))
