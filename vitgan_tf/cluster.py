"""Multi-worker start-up that cannot hang: a deadline and working stop signals.

Creating `tf.distribute.MultiWorkerMirroredStrategy` waits inside TensorFlow's C++ code, holding
Python's GIL, until every task of the cluster has connected: with a task that never starts it
waits forever, no Python thread or signal handler runs meanwhile, and TensorFlow's preemption
notifier takes SIGTERM for itself. So the wait is watched from outside: a small child process
(`WATCHDOG`) ends this process with one error line when the deadline passes or when SIGTERM or
SIGINT arrives, and exits by itself once the strategy exists (or this process is gone).

Signals: the training CLI blocks SIGTERM and SIGINT before TensorFlow is imported
(`block_stop_signals`), so that every thread TensorFlow starts inherits the block and a stop
signal stays pending, where the watchdog sees it (/proc/PID/status); once the strategy exists
they are unblocked and training's own handler (`callbacks.StopOnSignal`) takes over. Linux only,
as the TF_CONFIG clusters this is for.
"""

import json
import os
import signal
import subprocess
import sys

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

WATCHDOG = r'''
import os, select, signal, sys, time
parent, timeout, missing_hint = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
deadline = time.monotonic() + timeout if timeout > 0 else float("inf")
stop = {int(s) for s in sys.argv[4].split(",")}
def end(message):
    print(f"error: {message}", file=sys.stderr, flush=True)
    os.kill(parent, signal.SIGKILL)
    sys.exit(0)
while True:
    if select.select([sys.stdin], [], [], 0.2)[0]:
        sys.exit(0)  # the strategy exists (or the parent is gone): nothing to watch
    try:
        with open(f"/proc/{parent}/status") as f:
            status = f.read()
    except OSError:
        sys.exit(0)
    pending = 0
    for line in status.splitlines():
        if line.startswith(("ShdPnd:", "SigPnd:")):
            pending |= int(line.split()[1], 16)
    got = [s for s in stop if pending >> (s - 1) & 1]
    if got:
        end(f"stopped by {signal.Signals(got[0]).name} while waiting for the cluster's tasks "
            "to start; nothing was written.")
    if time.monotonic() > deadline:
        import socket
        missing = []
        for item in missing_hint.split(";"):
            name, _, address = item.partition("=")
            host, _, port = address.rpartition(":")
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
            except (OSError, ValueError):
                missing.append(f"{name} ({address})")
        end(f"--cluster_timeout={timeout:g}: the cluster of TF_CONFIG did not start within "
            f"{timeout:g} s; not reachable: {', '.join(missing) or 'none (they started late)'}."
            " Start every task (or raise --cluster_timeout; 0 waits forever).")
'''


def block_stop_signals():
    """Block SIGTERM and SIGINT in this thread (call before TensorFlow starts any thread, i.e.
    before importing it); `unblock_stop_signals` undoes it. Only where TF_CONFIG is set."""
    if os.environ.get("TF_CONFIG") and hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def unblock_stop_signals():
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def other_tasks():
    """[(name, address)] of the TF_CONFIG cluster's tasks other than this one."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    me = (config.get("task", {}).get("type"), int(config.get("task", {}).get("index", -1)))
    return [(f"{job} {i}", address) for job, addresses in config.get("cluster", {}).items()
            for i, address in enumerate(addresses) if (job, i) != me]


def create_with_deadline(create, timeout):
    """create() (the strategy), ended by the watchdog with one error line if the cluster has
    not started within `timeout` seconds (0: no deadline) or a stop signal arrives."""
    hint = ";".join(f"{name}={address}" for name, address in other_tasks())
    watchdog = subprocess.Popen(
        [sys.executable, "-c", WATCHDOG, str(os.getpid()), str(float(timeout)), hint,
         ",".join(str(int(s)) for s in STOP_SIGNALS)], stdin=subprocess.PIPE)
    try:
        return create()
    finally:
        watchdog.stdin.close()
        watchdog.wait()
        unblock_stop_signals()
