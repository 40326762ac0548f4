"""Argon2id with OWASP's minimum parameters (19 MiB, t=2, p=1).

Django's default Argon2 parameters take 100 MiB per hash, which alone would break the
200 MB-per-worker memory budget under a burst of logins.
"""

from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idOwaspHasher(Argon2PasswordHasher):
    algorithm = "argon2"
    time_cost = 2
    memory_cost = 19456
    parallelism = 1
