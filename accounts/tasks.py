"""Background tasks of the accounts app (django-tasks): the password-recovery email."""

import logging
import smtplib
import time

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django_tasks import task
from django_tasks.backends.immediate import ImmediateBackend

from httpkit import request_id as request_ids

from . import services
from .models import User

logger = logging.getLogger(__name__)

SEND_ATTEMPTS = 4
FIRST_RETRY_DELAY_SECONDS = 1.0


@task()
def email_recovery_code(email: str, request_id: str | None = None) -> bool:
    """Issue a recovery code for the active account with this email and mail it.

    Unknown and deactivated emails get nothing. The code exists only here and in the email,
    so a failed send is retried with backoff in this run; after the last try it is logged and
    the task fails (the database backend keeps it as a failed task result). `request_id` is the
    id of the request that asked for it, carried by every log record of this run.
    """
    with request_ids.bound(request_id):
        return _email_recovery_code(email)


def _email_recovery_code(email: str) -> bool:
    issued = services.recovery_code_issue(email=email)
    if issued is None:
        return False
    user, code = issued
    message = _recovery_message(user=user, code=code)
    for attempt in range(1, SEND_ATTEMPTS + 1):
        try:
            message.send()
            break
        except (smtplib.SMTPException, OSError) as exc:
            if attempt == SEND_ATTEMPTS:
                logger.error(
                    "recovery email for user %s not sent after %d attempts: %r", user.pk, attempt, exc
                )
                raise
            delay = FIRST_RETRY_DELAY_SECONDS * 2 ** (attempt - 1)
            logger.warning(
                "recovery email for user %s failed (attempt %d of %d), retrying in %.0f s: %r",
                user.pk,
                attempt,
                SEND_ATTEMPTS,
                delay,
                exc,
            )
            time.sleep(delay)
    logger.info("recovery email sent for user %s", user.pk)
    return True


def _recovery_message(*, user: User, code: str) -> EmailMultiAlternatives:
    context = {"email": user.email, "code": code, "minutes": settings.PASSWORD_RESET_CODE_MINUTES}
    subject = render_to_string("accounts/email/password_recovery_subject.txt", context).strip()
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("accounts/email/password_recovery.txt", context),
        to=[user.email],
    )
    message.attach_alternative(
        render_to_string("accounts/email/password_recovery.html", context), "text/html"
    )
    return message


def runs_in_process() -> bool:
    """Whether enqueued tasks run inside the caller (TASKS_BACKEND=immediate) instead of a worker."""
    return isinstance(email_recovery_code.get_backend(), ImmediateBackend)
