"""Typed configuration from TOML plus secrets from the environment.

Every problem in a config file is collected and reported at once as
``FILE: KEY: what is wrong`` so that an admin fixes them in one pass.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from bridge.errors import ConfigError

AUTH_METHODS = ("token", "oauth1", "admin")
AUTH_SECRET_KEYS: dict[str, tuple[str, ...]] = {
    "token": ("token_env",),
    "oauth1": (
        "consumer_key_env",
        "consumer_secret_env",
        "access_token_env",
        "access_token_secret_env",
    ),
    "admin": ("username_env", "password_env"),
}
AUTH_DEFAULT_ENV: dict[str, str] = {
    "token_env": "MAGENTO_TOKEN",
    "consumer_key_env": "MAGENTO_CONSUMER_KEY",
    "consumer_secret_env": "MAGENTO_CONSUMER_SECRET",
    "access_token_env": "MAGENTO_ACCESS_TOKEN",
    "access_token_secret_env": "MAGENTO_ACCESS_TOKEN_SECRET",
    "username_env": "MAGENTO_ADMIN_USERNAME",
    "password_env": "MAGENTO_ADMIN_PASSWORD",
}


# What a ``*_env`` value must look like: an environment variable's name (docs/config.md).
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def is_env_name(value: str) -> bool:
    return ENV_NAME.fullmatch(value) is not None


def url_has_credentials(url: str) -> bool:
    """Does ``url`` carry a user or password (``http://user:secret@host``)? Any ``@``
    before the path counts, parsed or not: such a URL is never echoed."""
    rest = url.split("://", 1)[1] if "://" in url else url
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    return "@" in authority


@dataclass(frozen=True)
class AuthConfig:
    method: str = "token"
    # Names of environment variables (never the secrets themselves).
    env: dict[str, str] = field(default_factory=lambda: {"token_env": "MAGENTO_TOKEN"})

    def secret(self, key: str) -> str | None:
        """The secret behind ``key`` (e.g. ``"token_env"``), read from the environment now."""
        name = self.env.get(key)
        return os.environ.get(name) if name else None


@dataclass(frozen=True)
class MagentoConfig:
    base_url: str = "http://127.0.0.1:8080"
    store_code: str = "all"
    timeout_s: float = 30.0
    verify_tls: bool = True
    page_size: int = 100
    concurrency: int = 4
    write_concurrency: int = 1
    requests_per_second: float = 0.0
    writes_per_second: float = 0.0
    auth: AuthConfig = field(default_factory=AuthConfig)


@dataclass(frozen=True)
class StoreConfig:
    url: str = "sqlite:///segbridge.db"


@dataclass(frozen=True)
class SyncConfig:
    since: str = "730d"
    overlap_s: int = 300
    customer_attributes: tuple[str, ...] = ()
    link_guest_orders: bool = False
    cart_totals: bool = False


@dataclass(frozen=True)
class PushConfig:
    movable_groups: tuple[str, ...] = ("General",)
    max_managed_groups: int = 10
    max_changes: int = 5000
    tax_class_id: int = 3
    adopt_drift: bool = False


@dataclass(frozen=True)
class ScheduleConfig:
    run: str = "*/15 * * * *"
    full_resync: str = "30 3 * * sun"


@dataclass(frozen=True)
class LogConfig:
    format: str = "text"


@dataclass(frozen=True)
class PrivacyConfig:
    keep: str = "used"
    opt_out_attribute: str = ""
    history_days: int = 730
    deletion_sweep_hours: int = 24


@dataclass(frozen=True)
class ModuleConfig:
    use: str = "auto"
    group_assignments: bool = True


@dataclass(frozen=True)
class MappingsConfig:
    dir: Path = Path("mappings")


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    magento: MagentoConfig = field(default_factory=MagentoConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    push: PushConfig = field(default_factory=PushConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    log: LogConfig = field(default_factory=LogConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    module: ModuleConfig = field(default_factory=ModuleConfig)
    mappings: MappingsConfig = field(default_factory=MappingsConfig)

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()


class _Collector:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[str] = []

    def add(self, key: str, message: str) -> None:
        self.problems.append(f"{self.file}: {key}: {message}")


def _shown(value: Any) -> str:
    """``value`` for an error message, unless it may hold a password (an ``@``)."""
    text = repr(value)
    return "a value holding '@' (not shown)" if "@" in text else text


_TYPE_NAMES = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}


def _take(
    raw: dict[str, Any], cls: type, section: str, out: _Collector, skip: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Typed values for the dataclass ``cls`` from ``raw``; unknown keys are reported."""
    values: dict[str, Any] = {}
    known = {f.name: f for f in fields(cls) if f.name not in skip}
    for key, value in raw.items():
        if key in skip:
            continue
        path = f"{section}.{key}"
        if key not in known:
            out.add(path, f"unknown key (known: {', '.join(sorted(known))})")
            continue
        default = getattr(cls(), key)
        expected: type = type(default)
        if isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                out.add(path, "must be a list of strings")
                continue
            values[key] = tuple(value)
        elif isinstance(default, Path):
            if not isinstance(value, str):
                out.add(path, "must be a string (a path)")
                continue
            values[key] = Path(value)
        elif expected is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                out.add(path, f"must be {_TYPE_NAMES[float]}, not {_shown(value)}")
                continue
            values[key] = float(value)
        elif expected is int:
            if isinstance(value, bool) or not isinstance(value, int):
                out.add(path, f"must be {_TYPE_NAMES[int]}, not {_shown(value)}")
                continue
            values[key] = value
        elif not isinstance(value, expected):
            out.add(path, f"must be {_TYPE_NAMES.get(expected, expected.__name__)}, "
                    f"not {_shown(value)}")
            continue
        else:
            values[key] = value
    return values


def _looks_like_secret_key(key: str) -> bool:
    return any(word in key for word in ("token", "secret", "password", "username", "key"))


def _auth(raw: Any, out: _Collector) -> AuthConfig:
    if not isinstance(raw, dict):
        out.add("magento.auth", "must be a table")
        return AuthConfig()
    method = raw.get("method", "token")
    if method not in AUTH_METHODS:
        out.add("magento.auth.method", f"{method!r} is not one of {', '.join(AUTH_METHODS)}")
        return AuthConfig()
    wanted = AUTH_SECRET_KEYS[method]
    env: dict[str, str] = {k: AUTH_DEFAULT_ENV[k] for k in wanted}
    for key, value in raw.items():
        path = f"magento.auth.{key}"
        if key == "method":
            continue
        if key in wanted:
            if not isinstance(value, str) or not value.strip():
                out.add(path, "must name an environment variable")
            elif not is_env_name(value):
                # Never echoed: most likely the secret itself, pasted here by mistake.
                out.add(path, "is not an environment variable's name (letters, digits and "
                        "_, not starting with a digit, at most 64); if you pasted the secret "
                        "itself here, remove it from the file and put it in an environment "
                        "variable, then name that variable here")
            else:
                env[key] = value
        elif key.endswith("_env") and key in AUTH_DEFAULT_ENV:
            out.add(path, f"not used with method = {method!r} (it uses {', '.join(wanted)})")
        elif _looks_like_secret_key(key):
            out.add(
                path,
                "secrets never sit in the config file: name the environment variable "
                f"that holds it with one of {', '.join(wanted)}",
            )
        else:
            out.add(path, f"unknown key (known: method, {', '.join(wanted)})")
    return AuthConfig(method=method, env=env)


def _check_values(cfg: Config, out: _Collector) -> None:
    m = cfg.magento
    if url_has_credentials(m.base_url):
        # Never echoed, not even in part: the user and password would be on the screen.
        out.add("magento.base_url", "must not hold a user name or password (user:password@): "
                "segbridge signs in with [magento.auth] and the environment variables it names")
    elif not m.base_url.startswith(("http://", "https://")):
        out.add("magento.base_url", f"must start with http:// or https://, not {m.base_url!r}")
    if not 1 <= m.page_size <= 300:
        out.add(
            "magento.page_size",
            f"must be between 1 and 300 (Magento's maximum), not {m.page_size}",
        )
    if m.concurrency < 1:
        out.add("magento.concurrency", "must be at least 1")
    if m.write_concurrency < 1:
        out.add("magento.write_concurrency", "must be at least 1")
    if m.timeout_s <= 0:
        out.add("magento.timeout_s", "must be more than 0")
    for key in ("requests_per_second", "writes_per_second"):
        if getattr(m, key) < 0:
            out.add(f"magento.{key}", "must be 0 (no limit) or more")
    if cfg.sync.overlap_s < 0:
        out.add("sync.overlap_s", "must be 0 or more")
    from bridge.timeutil import parse_age  # local: keeps config import light

    try:
        parse_age(cfg.sync.since)
    except ValueError as exc:
        out.add("sync.since", str(exc))
    if not cfg.push.movable_groups:
        out.add("push.movable_groups", "must name at least one customer group")
    if cfg.push.max_managed_groups < 1:
        out.add("push.max_managed_groups", "must be at least 1")
    if cfg.push.max_changes < 0:
        out.add("push.max_changes", "must be 0 or more")
    if cfg.log.format not in ("text", "json"):
        out.add("log.format", f"must be text or json, not {cfg.log.format!r}")
    from bridge.cron import validate_cron

    for key in ("run", "full_resync"):
        problem = validate_cron(getattr(cfg.schedule, key))
        if problem:
            out.add(f"schedule.{key}", problem)
    if cfg.privacy.keep not in ("used", "all"):
        out.add("privacy.keep", f"must be used or all, not {_shown(cfg.privacy.keep)}")
    attr = cfg.privacy.opt_out_attribute
    if attr and not re.fullmatch(r"[a-z][a-z0-9_]{0,59}", attr):
        out.add(
            "privacy.opt_out_attribute",
            f"must be a customer attribute code (a-z, 0-9, _), not {_shown(attr)}",
        )
    if cfg.privacy.history_days < 1:
        out.add("privacy.history_days", "must be at least 1")
    if cfg.privacy.deletion_sweep_hours < 1:
        out.add("privacy.deletion_sweep_hours", "must be at least 1")
    if cfg.module.use not in ("auto", "on", "off"):
        out.add("module.use", f"must be auto, on or off, not {_shown(cfg.module.use)}")
    if not cfg.store.url or "://" not in cfg.store.url:
        out.add(
            "store.url",
            "must be an SQLAlchemy URL such as sqlite:///segbridge.db, "
            f"not {_shown(cfg.store.url)}",
        )


_SECTIONS: dict[str, type] = {
    "magento": MagentoConfig,
    "store": StoreConfig,
    "sync": SyncConfig,
    "push": PushConfig,
    "schedule": ScheduleConfig,
    "log": LogConfig,
    "privacy": PrivacyConfig,
    "module": ModuleConfig,
    "mappings": MappingsConfig,
}


def parse_config(data: dict[str, Any], path: Path | None) -> Config:
    """Build a Config from parsed TOML; raises ConfigError listing every problem."""
    out = _Collector(str(path) if path else "<config>")
    parts: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _SECTIONS:
            out.add(key, f"unknown section (known: {', '.join(_SECTIONS)})")
            continue
        if not isinstance(value, dict):
            out.add(key, "must be a table")
            continue
        cls = _SECTIONS[key]
        skip = ("auth",) if cls is MagentoConfig else ()
        values = _take(value, cls, key, out, skip=skip)
        if cls is MagentoConfig:
            values["auth"] = _auth(value.get("auth", {}), out)
        parts[key] = cls(**values)
    cfg = Config(path=path.resolve() if path else None, **parts)
    cfg = _resolve_paths(cfg)
    _check_values(cfg, out)
    if out.problems:
        raise ConfigError(out.problems)
    return cfg


def _resolve_paths(cfg: Config) -> Config:
    """Make the SQLite file and mappings dir relative to the config file's folder."""
    from dataclasses import replace

    base = cfg.base_dir
    url = cfg.store.url
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////"):
        rest = url[len(prefix):]
        if rest and rest != ":memory:" and not rest.startswith(":"):
            url = prefix + str((base / rest).resolve())
    mdir = cfg.mappings.dir
    if not mdir.is_absolute():
        mdir = (base / mdir).resolve()
    return replace(cfg, store=replace(cfg.store, url=url), mappings=MappingsConfig(dir=mdir))


def load_config(path: str | os.PathLike[str] | None) -> Config:
    """Read the TOML file at ``path`` (default ``./segbridge.toml``)."""
    p = Path(path) if path else Path("segbridge.toml")
    if not p.exists():
        raise ConfigError([f"{p}: file not found (copy config.example.toml to start)"])
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{p}: not valid TOML: {exc}"]) from exc
    return parse_config(data, p)
