"""The keyset indexes of the feed carry published and owner_id (INCLUDE, PostgreSQL only).

On PostgreSQL the new indexes are built and the old ones dropped CONCURRENTLY, so a large
posts table keeps taking writes meanwhile (the migration is therefore not atomic). Databases
without covering indexes (SQLite) get plain (created_at, id) and (vote_count, id) indexes.
"""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models
from django.db.migrations.operations import AddIndex, RemoveIndex


class AddIndexOnline(AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL, a plain CREATE INDEX elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class RemoveIndexOnline(RemoveIndexConcurrently):
    """DROP INDEX CONCURRENTLY on PostgreSQL, a plain DROP INDEX elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            RemoveIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            RemoveIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("posts", "0003_post_counts")]

    operations = [
        AddIndexOnline(
            model_name="post",
            index=models.Index(
                fields=["created_at", "id"], include=["published", "owner"], name="post_created_visible_idx"
            ),
        ),
        AddIndexOnline(
            model_name="post",
            index=models.Index(
                fields=["vote_count", "id"], include=["published", "owner"], name="post_votes_visible_idx"
            ),
        ),
        RemoveIndexOnline(model_name="post", name="post_created_idx"),
        RemoveIndexOnline(model_name="post", name="post_votes_idx"),
    ]
