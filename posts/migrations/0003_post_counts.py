"""Per-owner tallies of published posts and drafts, kept by triggers on posts_post.

Row 0 counts every owner. On PostgreSQL inserts and deletes are counted by statement-level
triggers with transition tables (a bulk insert costs one upsert), and every upsert takes its
row locks in key order so concurrent writers cannot deadlock. A change of `published` or
`owner` moves one post between tallies; the row trigger's WHEN clause keeps other updates
(edits, the vote-count trigger) free of any cost.
"""

from django.db import migrations, models

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION posts_post_count_insert() RETURNS trigger AS $$
BEGIN
    INSERT INTO posts_postcount AS c (owner_id, published, drafts)
    SELECT k, SUM(p), SUM(d) FROM (
        SELECT owner_id AS k, published::int AS p, (NOT published)::int AS d FROM new_posts
        UNION ALL
        SELECT 0, published::int, (NOT published)::int FROM new_posts
    ) t GROUP BY k ORDER BY k
    ON CONFLICT (owner_id) DO UPDATE
        SET published = c.published + EXCLUDED.published, drafts = c.drafts + EXCLUDED.drafts;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION posts_post_count_delete() RETURNS trigger AS $$
BEGIN
    INSERT INTO posts_postcount AS c (owner_id, published, drafts)
    SELECT k, -SUM(p), -SUM(d) FROM (
        SELECT owner_id AS k, published::int AS p, (NOT published)::int AS d FROM old_posts
        UNION ALL
        SELECT 0, published::int, (NOT published)::int FROM old_posts
    ) t GROUP BY k ORDER BY k
    ON CONFLICT (owner_id) DO UPDATE
        SET published = c.published + EXCLUDED.published, drafts = c.drafts + EXCLUDED.drafts;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION posts_post_count_update() RETURNS trigger AS $$
BEGIN
    INSERT INTO posts_postcount AS c (owner_id, published, drafts)
    SELECT k, SUM(p), SUM(d) FROM (VALUES
        (0::bigint, -(OLD.published::int), -((NOT OLD.published)::int)),
        (OLD.owner_id, -(OLD.published::int), -((NOT OLD.published)::int)),
        (0::bigint, NEW.published::int, (NOT NEW.published)::int),
        (NEW.owner_id, NEW.published::int, (NOT NEW.published)::int)
    ) t (k, p, d) GROUP BY k ORDER BY k
    ON CONFLICT (owner_id) DO UPDATE
        SET published = c.published + EXCLUDED.published, drafts = c.drafts + EXCLUDED.drafts;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER posts_post_count_insert AFTER INSERT ON posts_post
    REFERENCING NEW TABLE AS new_posts
    FOR EACH STATEMENT EXECUTE FUNCTION posts_post_count_insert();
CREATE TRIGGER posts_post_count_delete AFTER DELETE ON posts_post
    REFERENCING OLD TABLE AS old_posts
    FOR EACH STATEMENT EXECUTE FUNCTION posts_post_count_delete();
CREATE TRIGGER posts_post_count_update AFTER UPDATE OF published, owner_id ON posts_post
    FOR EACH ROW
    WHEN (OLD.published IS DISTINCT FROM NEW.published OR OLD.owner_id IS DISTINCT FROM NEW.owner_id)
    EXECUTE FUNCTION posts_post_count_update();
"""

POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS posts_post_count_insert ON posts_post;
DROP TRIGGER IF EXISTS posts_post_count_delete ON posts_post;
DROP TRIGGER IF EXISTS posts_post_count_update ON posts_post;
DROP FUNCTION IF EXISTS posts_post_count_insert();
DROP FUNCTION IF EXISTS posts_post_count_delete();
DROP FUNCTION IF EXISTS posts_post_count_update();
"""

# SQLite serialises writers, so plain row triggers suffice. Decrements only touch existing
# rows: a flush that empties posts_postcount before posts_post leaves no negative tallies.
SQLITE_ADD = """INSERT INTO posts_postcount (owner_id, published, drafts)
    VALUES (0, {row}.published, NOT {row}.published), ({row}.owner_id, {row}.published, NOT {row}.published)
    ON CONFLICT (owner_id) DO UPDATE
    SET published = published + excluded.published, drafts = drafts + excluded.drafts;"""
SQLITE_REMOVE = """UPDATE posts_postcount
    SET published = published - {row}.published, drafts = drafts - (NOT {row}.published)
    WHERE owner_id IN (0, {row}.owner_id);"""

SQLITE_UP = [
    f"CREATE TRIGGER posts_post_count_insert AFTER INSERT ON posts_post "
    f"BEGIN {SQLITE_ADD.format(row='NEW')} END",
    f"CREATE TRIGGER posts_post_count_delete AFTER DELETE ON posts_post "
    f"BEGIN {SQLITE_REMOVE.format(row='OLD')} END",
    f"CREATE TRIGGER posts_post_count_update AFTER UPDATE OF published, owner_id ON posts_post "
    f"WHEN OLD.published IS NOT NEW.published OR OLD.owner_id IS NOT NEW.owner_id "
    f"BEGIN {SQLITE_REMOVE.format(row='OLD')} {SQLITE_ADD.format(row='NEW')} END",
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS posts_post_count_insert",
    "DROP TRIGGER IF EXISTS posts_post_count_delete",
    "DROP TRIGGER IF EXISTS posts_post_count_update",
]

# Tallies of the posts that already exist; row 0 is there even for an empty table.
BACKFILL = """
INSERT INTO posts_postcount (owner_id, published, drafts)
SELECT owner_id,
       SUM(CASE WHEN published THEN 1 ELSE 0 END),
       SUM(CASE WHEN published THEN 0 ELSE 1 END)
FROM posts_post GROUP BY owner_id
UNION ALL
SELECT 0,
       COALESCE(SUM(CASE WHEN published THEN 1 ELSE 0 END), 0),
       COALESCE(SUM(CASE WHEN published THEN 0 ELSE 1 END), 0)
FROM posts_post
"""


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP)
    elif vendor == "sqlite":
        for statement in SQLITE_UP:
            schema_editor.execute(statement)
    else:
        raise RuntimeError(f"post-count triggers are not written for {vendor}")
    schema_editor.execute(BACKFILL)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN)
    else:
        for statement in SQLITE_DOWN:
            schema_editor.execute(statement)
    schema_editor.execute("DELETE FROM posts_postcount")


class Migration(migrations.Migration):
    dependencies = [("posts", "0002_search_trigram_indexes")]

    operations = [
        migrations.CreateModel(
            name="PostCount",
            fields=[
                (
                    "owner_id",
                    models.BigIntegerField(
                        help_text="A user id, or 0 for all owners.", primary_key=True, serialize=False
                    ),
                ),
                ("published", models.BigIntegerField(default=0)),
                ("drafts", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
