"""Stateless random draws that agree between TF's CPU/GPU kernels and XLA.

Training draws every random number from a seed built from (run seed, step, replica), so a
resumed run continues the same random stream and needs no RNG state of its own. One explicit
algorithm is used, and floats are made from integer draws: for the same seed, the kernels and
XLA give different float draws but the same integers.
"""

import math

import tensorflow as tf

_ALG = "philox"
_FLOAT_BITS = 1 << 24


def fold(seed, salt):
    """A new (2,) seed from `seed` and an integer `salt`."""
    return tf.random.experimental.stateless_fold_in(seed, salt, alg=_ALG)


def uniform(seed, shape, minval=0.0, maxval=1.0, dtype=tf.float32):
    """Uniform in [minval, maxval); integer dtypes draw integers in that range."""
    dtype = tf.as_dtype(dtype)
    if dtype.is_integer:
        return tf.random.stateless_uniform(shape, seed=seed, minval=minval, maxval=maxval,
                                           dtype=dtype, alg=_ALG)
    bits = tf.random.stateless_uniform(shape, seed=seed, minval=0, maxval=_FLOAT_BITS,
                                       dtype=tf.int32, alg=_ALG)
    unit = tf.cast(bits, tf.float32) / _FLOAT_BITS
    return tf.cast(minval + (maxval - minval) * unit, dtype)


def normal(seed, shape, dtype=tf.float32):
    """Standard normal draws (Box-Muller on two uniform streams)."""
    u1 = 1.0 - uniform(fold(seed, 0), shape)  # in (0, 1]: the log stays finite
    u2 = uniform(fold(seed, 1), shape)
    z = tf.sqrt(-2.0 * tf.math.log(u1)) * tf.cos(2.0 * math.pi * u2)
    return tf.cast(z, dtype)


def latents_from_seeds(seeds, latent_dim):
    """One standard-normal latent per int64 seed: the project's one seed -> z convention.

    The training sample grid, the sample CLI (--seeds), evaluation and the served
    `generate_from_seeds` signature all use it, so "seed 5" is the same image everywhere. The
    same seed always gives the same z, whatever the batch it is drawn in.
    """
    return _latents_graph(tf.cast(seeds, tf.int64), latent_dim)


@tf.function(reduce_retracing=True)
def _latents_graph(seeds, latent_dim):
    # A graph, not eager: eagerly, map_fn runs its loop in Python, about 1 ms per seed
    # (10,000 evaluation samples spent minutes here). The kernels and the numbers are the same.
    def one(seed):
        return normal(tf.stack([seed, tf.constant(0, tf.int64)]), [latent_dim])

    return tf.map_fn(one, seeds, fn_output_signature=tf.float32)
