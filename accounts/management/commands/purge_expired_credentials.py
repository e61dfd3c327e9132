from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts import lockout
from accounts.models import RecoveryCode
from idempotency.models import StoredAnswer


class Command(BaseCommand):
    help = (
        "Delete recovery codes that can never work again (expired, spent or voided; kept an hour, "
        "as RECOVERY_CODES_PER_HOUR counts them), flush expired refresh tokens from the "
        "outstanding-token list (their blacklist rows go with them), failed password and code "
        "checks that no brute-force window counts any more, and Idempotency-Key answers kept "
        "longer than IDEMPOTENCY_KEY_HOURS. "
        "Safe to run from cron: it only removes dead rows, in short batches, and overlapping runs "
        "do not conflict."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; change nothing."
        )
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="Rows deleted per transaction (default: 1000)."
        )

    def handle(self, *args, dry_run: bool, batch_size: int, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        hour_ago = timezone.now() - timedelta(hours=1)
        self._purge(
            "recovery codes",
            RecoveryCode.objects.dead().filter(created_at__lte=hour_ago),
            dry_run=dry_run,
            batch_size=batch_size,
        )
        self._purge(
            "expired tokens",
            OutstandingToken.objects.filter(expires_at__lte=timezone.now()),
            dry_run=dry_run,
            batch_size=batch_size,
        )
        self._purge("failed checks", lockout.expired_failures(), dry_run=dry_run, batch_size=batch_size)
        self._purge(
            "idempotency keys", StoredAnswer.objects.expired(), dry_run=dry_run, batch_size=batch_size
        )

    def _purge(self, label: str, queryset: QuerySet, *, dry_run: bool, batch_size: int) -> None:
        total = queryset.count()
        if dry_run:
            self.stdout.write(f"{label}: {total} would be deleted (dry run, nothing changed)")
            return
        deleted = 0
        while batch := list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size]):
            # Rows of the batch, not of the whole table, so each transaction stays short.
            deleted += queryset.filter(pk__in=batch).delete()[1].get(queryset.model._meta.label, 0)
            self.stdout.write(f"{label}: {deleted} of {total} deleted")
        self.stdout.write(self.style.SUCCESS(f"{label}: {deleted} deleted"))
