"""The base class of the errors a user can fix: a bad setting, a missing file, a run directory
that cannot be used as asked. The command-line tools print them as one line and exit with
status 2; a notebook sees an ordinary exception whose message names the argument."""


class UserError(ValueError):
    """A problem with what the user asked for, with what to do about it."""


class RunError(UserError):
    """A run directory (or one of its checkpoints) that cannot be used as asked, with what to
    do about it."""
