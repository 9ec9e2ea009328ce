import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_and_no_global_policy():
    keras.utils.set_random_seed(1234)
    yield
    # Library code passes dtype policies to constructors; it never changes Keras' global one.
    assert keras.config.dtype_policy().name == "float32", "a test or the library set a policy"
