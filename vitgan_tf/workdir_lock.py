"""One training run per run directory: an OS lock on the directory itself.

`fcntl.flock` on the directory's file descriptor: nothing is written for it, and the kernel
drops the lock when its process ends, however it ends (SIGKILL included), so a killed run
leaves the directory usable at once. Reading tools (sample, evaluate, export) take no lock.
"""

import fcntl
import os

from vitgan_tf.rundir import RunError


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


class WorkdirLock:
    """Holds the exclusive lock of a run directory while training; a context manager.

    `acquire()` locks the directory if it exists (a run that starts a new directory locks it
    once created, by calling `acquire()` again) and raises `RunError` naming the holder's PID
    when another process holds it. A workdir of None locks nothing.
    """

    def __init__(self, workdir):
        self.workdir = workdir
        self._fd = None

    def acquire(self):
        if self._fd is not None or not self.workdir or not os.path.isdir(self.workdir):
            return self
        fd = os.open(self.workdir, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = _holder(self.workdir)
            raise RunError(
                f"--workdir={self.workdir!r} is in use by another training run "
                f"({'PID ' + pid if pid else 'another process'}); wait for it to end, stop it, "
                "or use another --workdir.") from None
        self._fd = fd
        return self

    def release(self):
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
