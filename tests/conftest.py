import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402

from tests.helpers import tmpfs  # noqa: E402


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
