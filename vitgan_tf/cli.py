"""What the four command-line tools share: a user's mistake is one line and exit status 2.

Flag parsing errors (an unknown flag, a value of the wrong type, a missing required flag, a
--flagfile that cannot be read) and positional arguments are reported like the tools' own checks:
`error: <what and what to do>` on stderr, no traceback, no usage dump, status 2.
"""

import sys

from absl import app, flags

USAGE_ERROR = 2


def exit_with(error, status=USAGE_ERROR):
    """A problem the user must fix: its message on one line, no traceback. (Not logged as
    well: absl's stderr handler would print it a second time.)"""
    print(f"error: {error}", file=sys.stderr)
    sys.exit(status)


def _parse_flags(argv):
    try:
        remaining = flags.FLAGS(argv)
    except flags.Error as error:
        message = str(error).removeprefix("ERROR:: ")
        exit_with(f"{message} (--helpfull lists the flags)")
    if len(remaining) > 1:
        exit_with(f"unexpected arguments {remaining[1:]}: every setting is a --flag=value")
    return remaining


def run_main(main):
    """`absl.app.run(main)` with flag and argument errors reported as `exit_with` does."""
    app.run(main, flags_parser=_parse_flags)
