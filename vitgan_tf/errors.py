"""The base class of the errors a user can fix: a bad setting, a missing file, a run directory
that cannot be used as asked. The command-line tools print them as one line and exit with
status 2; a notebook sees an ordinary exception whose message names the argument."""

import os


class UserError(ValueError):
    """A problem with what the user asked for, with what to do about it.

    UserError(text, argument=NAME, value=VALUE) is about one argument: its message is
    `NAME=VALUE<text>` (`text` starts with ":" or a space, as the sentence needs), and the
    command-line tools write the argument as their flag, `--NAME=VALUE<text>` (`render`).
    """

    def __init__(self, message="", *, argument=None, value=None):
        super().__init__(message)
        self.text, self.argument, self.value = message, argument, value

    def render(self, as_flag=False):
        """The message, the argument written as `--argument` when `as_flag`."""
        if self.argument is None:
            return self.text
        return f"{'--' if as_flag else ''}{self.argument}={self.value!r}{self.text}"

    def __str__(self):
        return self.render()


def short_error(error):
    """The first line of an exception's message, at most 300 characters, for a one-line
    report (TensorFlow's errors carry pages of context)."""
    text = getattr(error, "message", None) or str(error) or type(error).__name__
    return text.strip().splitlines()[0][:300]


class Stopped(Exception):
    """Work given up between two batches because its `stop` callable said so (training's
    evaluation gives way to a preemption signal)."""


class RunError(UserError):
    """A run directory (or one of its checkpoints) that cannot be used as asked, with what to
    do about it."""


# TensorFlow's checkpoint reader and CheckpointManager's clean-up treat a checkpoint's path as a
# glob pattern: a path holding one of these is not read back, and its clean-up could match
# (and delete) another folder's files.
GLOB_CHARACTERS = "[]*?"


def glob_unsafe(path):
    """The glob characters in the absolute form of `path` ("" when none)."""
    return "".join(sorted(set(os.path.abspath(path)) & set(GLOB_CHARACTERS)))


def check_run_path(path, argument="workdir", error=UserError):
    """Raise `error` naming `argument` when `path` holds a glob character."""
    found = glob_unsafe(path)
    if found:
        raise error(f": a path without {' '.join(found)} was expected (TensorFlow reads "
                    "checkpoint paths as glob patterns, so a run there cannot be read back); "
                    "rename the folder.", argument=argument, value=path)
