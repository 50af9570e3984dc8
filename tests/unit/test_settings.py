from __future__ import annotations

from pathlib import Path

import pytest

from workers.settings import Settings, SettingsError


def test_defaults_are_valid() -> None:
    settings = Settings.from_env({})
    assert settings.store == "rocksdict"
    assert settings.topic("crm.contacts") == "crm.contacts"


def test_environment_overrides_and_prefix() -> None:
    env = {
        "DEALSTREAM_BROKERS": "kafka://a:9092, b:9093",
        "DEALSTREAM_PARTITIONS": "12",
        "DEALSTREAM_TOPIC_PREFIX": "acme.",
        "DEALSTREAM_STORE": "memory",
    }
    settings = Settings.from_env(env)
    assert settings.broker_list == ["a:9092", "b:9093"]
    assert settings.partitions == 12
    assert settings.topic("crm.reps") == "acme.crm.reps"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEALSTREAM_PARTITIONS", "many"),
        ("DEALSTREAM_PARTITIONS", "0"),
        ("DEALSTREAM_STORE", "rocksdb-classic"),
        ("DEALSTREAM_WEB_PORT", "70000"),
        ("DEALSTREAM_BROKERS", "no-port"),
        ("DEALSTREAM_REDIS_URL", "http://x"),
        ("DEALSTREAM_RULES_FILE", "/nonexistent/rules.yaml"),
        ("DEALSTREAM_CLOCK", "fast"),
        ("DEALSTREAM_SECURITY_PROTOCOL", "TLS"),
    ],
)
def test_bad_setting_names_variable_and_value(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({variable: value})
    assert variable in str(info.value)
    assert repr(value) in str(info.value)


def test_settings_are_frozen_and_the_password_is_not_in_repr(tmp_path: Path) -> None:
    settings = Settings.from_env({"DEALSTREAM_SASL_PASSWORD": "s3cret"})
    assert "s3cret" not in repr(settings)
    with pytest.raises(AttributeError):
        settings.partitions = 3  # type: ignore[misc]


def test_describe_lists_every_variable() -> None:
    names = [name for name, _, _ in Settings.describe()]
    assert "DEALSTREAM_BROKERS" in names
    assert all(name.startswith("DEALSTREAM_") for name in names)
