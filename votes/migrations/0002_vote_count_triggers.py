"""Keep posts_post.vote_count equal to the number of votes_vote rows of each post.

Triggers fire for every way a vote row comes or goes: the API, the admin, cascades from a
deleted user or post, bulk inserts and raw SQL. On PostgreSQL they are statement-level with
transition tables, so a bulk insert of many likes costs one UPDATE per statement.
"""

from django.db import migrations

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION votes_vote_count_insert() RETURNS trigger AS $$
BEGIN
    UPDATE posts_post p SET vote_count = p.vote_count + n.c
    FROM (SELECT post_id, COUNT(*) AS c FROM new_votes GROUP BY post_id) n
    WHERE p.id = n.post_id;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION votes_vote_count_delete() RETURNS trigger AS $$
BEGIN
    UPDATE posts_post p SET vote_count = p.vote_count - o.c
    FROM (SELECT post_id, COUNT(*) AS c FROM old_votes GROUP BY post_id) o
    WHERE p.id = o.post_id;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER votes_vote_count_insert AFTER INSERT ON votes_vote
    REFERENCING NEW TABLE AS new_votes
    FOR EACH STATEMENT EXECUTE FUNCTION votes_vote_count_insert();
CREATE TRIGGER votes_vote_count_delete AFTER DELETE ON votes_vote
    REFERENCING OLD TABLE AS old_votes
    FOR EACH STATEMENT EXECUTE FUNCTION votes_vote_count_delete();
"""

POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS votes_vote_count_insert ON votes_vote;
DROP TRIGGER IF EXISTS votes_vote_count_delete ON votes_vote;
DROP FUNCTION IF EXISTS votes_vote_count_insert();
DROP FUNCTION IF EXISTS votes_vote_count_delete();
"""

SQLITE_UP = [
    """CREATE TRIGGER votes_vote_count_insert AFTER INSERT ON votes_vote
    BEGIN UPDATE posts_post SET vote_count = vote_count + 1 WHERE id = NEW.post_id; END""",
    """CREATE TRIGGER votes_vote_count_delete AFTER DELETE ON votes_vote
    BEGIN UPDATE posts_post SET vote_count = vote_count - 1 WHERE id = OLD.post_id; END""",
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS votes_vote_count_insert",
    "DROP TRIGGER IF EXISTS votes_vote_count_delete",
]


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP)
    elif vendor == "sqlite":
        for statement in SQLITE_UP:
            schema_editor.execute(statement)
    else:
        raise RuntimeError(f"vote-count triggers are not written for {vendor}")
    # Counts of votes that already exist (none on a fresh database).
    schema_editor.execute(
        "UPDATE posts_post SET vote_count = "
        "(SELECT COUNT(*) FROM votes_vote v WHERE v.post_id = posts_post.id)"
    )


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN)
    else:
        for statement in SQLITE_DOWN:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("votes", "0001_initial"), ("posts", "0001_initial")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
