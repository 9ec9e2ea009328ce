"""ViTGAN (Lee et al., ICLR 2022) in TensorFlow 2 / Keras 3."""

import importlib.util as _util

if _util.find_spec("tensorflow") is None:
    raise ImportError(
        "vitgan_tf needs TensorFlow, which comes through an extra: "
        "pip install 'vitgan_tf[cpu]' (tensorflow-cpu) or 'vitgan_tf[gpu]' "
        "(tensorflow[and-cuda]); from a checkout: pip install -e '.[cpu]'.")

__version__ = "0.5.0"
