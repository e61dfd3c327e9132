from django.contrib.auth.backends import ModelBackend


class EmailBackend(ModelBackend):
    """ModelBackend that also accepts `email=` and looks users up case-insensitively.

    Like ModelBackend it hashes the given password even when no account matches, so an
    unknown email costs the same time as a wrong password.
    """

    def authenticate(self, request, username=None, password=None, email=None, **kwargs):
        return super().authenticate(request, username=username or email, password=password, **kwargs)
