import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import fcntl  # noqa: E402
import shutil  # noqa: E402

import keras  # noqa: E402
import pytest  # noqa: E402

from tests.helpers import tiny_config, tiny_images, tmpfs  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_and_no_global_policy():
    keras.utils.set_random_seed(1234)
    yield
    # Library code passes dtype policies to constructors; it never changes Keras' global one.
    assert keras.config.dtype_policy().name == "float32", "a test or the library set a policy"


@pytest.fixture
def small_disk(tmp_path):
    """A 900 kB tmpfs: one tiny-preset checkpoint (about 540 kB) fits, a second does not."""
    with tmpfs(tmp_path / "disk", "size=900k") as mount:
        yield mount


@pytest.fixture
def read_only_disk(tmp_path):
    """A read-only tmpfs: even root cannot write there (EROFS), unlike a chmod-ed folder."""
    with tmpfs(tmp_path / "ro", "size=1m,ro") as mount:
        yield mount


@pytest.fixture(scope="session")
def tiny_run_master(tmp_path_factory, worker_id):
    """One tiny-preset run, 4 steps with checkpoints 2 and 4, trained once per test run: the
    first pytest-xdist worker to ask trains it into the workers' shared temp folder, holding a
    file lock that the others wait on, then reuse what it wrote. Use `tiny_run` (a private
    copy) in tests; never change this one."""
    from vitgan_tf import train_lib

    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":  # each worker has its own base folder inside the run's
        shared = shared.parent
    workdir = shared / "tiny_run" / "run"
    with open(shared / "tiny_run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / "tiny_run" / "done").exists():
            shutil.rmtree(shared / "tiny_run", ignore_errors=True)
            train_lib.train(tiny_config(workdir), dataset=tiny_images())
            (shared / "tiny_run" / "done").touch()
    return workdir


@pytest.fixture(scope="module")
def tiny_run(tiny_run_master, tmp_path_factory):
    """A module's own copy of the shared tiny run (step 4; checkpoints 2 and 4)."""
    copy = tmp_path_factory.mktemp("run") / "run"
    shutil.copytree(tiny_run_master, copy)
    return copy


def pytest_collection_modifyitems(items):
    """Integration tests (runs, subprocesses: tens of seconds each) first, so that pytest-xdist
    ends on short tests with every worker busy, not on one long test with the others idle."""
    items.sort(key=lambda item: item.get_closest_marker("integration") is None)
