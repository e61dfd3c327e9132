"""Model signals of the accounts app."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from . import services
from .models import User


@receiver(post_save, sender=User, dispatch_uid="accounts.revoke_tokens_of_inactive_user")
def revoke_tokens_of_inactive_user(sender, instance: User, **kwargs) -> None:
    """Deactivation by any save (admin form, shell, code) revokes the user's refresh tokens.

    Reactivating later does not bring them back: blacklisted tokens stay blacklisted. Saves of
    active users cost nothing here; bulk `update(is_active=False)` bypasses signals, so the
    admin action revokes explicitly.
    """
    if not instance.is_active:
        services.tokens_revoke_all(user_id=instance.pk)
