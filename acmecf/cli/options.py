"""Options the commands share, declared once: the stored certificate settings (generated from
the settings table), the options of a run, and the click types that check values as they are
parsed (certificate names, durations, PEM files).

Does not: run anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_PARALLEL = 32  # acmecf.lifecycle.services.DEFAULT_PARALLEL, without importing it
MAX_PARALLEL = 512  # acmecf.settings.run.MAX_PARALLEL


class CertNameType(click.ParamType[str, Any]):
    """A certificate name (a directory and file name under the configuration directory)."""

    name = "cert-name"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from acmecf.errors import UsageError
        from acmecf.names import check_cert_name

        try:
            return check_cert_name(str(value))
        except UsageError as err:
            self.fail(str(err).removeprefix("invalid --cert-name "), param, ctx)


class DurationType(click.ParamType[float, Any]):
    """A duration: 90, 90s, 5m, 1h, 2d; seconds as a float."""

    name = "duration"

    def __init__(self, *, allow_zero: bool = False) -> None:
        self.allow_zero = allow_zero

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        from acmecf.settings.values import parse_duration

        if isinstance(value, float):
            return value
        try:
            return parse_duration(str(value), allow_zero=self.allow_zero)
        except ValueError as err:
            self.fail(str(err), param, ctx)


class PemFileType(click.ParamType[str, Any]):
    """A readable file holding PEM certificates (a CA bundle); its absolute path."""

    name = "pem"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        path = Path(str(value)).expanduser()
        try:
            data = path.read_bytes()
        except OSError as err:
            self.fail(f"cannot read {path}: {err.strerror or err}", param, ctx)
        if b"-----BEGIN CERTIFICATE-----" not in data:
            self.fail(f"{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", param, ctx)
        from cryptography import x509

        try:
            x509.load_pem_x509_certificates(data)
        except ValueError:
            self.fail(f"{path} holds a PEM certificate that cannot be read", param, ctx)
        return str(path.resolve())


class CommandType(click.ParamType[str, Any]):
    """A shell command; from an environment variable, one command per line."""

    name = "cmd"
    envvar_list_splitter = "\n"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if not text.strip() or any(c in text for c in "\r\n\0"):
            self.fail(f"{text!r} is not a one-line command", param, ctx)
        return text


CERT_NAME = CertNameType()
DURATION = DurationType()
DURATION_OR_ZERO = DurationType(allow_zero=True)
PEM_FILE = PemFileType()
COMMAND = CommandType()


def cert_names_option(help_text: str) -> Callable[[F], F]:
    """`--cert-name NAME`, repeatable, into `cert_names`: the stored certificates a command
    works on (empty: all of them, as `help_text` says)."""
    return click.option(
        "--cert-name", "cert_names", multiple=True, type=CERT_NAME, metavar="NAME", help=help_text
    )


def _stored_option(setting: Any) -> Callable[[F], F]:
    from acmecf.settings.table import Choice, Command, Count, Days, Flag, Port, Seconds, Strings

    kind = setting.kind
    item = kind.item if isinstance(kind, Strings) else kind
    declarations = [setting.flag, setting.name]
    options: dict[str, Any] = {
        "help": setting.help + _env_help(setting),
        "envvar": setting.environment_variable,
        "show_envvar": False,
    }
    if isinstance(kind, Flag):
        options["default"] = setting.default
    elif isinstance(kind, Strings):
        options["multiple"] = True
        options["metavar"] = kind.metavar
        if isinstance(item, Command):
            options["type"] = COMMAND
    elif isinstance(kind, Choice):
        options["type"] = click.Choice(kind.choices)
        options["default"] = setting.default
        options["show_default"] = True
    elif isinstance(kind, Count):
        options["type"] = click.IntRange(kind.minimum, kind.maximum)
        options["metavar"] = kind.metavar
        options["default"] = setting.default
        options["show_default"] = True
    elif isinstance(kind, Days):
        options["type"] = click.Choice(kind.choices)
        options["default"] = str(setting.default)
        options["show_default"] = True
    elif isinstance(kind, Port):
        options["type"] = click.IntRange(1, 65535)
        options["metavar"] = "PORT"
    elif isinstance(kind, Seconds):
        options["type"] = DURATION_OR_ZERO if kind.allow_zero else DURATION
        options["metavar"] = "DURATION"
        options["default"] = setting.default
        options["show_default"] = _duration_text(setting.default)
    else:
        options["metavar"] = kind.metavar
    if setting.name == "ca_bundle":
        options["type"] = PEM_FILE
    elif setting.name in ("credentials_file", "pkcs12_password_file"):
        options["type"] = click.Path(dir_okay=False, resolve_path=True)
    return click.option(*declarations, **options)


def _env_help(setting: Any) -> str:
    variable = setting.environment_variable
    return f" Env: {variable}." if variable else ""


def _duration_text(seconds: float) -> str:
    if seconds == 0:
        return "0s"
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def stored_setting_options(function: F) -> F:
    """Every stored setting that has an `acmecf issue` flag, from the settings table."""
    from acmecf.settings.table import SETTINGS

    for setting in reversed(SETTINGS):
        if setting.flag is not None:
            function = _stored_option(setting)(function)
    return function


def setting_options(*names: str) -> Callable[[F], F]:
    """Some stored settings' `acmecf issue` options, for another command that needs them (the
    same flags, environment variables and checks)."""
    from acmecf.settings.table import BY_NAME

    def decorate(function: F) -> F:
        for name in reversed(names):
            function = _stored_option(BY_NAME[name])(function)
        return function

    return decorate


def given_settings(
    ctx: click.Context, kwargs: Mapping[str, Any], *, environment: bool = True
) -> dict[str, Any]:
    """The stored settings given on the command line or (with `environment`) through their
    environment variable, checked against the settings table; UsageError naming the flag
    otherwise."""
    from click.core import ParameterSource

    from acmecf.errors import UsageError
    from acmecf.settings.table import SETTINGS, Strings

    sources = {ParameterSource.COMMANDLINE}
    if environment:
        sources.add(ParameterSource.ENVIRONMENT)
    given: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.flag is None:
            continue
        source = ctx.get_parameter_source(setting.name)
        if source not in sources:
            continue
        value = kwargs[setting.name]
        flag = setting.flag.split("/")[0]
        try:
            if isinstance(setting.kind, Strings):
                value = tuple(setting.kind.item.parse(str(v)) for v in value)
            elif value is not None and not isinstance(value, bool | int | float):
                value = setting.kind.parse_text(str(value))
        except ValueError as err:
            raise UsageError(f"invalid {flag}: {err}") from err
        given[setting.name] = value
    return given


def run_options(*, dry_run: str, parallel: str) -> Callable[[F], F]:
    """The options `issue` and `renew` share about how a run goes."""

    def decorate(function: F) -> F:
        options = [
            click.option("--dry-run", is_flag=True, help=dry_run),
            click.option(
                "--run-deploy-hooks", is_flag=True, help="With --dry-run: run deploy hooks anyway."
            ),
            click.option(
                "--hook-timeout",
                type=DURATION,
                default="5m",
                show_default="5m, or [run] hook_timeout of acmecf.toml",
                envvar="ACMECF_HOOK_TIMEOUT",
                metavar="DURATION",
                help="Stop a hook that runs longer. Env: ACMECF_HOOK_TIMEOUT.",
            ),
            click.option(
                "--parallel",
                type=click.IntRange(1, MAX_PARALLEL),
                default=DEFAULT_PARALLEL,
                show_default=f"{DEFAULT_PARALLEL}, or [run] parallel of acmecf.toml",
                envvar="ACMECF_PARALLEL",
                metavar="N",
                help=parallel + " Env: ACMECF_PARALLEL.",
            ),
        ]
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def run_options_from(kwargs: Mapping[str, Any], **extra: Any) -> Any:
    """The RunOptions those shared options describe: a flag or its variable, else [run] of
    the global file (settings.run), else the built-in default."""
    from acmecf.lifecycle.services import RunOptions

    hook_timeout = float(kwargs["hook_timeout"])
    parallel = int(kwargs["parallel"])
    ctx = click.get_current_context(silent=True)
    if ctx is not None and not (_given(ctx, "hook_timeout") and _given(ctx, "parallel")):
        defaults = _run_defaults(kwargs)
        if not _given(ctx, "hook_timeout"):
            hook_timeout = defaults.hook_timeout
        if not _given(ctx, "parallel"):
            parallel = defaults.parallel
    return RunOptions(
        dry_run=bool(kwargs["dry_run"]),
        run_deploy_hooks=bool(kwargs["run_deploy_hooks"]),
        hook_timeout=hook_timeout,
        parallel=parallel,
        **extra,
    )


def _given(ctx: click.Context, name: str) -> bool:
    from click.core import ParameterSource

    source = ctx.get_parameter_source(name)
    return source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def _run_defaults(kwargs: Mapping[str, Any]) -> Any:
    from acmecf.cli.base import common_from
    from acmecf.settings import config_file
    from acmecf.settings.run import run_defaults

    return run_defaults(config_file.load(common_from(kwargs).store()))


def server_options(function: F) -> F:
    """Which CA: --server, --staging, --ca-bundle (the account commands and revoke)."""
    options = [
        click.option(
            "--server",
            envvar="ACMECF_SERVER",
            metavar="URL",
            help="ACME directory URL. Default: Let's Encrypt production. Env: ACMECF_SERVER.",
        ),
        click.option("--staging", is_flag=True, help="Let's Encrypt's staging server."),
        click.option(
            "--ca-bundle",
            envvar="ACMECF_CA_BUNDLE",
            type=PEM_FILE,
            metavar="PEM",
            help="Trust this CA for the ACME server's HTTPS. Env: ACMECF_CA_BUNDLE.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def choose_server(server: str | None, staging: bool, *, dry_run: bool = False) -> str:
    """The ACME directory URL from --server / --staging (and --dry-run: staging unless a
    server is given). Raises UsageError."""
    from acmecf.errors import UsageError
    from acmecf.settings.table import LETSENCRYPT, LETSENCRYPT_STAGING
    from acmecf.settings.values import check_https_url

    if staging:
        if server and server != LETSENCRYPT_STAGING:
            raise UsageError("--staging and --server name different servers: give one of them")
        return LETSENCRYPT_STAGING
    if dry_run and not server:
        return LETSENCRYPT_STAGING
    chosen = server or LETSENCRYPT
    try:
        return check_https_url(chosen)
    except ValueError:
        raise UsageError(
            f"invalid --server {chosen!r}: an ACME directory URL starts with https://"
        ) from None


def eab_options(function: F) -> F:
    """External Account Binding: the key id, and the HMAC key from a file or the environment
    (never only on the command line, where other users see it in the process list)."""
    options = [
        click.option("--eab-kid", metavar="KID", help="External Account Binding key id."),
        click.option(
            "--eab-hmac-key-file",
            metavar="FILE",
            type=click.Path(dir_okay=False, path_type=Path),
            help="File holding the External Account Binding HMAC key (base64url). "
            "Env: ACMECF_EAB_HMAC_KEY (or ACMECF_EAB_HMAC_KEY_FILE).",
        ),
        click.option(
            "--eab-hmac-key",
            metavar="KEY",
            hidden=True,
            help="The HMAC key itself (visible to other users in the process list: prefer "
            "--eab-hmac-key-file).",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def eab_from(kwargs: Mapping[str, Any], environment: Mapping[str, str]) -> tuple[str, str] | None:
    """(key id, HMAC key) from the EAB options and environment, or None. Raises UsageError."""
    from acmecf.cloudflare.credentials import read_secret_file
    from acmecf.errors import CredentialsError, UsageError
    from acmecf.redaction import remember_secret

    kid = kwargs.get("eab_kid") or environment.get("ACMECF_EAB_KID") or None
    key: str | None = kwargs.get("eab_hmac_key") or None
    path = kwargs.get("eab_hmac_key_file") or environment.get("ACMECF_EAB_HMAC_KEY_FILE")
    if key is None and path:
        try:
            key = read_secret_file(Path(path), "the EAB HMAC key file")
        except CredentialsError as err:
            raise UsageError(str(err)) from err
    if key is None:
        key = environment.get("ACMECF_EAB_HMAC_KEY") or None
    remember_secret(key)
    if not kid and not key:
        return None
    if not (kid and key):
        raise UsageError(
            "External Account Binding needs both --eab-kid and the HMAC key "
            "(--eab-hmac-key-file or ACMECF_EAB_HMAC_KEY)"
        )
    return kid, key


def credentials_option(function: F) -> F:
    return click.option(
        "--cloudflare-credentials",
        "credentials_file",
        metavar="FILE",
        type=click.Path(dir_okay=False, resolve_path=True, path_type=Path),
        help="File with dns_cloudflare_api_token = ... (mode 600). "
        "Default: CLOUDFLARE_API_TOKEN, or CLOUDFLARE_EMAIL + CLOUDFLARE_API_KEY.",
    )(function)
