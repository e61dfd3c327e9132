import psycopg2
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from fastapi_import.services import ProblemRows, TargetNotEmpty, fastapi_data_import
from fastapi_import.source import FastAPISource, SourceError


class Command(BaseCommand):
    help = (
        "Import users, posts and likes from the FastAPI app's PostgreSQL database (read only) into "
        "blogapi's empty database, in one transaction. Ids, timestamps and passwords are kept."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--source",
            required=True,
            help="the FastAPI app's database, e.g. postgres://user:pass@host:5432/fastapi "
            "(or set PGPASSWORD instead of putting the password in the URL)",
        )
        parser.add_argument(
            "--posts-table", help="the posts table (default: detected, 'posts' or 'posts_orm')"
        )
        parser.add_argument(
            "--owner-column", help="the posts' owner column (default: detected, 'owner_id' or 'user_id')"
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="report what would be imported and every problem row; write nothing",
        )
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="import the rest when some rows break blogapi's rules (each one is reported)",
        )

    def handle(self, *args, source, posts_table, owner_column, dry_run, skip_invalid, verbosity, **options):
        def progress(line: str) -> None:
            if verbosity >= 1:
                self.stdout.write(line)

        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CommandError("blogapi's database is not fully migrated: run manage.py migrate first.")
        try:
            with FastAPISource.open(source, posts_table=posts_table, owner_column=owner_column) as reader:
                layout = reader.layout
                self.stdout.write(
                    f"source: posts in {layout.posts_table!r}, owner column {layout.owner_column!r}"
                )
                summary = fastapi_data_import(
                    source=reader,
                    dry_run=dry_run,
                    skip_invalid=skip_invalid,
                    report=self.stdout.write,
                    progress=progress,
                )
        except (SourceError, TargetNotEmpty, ProblemRows) as exc:
            raise CommandError(str(exc)) from exc
        except psycopg2.Error as exc:
            # Only the source connection is plain psycopg2; Django wraps the target's errors.
            raise CommandError(f"reading the source database failed: {str(exc).strip()}") from exc

        verb = "would import" if dry_run else "imported"
        merged = f" ({summary.merged_users} more merged into them)" if summary.merged_users else ""
        self.stdout.write(
            f"{verb} {summary.users} users{merged}, {summary.posts} posts, {summary.votes} likes; "
            f"skipped {summary.skipped_users} users, {summary.skipped_posts} posts, "
            f"{summary.skipped_votes} likes; {summary.notes} notes"
        )
        if dry_run:
            if any(summary.target_rows.values()):
                self.stdout.write(
                    self.style.WARNING("blogapi's database is not empty: a real run would be refused")
                )
            elif summary.skipped and not skip_invalid:
                self.stdout.write(
                    self.style.WARNING("a real run would be refused unless given --skip-invalid")
                )
            self.stdout.write("dry run: nothing was written")
        else:
            self.stdout.write(self.style.SUCCESS("import complete"))
