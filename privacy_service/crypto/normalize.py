"""Normalising identifiers before blind indexing and validating them (GB 11643 for ID numbers)."""

from __future__ import annotations

import re

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}\.[^@\s.]{2,63}$")
_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")


class InvalidValue(ValueError):
    """A value is not a valid identifier of its kind (message never contains the value)."""


def normalize_email(value: str) -> str:
    """Trim and lower-case an email address; refuse what is not one."""
    email = value.strip().lower()
    if not _EMAIL.match(email):
        raise InvalidValue("not a valid email address")
    return email


def normalize_phone(value: str) -> str:
    """Digits only, without the +86 / 0086 country prefix; mainland mobile numbers only."""
    digits = re.sub(r"[\s\-()+.]", "", value.strip())
    if not digits.isdigit():
        raise InvalidValue("a phone number may contain only digits, spaces, +, - and ()")
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == 11 + len(prefix):
            digits = digits[len(prefix) :]
    if not _CN_MOBILE.match(digits):
        raise InvalidValue("not a mainland China mobile number (11 digits starting with 1)")
    return digits


def id_check_character(first17: str) -> str:
    """The GB 11643-1999 check character for the first 17 digits of an ID number."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def normalize_id_number(value: str) -> str:
    """An 18-character resident ID number, upper-case check character, checksum validated."""
    number = re.sub(r"\s", "", value).upper()
    if len(number) != 18 or not number[:17].isdigit() or number[17] not in "0123456789X":
        raise InvalidValue("a resident ID number has 17 digits and a check digit or X")
    if id_check_character(number[:17]) != number[17]:
        raise InvalidValue("the ID number's check character is wrong")
    return number


_NORMALIZERS = {
    "email": normalize_email,
    "phone": normalize_phone,
    "id_number": normalize_id_number,
}


def normalize(kind: str, value: str) -> str:
    """Normalise ``value`` as ``kind`` (``email``, ``phone`` or ``id_number``)."""
    if not isinstance(value, str):
        raise InvalidValue("must be a string")
    return _NORMALIZERS[kind](value)


def mask(kind: str, value: str) -> str:
    """A display form that never reveals the whole value."""
    if kind == "email":
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    if kind == "phone":
        return f"{value[:3]}****{value[-4:]}"
    if kind == "id_number":
        return f"{value[:3]}{'*' * (len(value) - 7)}{value[-4:]}"
    return "***"
