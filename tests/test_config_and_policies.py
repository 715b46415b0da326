"""Settings validation and policy files: fail fast, say what is wrong and where."""

import shutil

import pytest

from privacy_service.config import DEMO_POLICIES, ConfigError, Settings
from privacy_service.policies import PolicyError, load_policies


def test_production_refuses_to_start_without_secrets(tmp_path):
    with pytest.raises(ConfigError) as exc:
        Settings.load(
            environ={"PRIVACY_ENV": "production", "PRIVACY_INSTANCE_DIR": str(tmp_path)}
        ).validate()
    message = str(exc.value)
    for var in (
        "PRIVACY_SECRET_KEY",
        "PRIVACY_KEYS",
        "PRIVACY_INDEX_KEY",
        "PRIVACY_AUDIT_KEY",
        "PRIVACY_SMTP_HOST",
    ):
        assert var in message


def test_create_app_in_production_without_keys_fails(tmp_path, monkeypatch):
    from privacy_service.app import create_app

    monkeypatch.setenv("PRIVACY_ENV", "production")
    with pytest.raises(ConfigError, match="PRIVACY_KEYS"):
        create_app({"instance_dir": str(tmp_path)})


def test_secrets_from_files_and_bad_values(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s" * 40 + "\n")
    settings = Settings.load(
        environ={"PRIVACY_SECRET_KEY_FILE": str(secret), "PRIVACY_OTP_MAX_ATTEMPTS": "3"}
    )
    assert settings.secret_key == "s" * 40 and settings.otp_max_attempts == 3
    assert settings.public_summary()["secret_key"] == "set"
    with pytest.raises(ConfigError, match="PRIVACY_OTP_TTL_SECONDS must be an integer"):
        Settings.load(environ={"PRIVACY_OTP_TTL_SECONDS": "ten"})
    with pytest.raises(ConfigError, match="cannot be read"):
        Settings.load(environ={"PRIVACY_KEYS_FILE": str(tmp_path / "missing")})
    with pytest.raises(ConfigError, match="PRIVACY_ENV"):
        Settings.load(environ={"PRIVACY_ENV": "staging"}).validate()
    assert Settings.load(environ={}).notice_keep_days == 30
    assert Settings.load(environ={"PRIVACY_NOTICE_KEEP_DAYS": "7"}).notice_keep_days == 7
    for bad in ("0", "-1"):
        with pytest.raises(ConfigError, match="PRIVACY_NOTICE_KEEP_DAYS must be positive"):
            Settings.load(environ={"PRIVACY_NOTICE_KEEP_DAYS": bad}).validate()


def test_shipped_policies_load():
    policies = load_policies(DEMO_POLICIES)
    assert policies.requests.default_jurisdiction == "cn"
    assert policies.requests.jurisdiction().deadline == {"working_days": 15}
    assert set(policies.requests.jurisdictions) == {"cn", "gdpr", "ccpa"}
    assert "identity_documents" in policies.categories
    assert policies.categories["browsing"].name == {"zh-CN": "浏览记录", "en": "Browsing history"}


@pytest.fixture
def policy_copy(tmp_path):
    target = tmp_path / "policies"
    shutil.copytree(DEMO_POLICIES, target)
    return target


def test_invalid_policy_names_file_line_and_field(policy_copy):
    path = policy_copy / "request_policies.yaml"
    text = path.read_text().replace("deadline: {days: 45}", "deadline: {weeks: 45}")
    path.write_text(text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "weeks: 45" in ln)
    with pytest.raises(PolicyError) as exc:
        load_policies(policy_copy)
    assert f"request_policies.yaml:{line}: jurisdictions.ccpa.deadline" in str(exc.value)


def test_broken_yaml_and_bad_calendar_file(policy_copy):
    (policy_copy / "calendar" / "2027.yaml").write_text(
        "year: 2027\nsource: test\nholidays: [2027-01-01]\nworkdays: [2027-01-05]\n"
    )
    with pytest.raises(PolicyError, match=r"2027.yaml:4: workdays.0: .*weekday"):
        load_policies(policy_copy)
    (policy_copy / "calendar" / "2027.yaml").write_text("year: [unclosed\n")
    with pytest.raises(PolicyError, match=r"2027\.yaml:2: not valid YAML"):
        load_policies(policy_copy)


def test_calendar_file_is_used(policy_copy):
    (policy_copy / "calendar" / "2027.yaml").write_text(
        "year: 2027\nsource: test notice\nholidays: [2027-01-01]\nworkdays: []\n"
    )
    policies = load_policies(policy_copy)
    assert policies.calendar.is_known(2027)
