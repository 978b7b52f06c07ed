from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bridge.config import load_config, parse_config
from bridge.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_example_config_is_valid_and_documents_defaults(tmp_path: Path) -> None:
    cfg = load_config(ROOT / "config.example.toml")
    assert cfg.magento.page_size == 100
    assert cfg.magento.auth.method == "token"
    assert cfg.magento.auth.env == {"token_env": "MAGENTO_TOKEN"}
    assert cfg.push.movable_groups == ("General",)
    assert cfg.store.url == f"sqlite:///{ROOT / 'segbridge.db'}"
    assert cfg.mappings.dir == ROOT / "mappings"


def test_example_config_names_every_key() -> None:
    """Every key of every section is written in config.example.toml (docs/config.md)."""
    from dataclasses import fields

    from bridge.config import _SECTIONS

    data = tomllib.loads((ROOT / "config.example.toml").read_text())
    for section, cls in _SECTIONS.items():
        for f in fields(cls):
            if f.name == "auth":
                continue
            assert f.name in data[section], f"{section}.{f.name} missing from the example"


def test_every_problem_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "segbridge.toml"
    path.write_text(
        """
[magento]
base_url = "shop.example.com"
page_size = 500
concurrency = "four"
colour = "red"

[magento.auth]
method = "token"
token = "abc123"

[push]
movable_groups = []

[schedule]
run = "61 * * * *"

[nonsense]
x = 1
"""
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    lines = err.value.problems
    text = "\n".join(lines)
    assert all(line.startswith((f"{path.resolve()}: ", f"{path}: ")) for line in lines)
    assert "magento.base_url" in text
    assert "magento.page_size: must be between 1 and 300" in text
    assert "magento.concurrency: must be a whole number" in text
    assert "magento.colour: unknown key" in text
    assert "magento.auth.token: secrets never sit in the config file" in text
    assert "abc123" not in text  # never echo a secret
    assert "push.movable_groups" in text
    assert "schedule.run" in text
    assert "nonsense: unknown section" in text
    assert len(lines) == 8


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = parse_config(
        {"magento": {"auth": {"method": "oauth1", "consumer_key_env": "MY_CK"}}}, None
    )
    assert cfg.magento.auth.env["consumer_key_env"] == "MY_CK"
    assert cfg.magento.auth.env["access_token_secret_env"] == "MAGENTO_ACCESS_TOKEN_SECRET"
    monkeypatch.setenv("MY_CK", "ck-value")
    assert cfg.magento.auth.secret("consumer_key_env") == "ck-value"


def test_auth_keys_of_another_method_are_rejected() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"magento": {"auth": {"method": "token", "username_env": "U"}}}, None)
    assert "magento.auth.username_env: not used with method = 'token'" in str(err.value)


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "segbridge.toml"
    path.write_text("[magento\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and "not valid TOML" in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")


def test_cron_sunday_is_zero_or_seven() -> None:
    from datetime import UTC, datetime

    from bridge.cron import cron_trigger

    start = datetime(2026, 11, 18, tzinfo=UTC)  # a Wednesday
    for expr in ("30 3 * * 0", "30 3 * * 7", "30 3 * * sun"):
        nxt = cron_trigger(expr).get_next_fire_time(None, start)
        assert nxt == datetime(2026, 11, 22, 3, 30, tzinfo=UTC), expr


@pytest.mark.parametrize("url", [
    "http://shopuser:s3cret-pw@shop.example.com",
    "https://shopuser@shop.example.com/",
    "https://:s3cret-pw@shop.example.com:8443/magento",
    "ftp://shopuser:s3cret-pw@shop.example.com",
])
def test_a_base_url_with_a_user_or_password_is_refused_without_echoing_it(
    tmp_path: Path, url: str
) -> None:
    path = tmp_path / "segbridge.toml"
    path.write_text(f'[magento]\nbase_url = "{url}"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert info.value.exit_code == 2
    assert "magento.base_url" in text and "user name or password" in text
    assert "s3cret-pw" not in text and "shopuser" not in text


def test_an_at_sign_in_a_path_or_query_is_not_taken_for_credentials() -> None:
    cfg = parse_config({"magento": {"base_url": "https://shop.example.com/@store?x=a@b"}}, None)
    assert cfg.magento.base_url == "https://shop.example.com/@store?x=a@b"


@pytest.mark.parametrize("value", [
    "eyJhbGciOiJIUzI1NiJ9.eyJ1aWQiOjF9.c2lnbmF0dXJl",  # a pasted JWT
    "k8s7d6f5g4h3j2k1-l0",  # a pasted integration token
    "9LIVES", "MY TOKEN", "A" * 65, "TOKEN\n",
])
def test_an_env_key_that_is_not_a_variable_name_is_refused_without_echoing_it(
    value: str,
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"magento": {"auth": {"method": "token", "token_env": value}}}, None)
    text = str(info.value)
    assert "magento.auth.token_env" in text and "environment variable's name" in text
    assert value.strip() not in text


@pytest.mark.parametrize("name", ["MAGENTO_TOKEN", "_x", "a1", "T" * 64])
def test_variable_names_are_taken(name: str) -> None:
    cfg = parse_config({"magento": {"auth": {"method": "token", "token_env": name}}}, None)
    assert cfg.magento.auth.env == {"token_env": name}


def test_a_value_that_may_hold_a_password_is_not_echoed_in_a_type_error() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"magento": {"timeout_s": "http://u:s3cret-pw@h"},
                      "store": {"url": "u:s3cret-pw@h"}}, None)
    assert "s3cret-pw" not in str(info.value)
    assert "magento.timeout_s" in str(info.value) and "store.url" in str(info.value)
