"""Request and response models of the account endpoints, with every input rule of SPEC §2."""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import UTC, datetime
from typing import Annotated, Self

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from flageval_contracts.enums import ReviewDecision, Role, UserStatus
from flageval_gateway.models import User

USERNAME_PATTERN = r"^[A-Za-z0-9_-]{3,32}$"
PASSWORD_MIN, PASSWORD_MAX = 8, 128
_PHONE = re.compile(r"^\+?[0-9(][0-9 ().\-]{2,30}[0-9]$")


def _nfkc(value: str) -> str:
    return unicodedata.normalize("NFKC", value)


def normalize_email(value: str) -> str:
    """NFKC-normalized, validated, lower-cased email (syntax only, no DNS); ``ValueError`` when
    invalid.

    NFKC folds compatibility forms into the letters they stand for: fullwidth letters (U+FF41
    for ``a``), mathematical alphanumerics (U+1D41A), ligatures, the script small l (U+2113).
    Addresses written with such forms therefore name the same account as the plain ones, at
    register and at login alike.
    """
    try:
        email = validate_email(_nfkc(value.strip()), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"Invalid email address: {exc}") from None
    return _nfkc(email.lower())


def lookup_email(value: str) -> str:
    """The form an email is stored in, for looking one up (never fails).

    There is no script check here: a look-alike address was refused at registration, so a
    lookup with one finds no account.
    """
    try:
        return normalize_email(value)
    except ValueError:
        return _nfkc(value.strip()).lower()


# Scripts that may share one part of an address. This is Unicode's "highly restrictive" level
# (UTS #39 §5.2): Latin together with the Han-based writing of Japanese, Chinese or Korean.
# Any other mix, such as Latin with Cyrillic or Greek, is how look-alike addresses are made.
_ALLOWED_MIXES = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)
# Unicode names whose first word is not their script's name.
_SCRIPT_OF_NAME = {
    "CJK": "HAN",
    "IDEOGRAPHIC": "HAN",
    "HANGZHOU": "HAN",
    "COUNTING": "HAN",
    "HENTAIGANA": "HIRAGANA",
    "KATAKANA-HIRAGANA": "KATAKANA",
    "VERTICAL": "KATAKANA",
    "ARABIC-INDIC": "ARABIC",
    "EXTENDED": "ARABIC",  # EXTENDED ARABIC-INDIC DIGIT …
}


def _script(char: str) -> str | None:
    """The script of a letter or non-ASCII digit, from its Unicode name (``CYRILLIC SMALL
    LETTER A`` → ``CYRILLIC``). ``None`` for ASCII digits, punctuation and marks, which any
    script may use. A letter without a name gets a script of its own."""
    category = unicodedata.category(char)
    if char.isascii():
        return "LATIN" if char.isalpha() else None
    if not (category.startswith("L") or category in ("Nd", "Nl")):
        return None
    first = unicodedata.name(char, "").split(" ", 1)[0] or f"U+{ord(char):04X}"
    return _SCRIPT_OF_NAME.get(first, first)


def mixed_scripts(email: str) -> tuple[str, list[str]] | None:
    """The first part of ``email`` whose letters mix scripts: the local part as a whole, or one
    dot-separated label of the domain. Returns that part and its scripts, or ``None``."""
    local, _, domain = email.rpartition("@")
    for part in (local, *domain.split(".")):
        scripts = {s for s in map(_script, part) if s is not None}
        if len(scripts) > 1 and not any(scripts <= mix for mix in _ALLOWED_MIXES):
            return part, sorted(scripts)
    return None


def registrable_email(value: str) -> str:
    """:func:`normalize_email`, refusing addresses whose parts mix scripts (``ValueError``).

    For example ``admin@example.com`` written with a Cyrillic ``a`` (U+0430) is refused.
    Addresses wholly in one script other than Latin, all Cyrillic say, are accepted.
    """
    email = normalize_email(value)
    mixed = mixed_scripts(email)
    if mixed is not None:
        part, scripts = mixed
        names = " and ".join(s.title() for s in scripts)
        raise ValueError(
            f"Invalid email address: {part!r} mixes {names} characters. Write each part of "
            "the address in one alphabet."
        )
    return email


