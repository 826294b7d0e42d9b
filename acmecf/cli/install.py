"""Commands that fit acmecf into a system: `completion` (shell completion scripts) and
`man-page` (the manual page, generated from the commands' own help, so it never disagrees).

Does not: install anything itself (the scripts and the page go where the user sends them).
"""

from __future__ import annotations

import click

from acmecf.cli.base import EXIT_CODES, cli

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VARIABLE = "_ACMECF_COMPLETE"


@cli.command(epilog=EXIT_CODES)
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script of SHELL (bash, zsh or fish) for acmecf's commands,
    options and values.

    \b
    Examples:
      acmecf completion bash | sudo tee /etc/bash_completion.d/acmecf
      eval "$(acmecf completion bash)"               # in ~/.bashrc
      acmecf completion zsh > "${fpath[1]}/_acmecf"   # then: compinit
      acmecf completion fish > ~/.config/fish/completions/acmecf.fish
    """
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None  # every SHELLS entry is one click knows
    click.echo(completer(cli, {}, "acmecf", COMPLETE_VARIABLE).source())


@cli.command("man-page", epilog=EXIT_CODES)
def man_page() -> None:
    """Print acmecf's manual page (roff), made from the help of every command.

    \b
    Example:
      acmecf man-page | sudo tee /usr/local/share/man/man1/acmecf.1 >/dev/null
      man acmecf
    """
    click.echo(render_man_page(), nl=False)


def render_man_page() -> str:
    """The manual page of `acmecf` and every command under it, in man(7) roff."""
    from acmecf import __version__

    root = click.Context(cli, info_name="acmecf")
    lines = [
        f'.TH ACMECF 1 "" "acmecf {__version__}" "acmecf manual"',
        ".SH NAME",
        r"acmecf \- real TLS certificates for origin servers behind Cloudflare",
        ".SH SYNOPSIS",
        ".B acmecf",
        r"[\fIOPTIONS\fR] \fICOMMAND\fR [\fIARGS\fR]...",
        ".SH DESCRIPTION",
        *_text(cli.help or ""),
        ".SH COMMANDS",
    ]
    for path, command, context in _commands(cli, root, ("acmecf",)):
        lines.append(f'.SS "{_escape(" ".join(path))}"')
        lines += _text(command.help or command.short_help or "")
        for parameter in command.get_params(context):
            record = parameter.get_help_record(context)
            if record is None:
                continue
            flags, help_text = record
            lines += [".TP", rf"\fB{_escape(flags)}\fR", _escape(help_text) or "."]
    lines += [".SH EXIT STATUS", *_text(EXIT_CODES)]
    lines += [
        ".SH FILES",
        ".TP",
        r"\fI/etc/acmecf\fR (root) or \fI~/.config/acmecf\fR",
        r"the configuration directory (\fB\-\-config\-dir\fR): "
        r"\fIrenewal/\fR, \fIlive/\fR, \fIarchive/\fR, \fIaccounts/\fR, \fIacmecf.toml\fR",
        ".TP",
        r"\fI/var/log/acmecf\fR (root) or \fI<config-dir>/logs\fR",
        "one log file per run that did something",
        ".SH SEE ALSO",
        "certbot(1), systemd.timer(5)",
    ]
    return "\n".join(lines) + "\n"


def _commands(
    group: click.Command, context: click.Context, path: tuple[str, ...]
) -> list[tuple[tuple[str, ...], click.Command, click.Context]]:
    found: list[tuple[tuple[str, ...], click.Command, click.Context]] = []
    if not isinstance(group, click.Group):
        return found
    for name in sorted(group.list_commands(context)):
        command = group.get_command(context, name)
        if command is None or command.hidden:
            continue
        child = click.Context(command, info_name=name, parent=context)
        found.append(((*path, name), command, child))
        found += _commands(command, child, (*path, name))
    return found


def _text(help_text: str) -> list[str]:
    """Click help text as roff paragraphs; blocks after a \\b line keep their lines."""
    lines: list[str] = []
    for paragraph in help_text.strip("\n").split("\n\n"):
        raw = paragraph.strip("\n")
        if not raw.strip():
            continue
        if raw.lstrip().startswith("\b"):
            body = [line for line in raw.splitlines() if line.strip() != "\b"]
            lines += [".PP", ".nf", *(_escape(line.strip()) or r"\&" for line in body), ".fi"]
        else:
            lines += [".PP", _escape(" ".join(raw.split()))]
    return lines


def _escape(text: str) -> str:
    text = text.replace("\\", r"\e").replace("-", r"\-")
    if text.startswith((".", "'")):
        text = r"\&" + text
    return text
