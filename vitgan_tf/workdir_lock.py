"""One training run per run directory: an OS lock on the directory itself.

`fcntl.flock` on the directory's file descriptor: nothing is written for it, and the kernel
drops the lock when its process ends, however it ends (SIGKILL included), so a killed run
leaves the directory usable at once. Reading tools (sample, evaluate, export) take no lock on
the run directory; exports take turns on their output directory (`DirectoryLock(wait=True)`).
"""

import fcntl
import os

from absl import logging

from vitgan_tf.errors import RunError


class LockedError(RunError):
    """The directory is held by another process (named in the message)."""


def _holder(path):
    """PID holding a flock on `path`, from /proc/locks (Linux), or None."""
    try:
        st = os.stat(path)
        with open("/proc/locks") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    inode = f":{st.st_ino}"
    for line in lines:
        parts = line.split()
        if "FLOCK" in parts and len(parts) >= 6 and parts[5].endswith(inode):
            return parts[4]
    return None


class DirectoryLock:
    """An exclusive flock on a directory for the `with` block (or acquire/release).

    `acquire()` locks the directory if it exists (a user that creates it later calls
    `acquire()` again). When another process holds it: with `wait`, it logs who holds it and
    waits its turn; without, it raises `LockedError` naming `what`, the directory and the holder's
    PID. A path of None locks nothing.
    """

    def __init__(self, path, wait=False, what="--workdir"):
        self.path, self.wait, self.what = path, wait, what
        self._fd = None

    def acquire(self):
        if self._fd is not None or not self.path or not os.path.isdir(self.path):
            return self
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _holder(self.path)
            holder = f"PID {pid}" if pid else "another process"
            if not self.wait:
                os.close(fd)
                raise LockedError(self._busy(holder)) from None
            logging.info("%s %s is in use by %s; waiting for it to finish.", self.what,
                         self.path, holder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd = fd
        return self

    def _busy(self, holder):
        return f"{self.what}={self.path!r} is in use ({holder}); wait for it to end."

    def release(self):
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


class WorkdirLock(DirectoryLock):
    """Held by a training run on its run directory: a second training there is refused."""

    def _busy(self, holder):
        return (f"--workdir={self.path!r} is in use by another training run ({holder}); wait "
                "for it to end, stop it, or use another --workdir.")
