"""A batch of token matrices times one weight matrix: broadcasting BatchMatMul against the same
product with the tokens flattened into rows (one 2-D MatMul), on this machine.

    python bench/broadcast_matmul.py

Keras 3's TF backend turns `EinsumDense("abc,cde->abde")` (the query, key and value projections
of `keras.layers.MultiHeadAttention`, which the generator uses) into `tf.matmul` of a 3-D
tensor and a 2-D kernel, a broadcasting BatchMatMulV2. (`keras.ops.matmul`, which `Dense` and
the ISN wrapper use, takes `tf.tensordot` for 3-D x 2-D and so flattens.) bench/profile_step.py
--by_shape found it the slowest contraction of the 32- and 64-preset steps; this shows why.
"""

import time

import tensorflow as tf


def gflops(fn, flops, repeats=30):
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return flops * repeats / (time.perf_counter() - start) / 1e9


def four_ways(batch, tokens, d_in, d_out):
    """The product as broadcast BatchMatMul, with a transposed kernel, flattened, and einsum."""
    x = tf.random.normal([batch, tokens, d_in])
    w = tf.random.normal([d_in, d_out])
    wt = tf.random.normal([d_out, d_in])
    return [
        lambda: tf.matmul(x, w),
        lambda: tf.matmul(x, wt, transpose_b=True),
        lambda: tf.reshape(tf.matmul(tf.reshape(x, [-1, d_in]), w), [batch, tokens, d_out]),
        lambda: tf.einsum("btd,de->bte", x, w),
    ]


def main():
    print("| batch × tokens × in · in × out | broadcast BatchMatMul | same, kernel transposed "
          "(input gradient) | flattened 2-D MatMul | tf.einsum |")
    print("|---|---|---|---|---|")
    for batch, tokens, d_in, d_out in ((64, 64, 384, 384), (64, 65, 384, 384),
                                       (32, 64, 384, 384), (64, 64, 384, 1536)):
        flops = 2 * batch * tokens * d_in * d_out
        rates = [gflops(tf.function(lambda way=way: tf.reduce_sum(way())), flops)
                 for way in four_ways(batch, tokens, d_in, d_out)]
        print(f"| {batch}×{tokens}×{d_in} · {d_in}×{d_out} | "
              + " | ".join(f"{r:.1f} GFLOP/s" for r in rates) + " |", flush=True)


if __name__ == "__main__":
    main()
