"""Password rules: length and a list of common passwords, no composition rules (ASVS 5.0, 6.2)."""

from __future__ import annotations

from flask_appbuilder.exceptions import PasswordComplexityValidationError
from flask_babel import gettext as _

MIN_LENGTH = 10
COMMON_PASSWORDS = frozenset(
    [
        "123456",
        "123456789",
        "12345678",
        "1234567890",
        "qwerty",
        "qwerty123",
        "qwertyuiop",
        "password",
        "password1",
        "password123",
        "111111",
        "1234567",
        "123123",
        "000000",
        "iloveyou",
        "1q2w3e4r",
        "1q2w3e4r5t",
        "1q2w3e4r5t6y",
        "qwe123",
        "zaq12wsx",
        "1qaz2wsx",
        "abc123",
        "654321",
        "555555",
        "7777777",
        "987654321",
        "123321",
        "666666",
        "112233",
        "121212",
        "admin",
        "admin123",
        "administrator",
        "welcome",
        "welcome1",
        "letmein",
        "monkey",
        "dragon",
        "master",
        "sunshine",
        "princess",
        "football",
        "baseball",
        "superman",
        "passw0rd",
        "p@ssw0rd",
        "p@ssword",
        "trustno1",
        "starwars",
        "whatever",
        "qazwsx",
        "asdfghjkl",
        "zxcvbnm",
        "1234qwer",
        "parol",
        "parol123",
        "parol12345",
        "privet",
        "privet123",
        "пароль",
        "пароль123",
        "йцукен",
        "йцукен123",
        "qwerty12345",
    ]
)


def check_password(password: str) -> str | None:
    """The reason a password is refused, or None."""
    if len(password) < MIN_LENGTH:
        return _("The password must have at least %(count)d characters.", count=MIN_LENGTH)
    lowered = password.casefold()
    if lowered in COMMON_PASSWORDS or len(set(lowered)) <= 2:
        return _("This password is too common; choose another one.")
    return None


def validate_password(password: str) -> None:
    """FAB's FAB_PASSWORD_COMPLEXITY_VALIDATOR hook."""
    problem = check_password(password)
    if problem:
        raise PasswordComplexityValidationError(problem)
