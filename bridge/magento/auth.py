"""The three ways segbridge proves who it is to Magento (docs/magento.md D1-D4, S6-S7).

- ``token``: an integration access token sent as Bearer (works on 2.4.4+ only when the
  store allows integration tokens as bearer tokens).
- ``oauth1``: OAuth 1.0a, HMAC-SHA256, header signature; the query string is signed, a JSON
  body is not. requests-oauthlib signs at prepare time, so every attempt (every retry)
  carries a fresh nonce and timestamp.
- ``admin``: ``POST /V1/integration/admin/token``; renewed 5 minutes before the JWT's
  ``exp`` (opaque pre-2.4.4 tokens: the legacy 4-hour lifetime), and once on a 401.

Secrets stay in these objects; ``repr`` never shows them and no header is ever logged.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, SIGNATURE_TYPE_AUTH_HEADER
from requests_oauthlib import OAuth1

from bridge.config import AuthConfig
from bridge.errors import ConfigError

ADMIN_TOKEN_PATH = "/V1/integration/admin/token"
REFRESH_MARGIN_S = 300.0  # renew this long before a JWT expires (docs/magento.md D3)
OPAQUE_TOKEN_TTL_S = 4 * 3600.0  # pre-2.4.4 opaque admin tokens: oauth/access_token_lifetime/admin


class _Bearer(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._token}"
        return r

    def __repr__(self) -> str:
        return "_Bearer(***)"


class Auth:
    """How requests are authorised; ``generation`` changes whenever credentials change."""

    method = "none"
    generation = 0

    def requests_auth(self) -> requests.auth.AuthBase | None:
        return None

    def refresh(self, failed_generation: int) -> None:
        """Called once after a 401; token modes fetch a new token, others do nothing."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(method={self.method!r})"


class NoAuth(Auth):
    pass


class TokenAuth(Auth):
    """Integration access token as Bearer."""

    method = "token"

    def __init__(self, token: str) -> None:
        self._auth = _Bearer(token)

    def requests_auth(self) -> requests.auth.AuthBase:
        return self._auth


class OAuth1Auth(Auth):
    """OAuth 1.0a with HMAC-SHA256 in the Authorization header (Magento 2.4.4+ accepts no other)."""

    method = "oauth1"

    def __init__(
        self, consumer_key: str, consumer_secret: str, access_token: str, access_token_secret: str
    ) -> None:
        self._auth = OAuth1(
            consumer_key,
            client_secret=consumer_secret,
            resource_owner_key=access_token,
            resource_owner_secret=access_token_secret,
            signature_method=SIGNATURE_HMAC_SHA256,
            signature_type=SIGNATURE_TYPE_AUTH_HEADER,
        )

    def requests_auth(self) -> requests.auth.AuthBase:
        # OAuth1.__call__ makes a new nonce and timestamp for every prepared request.
        return self._auth


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (read, not verified), or None for an opaque token."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, UnicodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) else None


class AdminTokenAuth(Auth):
    """Admin username/password exchanged for a token, renewed before expiry and after a 401.

    ``fetch_token(username, password) -> str`` is supplied by the client: it posts to the
    token route through the client's own transport (retries, rate limits, error typing),
    so a 2FA refusal surfaces as ``TwoFactorRequiredError``.
    """

    method = "admin"

    def __init__(
        self,
        username: str,
        password: str,
        fetch_token: Callable[[str, str], str],
        *,
        clock: Callable[[], float] = time.time,
        opaque_ttl_s: float = OPAQUE_TOKEN_TTL_S,
        margin_s: float = REFRESH_MARGIN_S,
    ) -> None:
        self._username = username
        self._password = password
        self._fetch = fetch_token
        self._clock = clock
        self._opaque_ttl_s = opaque_ttl_s
        self._margin_s = margin_s
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self.generation = 0
        self.fetches = 0

    @property
    def renew_at(self) -> float:
        return self._renew_at

    def _obtain(self) -> None:
        token = self._fetch(self._username, self._password)
        now = self._clock()
        exp = jwt_expiry(token)
        if exp is not None:
            # Half the lifetime when it is shorter than the margin, so we never spin.
            margin = min(self._margin_s, max(0.0, (exp - now) / 2))
            self._renew_at = exp - margin
        else:
            self._renew_at = now + self._opaque_ttl_s - self._margin_s
        self._token = token
        self.generation += 1
        self.fetches += 1

    def requests_auth(self) -> requests.auth.AuthBase:
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._obtain()
            assert self._token is not None
            return _Bearer(self._token)

    def refresh(self, failed_generation: int) -> None:
        with self._lock:
            # Several threads may see the same 401: only the first one fetches.
            if self.generation == failed_generation:
                self._obtain()


def auth_from_config(
    cfg: AuthConfig, fetch_admin_token: Callable[[str, str], str] | None = None
) -> Auth:
    """Build the configured auth, reading the secrets from the environment now."""
    keys = {
        "token": ("token_env",),
        "oauth1": (
            "consumer_key_env",
            "consumer_secret_env",
            "access_token_env",
            "access_token_secret_env",
        ),
        "admin": ("username_env", "password_env"),
    }.get(cfg.method)
    if keys is None:
        raise ConfigError(
            [f"magento.auth.method: {cfg.method!r} is not one of token, oauth1, admin"]
        )
    values: dict[str, Any] = {}
    missing = []
    for key in keys:
        value = cfg.secret(key)
        if not value:
            missing.append(
                f"magento.auth.{key}: environment variable {cfg.env.get(key)!r} is not set"
            )
        values[key] = value
    if missing:
        raise ConfigError(missing)
    if cfg.method == "token":
        return TokenAuth(values["token_env"])
    if cfg.method == "oauth1":
        return OAuth1Auth(
            values["consumer_key_env"],
            values["consumer_secret_env"],
            values["access_token_env"],
            values["access_token_secret_env"],
        )
    if fetch_admin_token is None:
        raise ValueError("admin auth needs a token fetcher")
    return AdminTokenAuth(values["username_env"], values["password_env"], fetch_admin_token)
