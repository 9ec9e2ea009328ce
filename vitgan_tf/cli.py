"""What the four command-line tools share: a user's mistake is one line and exit status 2.

Flag parsing errors (an unknown flag, a value of the wrong type, a missing required flag, a
--flagfile that cannot be read), positional arguments and every `errors.UserError` the library
raises (a bad setting, a missing file, a run directory that cannot be used), as well as an
OSError (a disk that is full or read-only), are reported the same way: `error: <what and what
to do>` on stderr, no traceback, no usage dump, status 2.
"""

import math
import sys

from absl import app, flags

from vitgan_tf.errors import UserError

USAGE_ERROR = 2


def render(error):
    """An error's message for the command line: a UserError about an argument that is one of
    the tool's flags names it as the flag (`--data_dir='x' ...`; a library caller reads
    `data_dir='x' ...`)."""
    if isinstance(error, UserError) and error.argument is not None:
        return error.render(as_flag=error.argument in flags.FLAGS)
    return str(error)


def exit_with(error, status=USAGE_ERROR):
    """A problem the user must fix (an error or a message): one line, no traceback. (Not
    logged as well: absl's stderr handler would print it a second time.)"""
    print(f"error: {render(error)}", file=sys.stderr)
    sys.exit(status)


def define_run_flags(truncation_help):
    """The flags of the tools that read a trained run (sample, evaluate, export): --workdir
    (required), --checkpoint and --truncation_psi."""
    flags.DEFINE_string("workdir", None, "Training run directory.")
    flags.DEFINE_string("checkpoint", "", "Checkpoint path, or best (the lowest in-training "
                        "FD); default the latest in the workdir.")
    flags.DEFINE_float("truncation_psi", 1.0, truncation_help)
    flags.mark_flag_as_required("workdir")


def check_truncation_psi(value):
    """--truncation_psi must be finite (a NaN or inf psi makes every image NaN)."""
    if not math.isfinite(value):
        raise UserError(": expected a finite number.", argument="truncation_psi", value=value)
    return value


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
    """`absl.app.run(main)` with flag and argument errors, user errors and OSErrors reported as
    `exit_with` does."""
    def guarded(argv):
        try:
            return main(argv)
        except (UserError, OSError) as error:
            exit_with(error)

    app.run(guarded, flags_parser=_parse_flags)
