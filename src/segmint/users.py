"""Users of the web app: create, list, change password or language, verify (layer 4).

Passwords are stored as scrypt hashes (standard library ``hashlib.scrypt``) with a random
16-byte salt; the cost parameters are stored with each hash, so they can be raised later
without breaking existing users: ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``.

Writes are single statements (no explicit transaction), so they may also run inside a
caller's transaction (e.g. the service's writer thread).

Example:
    >>> from segmint.connect import connect
    >>> from segmint.storage import ensure_schema
    >>> con = connect()
    >>> _ = ensure_schema(con)
    >>> _ = create_user(con, "mei", "correct horse battery")
    >>> authenticate(con, "mei", "correct horse battery").username
    'mei'
    >>> authenticate(con, "mei", "wrong password") is None
    True
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import ibis
import pyarrow as pa

from segmint import storage
from segmint.errors import NotFoundError, ValidationError, close_matches
from segmint.schema import TABLES

__all__ = [
    "LANGUAGES",
    "MIN_PASSWORD_LENGTH",
    "User",
    "authenticate",
    "create_user",
    "get_user",
    "hash_password",
    "list_users",
    "set_disabled",
    "set_language",
    "set_password",
    "verify_password",
]

#: Languages of the web app (the report's too).
LANGUAGES = ("en", "zh-Hant")

MIN_PASSWORD_LENGTH = 8

#: scrypt cost: 16 MiB of memory and ≈ 50 ms per hash on a laptop core.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


@dataclass(frozen=True)
class User:
    """A stored user (the password hash stays in the database; ``password_hash`` is here so
    sessions can notice a changed password)."""

    username: str
    password_hash: str
    language: str
    created_at: dt.datetime | None
    disabled: bool = False

    @property
    def active(self) -> bool:
        return not self.disabled


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """The stored form of ``password``: scrypt with a random salt and its parameters.

    >>> hash_password("s3cret-pass", salt=b"0" * 16)[:28]
    'scrypt$16384$8$1$MDAwMDAwMDA'
    """
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time comparison).

    >>> verify_password("s3cret-pass", hash_password("s3cret-pass"))
    True
    """
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=256 * 1024 * 1024,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


#: Hashed once, so that an unknown user name costs as much time as a wrong password.
_DUMMY_HASH: str | None = None


def _check_username(username: str) -> str:
    if not isinstance(username, str) or not _USERNAME.match(username):
        raise ValidationError(
            "A user name must be 1–64 letters, digits or . _ @ - and start with a letter or "
            f"digit. Got {username!r} instead."
        )
    return username


def _check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            f"A password must be at least {MIN_PASSWORD_LENGTH} characters long. "
            f"Got {len(password or '')} instead.",
            hint="use a passphrase of a few words.",
        )
    return password


def check_language(language: str) -> str:
    """``language`` if the web app speaks it (``en`` or ``zh-Hant``), else a ValidationError."""
    if language not in LANGUAGES:
        raise ValidationError(
            f"The language must be one of {', '.join(LANGUAGES)}. Got '{language}' instead.",
            suggestions=close_matches(language, LANGUAGES),
        )
    return language


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _rows(expr: ibis.Table) -> list[User]:
    data = expr.order_by("username").to_pyarrow().to_pylist()
    return [User(**{**row, "disabled": bool(row["disabled"])}) for row in data]


def list_users(con) -> list[User]:
    """Every user, by name (disabled ones included)."""
    return _rows(con.table("users"))


def get_user(con, username: str) -> User | None:
    """The user called ``username``, or ``None``."""
    t = con.table("users")
    found = _rows(t.filter(t.username == ibis.literal(username, type="string")))
    return found[0] if found else None


def _require(con, username: str) -> User:
    user = get_user(con, username)
    if user is None:
        names = [u.username for u in list_users(con)]
        raise NotFoundError(
            f"There is no user '{username}'.",
            suggestions=close_matches(username, names),
            hint="list the users with `segmint users list`.",
        )
    return user


def create_user(con, username: str, password: str, *, language: str = "en") -> User:
    """Create a user; the name must be new and the password at least 8 characters long."""
    _check_username(username)
    _check_password(password)
    check_language(language)
    if get_user(con, username) is not None:
        raise ValidationError(
            f"The user '{username}' already exists.",
            hint=f"change the password with `segmint users passwd {username}`.",
        )
    user = User(username, hash_password(password), language, _now(), False)
    row = {c: [getattr(user, c)] for c in TABLES["users"].names}
    con.insert("users", pa.table(row, schema=TABLES["users"].to_pyarrow()))
    return user


def _update(con, username: str, **values) -> User:
    _require(con, username)
    t = con.table("users")
    hit = t.username == ibis.literal(username, type="string")
    changes = {
        col: ibis.ifelse(hit, ibis.literal(v, type=TABLES["users"][col]), t[col])
        for col, v in values.items()
    }
    storage.replace_table(con, "users", t.mutate(**changes).to_pyarrow())
    return _require(con, username)


def set_password(con, username: str, password: str) -> User:
    """Change the password of ``username`` (its open web sessions end)."""
    _check_password(password)
    return _update(con, username, password_hash=hash_password(password))


def set_language(con, username: str, language: str) -> User:
    """Remember the web app language of ``username`` (``en`` or ``zh-Hant``)."""
    return _update(con, username, language=check_language(language))


def set_disabled(con, username: str, disabled: bool = True) -> User:
    """Disable (or enable again) ``username``; a disabled user cannot log in."""
    return _update(con, username, disabled=bool(disabled))


def authenticate(con, username: str, password: str) -> User | None:
    """The active user if ``password`` is right, else ``None`` (same cost either way)."""
    global _DUMMY_HASH
    user = get_user(con, username) if _USERNAME.match(username or "") else None
    if user is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password(secrets.token_hex(8))
        verify_password(password, _DUMMY_HASH)
        return None
    if not verify_password(password, user.password_hash) or user.disabled:
        return None
    return user
