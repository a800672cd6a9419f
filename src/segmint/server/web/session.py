"""Signed session cookies of the web app (standard library HMAC-SHA256; no server-side table).

The cookie holds a small JSON object — user name, CSRF token, language, issue and last-seen
times and a fingerprint of the user's password hash — and an HMAC of it with the workspace's
secret key (``<workspace>/.web_secret``, created once with mode 600). A changed password, a
disabled user, a new secret or an idle session (no request for ``idle_minutes``) ends it.

Example:
    >>> signer = SessionSigner(b"k" * 32)
    >>> s = Session.new(lang="zh-Hant")
    >>> signer.loads(signer.dumps(s)).lang
    'zh-Hant'
    >>> signer.loads(signer.dumps(s)[:-2] + "xx") is None
    True
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "COOKIE_NAME",
    "SECRET_FILE",
    "Session",
    "SessionSigner",
    "WebSettings",
    "load_secret",
    "password_fingerprint",
]

COOKIE_NAME = "segmint_session"
SECRET_FILE = ".web_secret"


class WebSettings(BaseModel):
    """Settings of the web app (``mount_web(app, settings=WebSettings(...))``)."""

    model_config = ConfigDict(extra="forbid")

    idle_minutes: int = Field(120, ge=1, description="a session ends after this long unused")
    max_hours: int = Field(24 * 7, ge=1, description="a session ends this long after login")
    secure_cookie: bool | None = Field(
        None,
        description="mark the cookie Secure (https only); None: when the request came over "
        "https (uvicorn --proxy-headers trusts X-Forwarded-Proto of the proxy)",
    )
    max_login_failures: int = Field(
        10, ge=1, description="failed logins per client address within 15 minutes before 429"
    )


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def password_fingerprint(password_hash: str) -> str:
    """A short digest of a password hash: sessions made before a password change stop working.

    >>> len(password_fingerprint("scrypt$…"))
    16
    """
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:16]


@dataclass
class Session:
    """What the cookie carries. ``username`` is None before login (the login page still needs
    a CSRF token and a language)."""

    csrf: str
    lang: str = "en"
    username: str | None = None
    fingerprint: str | None = None
    issued: int = field(default_factory=lambda: int(time.time()))
    seen: int = field(default_factory=lambda: int(time.time()))
    #: set when the cookie must be written again (changed or refreshed)
    dirty: bool = field(default=False, compare=False)

    @classmethod
    def new(cls, *, lang: str = "en") -> Session:
        return cls(csrf=secrets.token_urlsafe(32), lang=lang, dirty=True)

    def login(self, username: str, fingerprint: str, lang: str) -> None:
        """Become the session of ``username`` with a fresh CSRF token (no session fixation)."""
        now = int(time.time())
        self.csrf = secrets.token_urlsafe(32)
        self.username, self.fingerprint, self.lang = username, fingerprint, lang
        self.issued = self.seen = now
        self.dirty = True

    def logout(self) -> None:
        self.login(None, None, self.lang)  # type: ignore[arg-type]

    def payload(self) -> dict:
        data = asdict(self)
        data.pop("dirty")
        return data


class SessionSigner:
    """Signs and checks cookie values with one secret key."""

    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"segmint-web-session\0" + secret).digest()

    def _sign(self, body: str) -> str:
        return _b64e(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())

    def dumps(self, session: Session) -> str:
        body = _b64e(json.dumps(session.payload(), separators=(",", ":")).encode("utf-8"))
        return f"{body}.{self._sign(body)}"

    def loads(self, value: str | None) -> Session | None:
        """The session in a cookie value, or None if it is missing, altered or malformed."""
        if not value or value.count(".") != 1:
            return None
        body, sig = value.split(".")
        if not hmac.compare_digest(sig, self._sign(body)):
            return None
        try:
            data = json.loads(_b64d(body))
            return Session(**{k: data[k] for k in Session.__dataclass_fields__ if k != "dirty"})
        except (ValueError, KeyError, TypeError):
            return None


def load_secret(folder: Path | None) -> bytes:
    """The workspace's secret key for session cookies, created on first use (mode 600).

    Without a folder (an in-memory workspace) a new key is made for this process.
    """
    if folder is None:
        return secrets.token_bytes(32)
    path = Path(folder) / SECRET_FILE
    if path.exists():
        data = path.read_bytes().strip()
        if len(data) >= 32:
            return data
    data = secrets.token_hex(32).encode("ascii")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data + b"\n")
    return data
