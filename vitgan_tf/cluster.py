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

from vitgan_tf.errors import RunError

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


def tf_config():
    """TF_CONFIG, parsed once: {"cluster": {job: [address, ...]}, "task": {"type", "index"}}
    ({} when it is not set). RunError in one line when it cannot describe this process's place
    in a cluster (TF would raise a JSONDecodeError or ValueError from deep inside the
    strategy)."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        return {}
    try:
        config = json.loads(text)
        task = config.get("task", {})
        members = config["cluster"][task["type"]]
        index = int(task["index"])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise RunError(
            f"TF_CONFIG is not a valid cluster description ({type(error).__name__}: "
            f"{error}); expected JSON such as {{\"cluster\": {{\"worker\": [\"host:port\", "
            f"...]}}, \"task\": {{\"type\": \"worker\", \"index\": 0}}}}.") from None
    if not 0 <= index < len(members):
        raise RunError(f"TF_CONFIG: task index {index} is outside the cluster's "
                       f"{len(members)} {task['type']} task(s).")
    return config


def other_tasks():
    """[(name, address)] of the TF_CONFIG cluster's tasks other than this one."""
    config = tf_config()
    if not config:
        return []
    me = (config["task"]["type"], int(config["task"]["index"]))
    return [(f"{job} {i}", address) for job, addresses in config["cluster"].items()
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
