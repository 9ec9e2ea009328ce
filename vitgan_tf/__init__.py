"""vitgan_tf: ViTGAN (Lee et al., ICLR 2022) in TensorFlow 2 / Keras 3."""

__version__ = "0.1.0"
