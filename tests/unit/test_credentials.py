from __future__ import annotations

from pathlib import Path

import pytest

from acmecf.cloudflare.credentials import load_credentials
from acmecf.errors import CredentialsError
from acmecf.redaction import redact
from acmecf.settings.values import parse_duration, parse_resolvers


def test_a_token_from_the_environment_wins_over_nothing_else() -> None:
    credentials = load_credentials({"CLOUDFLARE_API_TOKEN": "tok-123456"}, None)
    assert credentials.token == "tok-123456"
    assert credentials.email is None and credentials.api_key is None


def test_the_global_key_pair_is_accepted() -> None:
    credentials = load_credentials(
        {"CLOUDFLARE_EMAIL": "a@example.com", "CLOUDFLARE_API_KEY": "k" * 37}, None
    )
    assert (credentials.email, credentials.api_key, credentials.token) == (
        "a@example.com",
        "k" * 37,
        None,
    )


def test_half_a_key_pair_is_refused() -> None:
    with pytest.raises(CredentialsError, match="needs both"):
        load_credentials({"CLOUDFLARE_API_KEY": "k" * 37}, None)


def test_no_credentials_says_which_token_to_create() -> None:
    with pytest.raises(CredentialsError, match=r"Zone > DNS > Edit"):
        load_credentials({}, None)


def test_a_certbot_credentials_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "cloudflare.ini"
    path.write_text("# certbot style\ndns_cloudflare_api_token = tok-from-file\n")
    path.chmod(0o600)
    credentials = load_credentials({"CLOUDFLARE_API_TOKEN": "from-env"}, path)
    assert credentials.token == "tok-from-file"


def test_a_credentials_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cloudflare.ini"
    path.write_text("dns_cloudflare_api_token = secret-token-value\n")
    path.chmod(0o644)
    with pytest.raises(CredentialsError, match="chmod 600") as caught:
        load_credentials({}, path)
    assert "secret-token-value" not in str(caught.value)


def test_known_secrets_are_redacted() -> None:
    load_credentials({"CLOUDFLARE_API_TOKEN": "very-secret-token"}, None)
    assert redact("Bearer very-secret-token failed") == "Bearer *** failed"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", [("127.0.0.1", 53)]),
        ("127.0.53.53:5300", [("127.0.53.53", 5300)]),
        ("[::1]:5300", [("::1", 5300)]),
        ("1.1.1.1, 8.8.8.8", [("1.1.1.1", 53), ("8.8.8.8", 53)]),
    ],
)
def test_resolvers_parse(text: str, expected: list[tuple[str, int]]) -> None:
    assert parse_resolvers([text]) == expected


def test_a_bad_resolver_port_is_refused() -> None:
    with pytest.raises(ValueError, match="port out of range"):
        parse_resolvers(["127.0.0.1:99999"])


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("5m", 300), ("1h", 3600)])
def test_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-5", "0", "inf", "nan", "1e400"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_a_systemd_credential_is_used_before_the_environment(tmp_path: Path) -> None:
    (tmp_path / "cloudflare-api-token").write_text("token-from-systemd\n")
    (tmp_path / "cloudflare-api-token").chmod(0o400)
    credentials = load_credentials(
        {"CREDENTIALS_DIRECTORY": str(tmp_path), "CLOUDFLARE_API_TOKEN": "from-env"}, None
    )
    assert credentials.token == "token-from-systemd"
    assert credentials.describe() == "systemd credential cloudflare-api-token"


def test_without_the_systemd_credential_file_the_environment_is_used(tmp_path: Path) -> None:
    credentials = load_credentials(
        {"CREDENTIALS_DIRECTORY": str(tmp_path), "CLOUDFLARE_API_TOKEN": "from-env"}, None
    )
    assert credentials.token == "from-env"


def test_a_token_with_a_line_break_is_refused_without_being_shown() -> None:
    with pytest.raises(CredentialsError, match="line break") as caught:
        load_credentials({"CLOUDFLARE_API_TOKEN": "first-half\nsecond-half"}, None)
    assert "half" not in str(caught.value)


def test_an_empty_credentials_file_says_what_it_lacks(tmp_path: Path) -> None:
    path = tmp_path / "cloudflare.ini"
    path.write_text("# nothing here\n")
    path.chmod(0o600)
    with pytest.raises(CredentialsError, match="holds no dns_cloudflare_api_token"):
        load_credentials({"CLOUDFLARE_API_TOKEN": "from-env"}, path)


def test_a_binary_credentials_file_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "cloudflare.ini"
    path.write_bytes(b"\xff\xfe\x00binary")
    path.chmod(0o600)
    with pytest.raises(CredentialsError, match="is not text"):
        load_credentials({}, path)


def test_a_token_file_variable_is_read_and_masked(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("token-from-a-file-variable\n")
    path.chmod(0o400)
    credentials = load_credentials({"CLOUDFLARE_API_TOKEN_FILE": str(path)}, None)
    assert credentials.token == "token-from-a-file-variable"
    assert redact("x token-from-a-file-variable y") == "x *** y"


def test_a_token_file_others_may_write_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("token-that-others-could-plant\n")
    path.chmod(0o666)
    with pytest.raises(CredentialsError, match="writable by group or others"):
        load_credentials({"CLOUDFLARE_API_TOKEN_FILE": str(path)}, None)