def _no_control_chars(value: str, *, allow_newlines: bool = False) -> str:
    allowed = {"\n", "\r", "\t"} if allow_newlines else set()
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in value):
        raise ValueError("must not contain control characters")
    return value


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _strip_or_none(value: object) -> object:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


Stripped = Annotated[str, BeforeValidator(_strip)]
OptionalStripped = Annotated[str | None, BeforeValidator(_strip_or_none)]


class Registration(BaseModel):
    email: str = Field(max_length=320, examples=["ada@example.com"])
    username: str = Field(pattern=USERNAME_PATTERN, examples=["ada_l"])
    password: str = Field(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return registrable_email(value)

    @field_validator("password")
    @classmethod
    def _password_strength(cls, value: str) -> str:
        if not any(c.isalpha() for c in value) or not any(c.isdigit() for c in value):
            raise ValueError("Password must contain at least one letter and one digit")
        return value

    @model_validator(mode="after")
    def _password_not_personal(self) -> Self:
        lowered = self.password.lower()
        if self.username.lower() in lowered:
            raise ValueError("Password must not contain the username")
        local_part = self.email.split("@", 1)[0]
        if len(local_part) >= 3 and local_part in lowered:
            raise ValueError("Password must not contain the email address")
        return self


class LoginRequest(BaseModel):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class ProfileUpdate(BaseModel):
    """The profile the original registration form asks for; blank optional fields mean unset."""

    real_name: Stripped = Field(min_length=1, max_length=64)
    organization: Stripped = Field(min_length=1, max_length=128)
    title: OptionalStripped = Field(default=None, max_length=64)
    phone: OptionalStripped = Field(default=None, max_length=32, examples=["+86 10 1234 5678"])
    purpose: OptionalStripped = Field(default=None, max_length=500)

    @field_validator("real_name", "organization", "title", "phone")
    @classmethod
    def _single_line(cls, value: str | None) -> str | None:
        return None if value is None else _no_control_chars(value)

    @field_validator("purpose")
    @classmethod
    def _multi_line(cls, value: str | None) -> str | None:
        return None if value is None else _no_control_chars(value, allow_newlines=True)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _PHONE.match(value) or sum(c.isdigit() for c in value) < 5:
            raise ValueError("Phone number may contain digits, spaces, + ( ) - . only")
        return value


class Profile(BaseModel):
    real_name: str
    organization: str
    title: str | None = None
    phone: str | None = None
    purpose: str | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    username: str
    role: Role
    status: UserStatus
    profile: Profile | None = Field(description="null until the user fills in the profile")
    review_reason: str | None = Field(
        default=None, description="Why an administrator rejected the account, if they did"
    )
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        profile = None
        if user.has_profile:
            profile = Profile(
                real_name=user.real_name or "",
                organization=user.organization or "",
                title=user.title,
                phone=user.phone,
                purpose=user.purpose,
            )
        return cls(
            id=user.id,
            email=user.email,
            username=user.username,
            role=user.role_enum,
            status=user.status_enum,
            profile=profile,
            review_reason=user.review_reason,
            # SQLite hands back naive datetimes; they were written in UTC.
            created_at=user.created_at
            if user.created_at.tzinfo
            else user.created_at.replace(tzinfo=UTC),
        )


class LoginResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: int = Field(description="Unix time at which the token stops working")
    user: UserOut


class Review(BaseModel):
    decision: ReviewDecision
    reason: OptionalStripped = Field(default=None, max_length=500)

    @field_validator("reason")
    @classmethod
    def _reason_text(cls, value: str | None) -> str | None:
        return None if value is None else _no_control_chars(value, allow_newlines=True)

    @model_validator(mode="after")
    def _reason_for_reject(self) -> Self:
        if self.decision == ReviewDecision.REJECT and not self.reason:
            raise ValueError("A reason (1-500 characters) is required to reject a user")
        return self
