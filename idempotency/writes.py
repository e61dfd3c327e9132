"""A new row whose INSERT also keeps the answer to its Idempotency-Key (PostgreSQL).

A keyed create would otherwise need a transaction of its own around three statements: claim
the key, insert the row, record the answer (decorators._answer_once). Here the one INSERT the
handler makes anyway carries the answer in a data-modifying WITH (queries.KEEP_WITH_WRITE):
the row and its kept answer commit together or not at all, in the statement a create without a
key sends too, so a key costs almost nothing. That needs the answer before the row is written,
so the row's id is taken from its sequence beforehand (`_IdBlocks`, a few dozen at a time) and
the answer is rendered once the ORM has filled in the row's other values, just before the
statement leaves.

A handler takes part through `save_new`; `@idempotent(..., writes_one_row=True)` sets up the
rest. Without a key, or on another database, `save_new` is a plain save.
"""

import os
import threading
from collections import deque
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import orjson
from django.db import connection, models, transaction
from rest_framework.utils.encoders import JSONEncoder

from . import queries

# The attribute of the (DRF) request where the decorator leaves what a keyed write must keep.
PENDING = "_idempotency_pending"
# What orjson cannot encode itself (lazy strings, Decimal, ...), as DRF's JSON renderer does it.
encode_other = JSONEncoder().default


def encode_answer(data) -> str:
    """A response's data as the JSON text kept for its repeats."""
    return orjson.dumps(data, default=encode_other).decode()


@dataclass
class Pending:
    keeping: queries.Keeping
    kept: bool = False  # set once the answer went out with the write


def save_new(request, instance: models.Model, render: Callable[[], object], status: int) -> None:
    """Insert `instance`; under a keyed request, its INSERT keeps `render()` with `status`.

    `render` is called once the ORM has set the row's values (timestamps included), right before
    the INSERT is sent, and must give the data the response will carry.
    """
    pending: Pending | None = getattr(request, PENDING, None)
    if pending is None:
        instance.save(force_insert=True)
        return
    instance.pk = _ids.take(type(instance))
    insert = f"INSERT INTO {connection.ops.quote_name(instance._meta.db_table)} "

    def keep_in_the_insert(execute, sql, params, many, context):
        if pending.kept or not sql.startswith(insert):
            return execute(sql, params, many, context)
        sql, params = queries.keep_with_write(pending.keeping, status, encode_answer(render()), sql, params)
        result = execute(sql, params, many, context)
        pending.kept = True
        return result

    # Inside a caller's transaction (tests run in one) a refused key must not spoil it.
    savepoint = transaction.atomic() if connection.in_atomic_block else nullcontext()
    with savepoint, connection.execute_wrapper(keep_in_the_insert):
        instance.save(force_insert=True)


class _IdBlocks:
    """Ids drawn from each table's id sequence ahead of use, per process.

    A block costs one query per BLOCK rows; ids a process never uses are skipped, as a rolled
    back insert skips its id. Rows stay ordered by created_at, the id only breaks ties.
    """

    BLOCK = 64
    SQL = "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)"

    def __init__(self):
        self._lock = threading.Lock()
        self._free: dict[str, deque] = {}
        self._pid = os.getpid()

    def take(self, model: type[models.Model]) -> int:
        with self._lock:
            if self._pid != os.getpid():  # a forked worker must not reuse its parent's ids
                self._free.clear()
                self._pid = os.getpid()
            free = self._free.setdefault(model._meta.db_table, deque())
            if not free:
                table = connection.ops.quote_name(model._meta.db_table)
                with connection.cursor() as cursor:
                    cursor.execute(self.SQL, [table, model._meta.pk.column, self.BLOCK])
                    free.extend(row[0] for row in cursor.fetchall())
            return free.popleft()


_ids = _IdBlocks()
