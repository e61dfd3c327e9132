from django.contrib.auth.hashers import Argon2PasswordHasher, BCryptPasswordHasher


class Argon2idPasswordHasher(Argon2PasswordHasher):
    """Argon2id with OWASP's recommended minimum cost (19 MiB, 2 passes, 1 lane).

    Django's default (100 MiB, 8 lanes) takes several times longer on one core without being
    meaningfully stronger against an attacker who has the hash; this keeps logins fast under
    load. Hashes keep the `argon2` prefix, so existing ones verify and are re-hashed on login.
    """

    time_cost = 2
    memory_cost = 19456
    parallelism = 1


class PasslibBCryptPasswordHasher(BCryptPasswordHasher):
    """Django's `bcrypt$` hashes, checked the way passlib made them in the FastAPI app.

    bcrypt only ever reads a password's first 72 bytes: passlib cut longer ones silently, while
    bcrypt 5 raises for them, which would turn such a user's login into a server error. The
    hash is replaced with Argon2id at the first successful login.
    """

    def encode(self, password, salt):
        bcrypt = self._load_library()
        data = bcrypt.hashpw(password.encode()[:72], salt)
        return f"{self.algorithm}${data.decode('ascii')}"
