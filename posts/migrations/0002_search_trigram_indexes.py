"""Trigram indexes that keep `search` (case-insensitive substring) fast on PostgreSQL.

Django compiles `icontains` to `UPPER(col::text) LIKE UPPER(%s)`, so the indexes are on
UPPER(col). Other databases have no trigram index; they scan.
"""

from django.db import migrations

INDEXED = ("title", "content")


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in INDEXED:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS post_{column}_trgm ON posts_post "
            f"USING gin ((UPPER({column}::text)) gin_trgm_ops)"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in INDEXED:
        schema_editor.execute(f"DROP INDEX IF EXISTS post_{column}_trgm")


class Migration(migrations.Migration):
    dependencies = [("posts", "0001_initial")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
