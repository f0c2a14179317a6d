"""Global options anywhere: the group's own options work before the command and anywhere after it.

`findling search lighthouse --json --data-dir D` reads as `findling --data-dir D search
lighthouse --json`. Every option declared on the group is global, so one added later needs
nothing more (eager ones, `--help` and `--version`, stay the command's). A `--` ends it: what
follows goes to the command as it is (`findling search -- --model` searches for "--model").
Tokens that are not global options are left in place, so `search` keeps `-draft` as query text.
"""

from __future__ import annotations

import click


def global_options(group: click.Group) -> dict[str, bool]:
    """Each spelling of the group's global options, and whether it takes a value."""
    spellings: dict[str, bool] = {}
    for param in group.params:
        if isinstance(param, click.Option) and not param.is_eager:
            takes_value = not (param.is_flag or param.count)
            for spelling in (*param.opts, *param.secondary_opts):
                spellings[spelling] = takes_value
    return spellings


def hoist(group: click.Group, args: list[str]) -> list[str]:
    """`args` with the global options given after the command moved in front of it."""
    spellings = global_options(group)
    head: list[str] = []
    position = 0
    while position < len(args):  # the group's own options, up to the command name
        token = args[position]
        if token == "--" or not token.startswith("-") or token == "-":
            break
        head.append(token)
        position += 1
        if spellings.get(token) and position < len(args):
            head.append(args[position])
            position += 1
    hoisted: list[str] = []
    rest: list[str] = []
    tokens = args[position:]
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token == "--":
            rest += tokens[index:]
            break
        name = token.split("=", 1)[0]
        if name not in spellings:
            rest.append(token)
        elif "=" in token or not spellings[name]:
            hoisted.append(token)
        elif index + 1 < len(tokens):
            hoisted += [token, tokens[index + 1]]
            index += 1
        else:
            raise click.UsageError(f"Option '{token}' requires an argument.")
        index += 1
    return head + hoisted + rest
