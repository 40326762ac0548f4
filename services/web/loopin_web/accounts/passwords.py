"""The strategy's password policy: at least 12 characters, with complexity."""

from __future__ import annotations

import string

MIN_LENGTH = 12
MAX_LENGTH = 128  # bounds hashing cost per request
MIN_CHARACTER_CLASSES = 3


def password_problems(password: str, email: str = "") -> list[str]:
    """Why `password` is unacceptable; empty when it is fine."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters")
    classes = sum(
        [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(c in string.punctuation or c.isspace() for c in password),
        ]
    )
    if classes < MIN_CHARACTER_CLASSES:
        problems.append(
            f"must mix at least {MIN_CHARACTER_CLASSES} of: lowercase, uppercase, digits, symbols"
        )
    local = email.split("@", 1)[0].lower()
    if len(local) >= 4 and local in password.lower():
        problems.append("must not contain the email address")
    return problems
