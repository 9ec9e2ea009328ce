"""When does `Model.fit` return, with and without tf.data autotuning? No project code: a Keras
model whose step is 40 chained 1024^2 matmuls, on a `from_tensors(...).repeat().prefetch(2)`
dataset.

    python bench/fit_return.py                     # fits of 5 and 20 steps, autotune on and off
    python bench/fit_return.py --steps=160         # shows the 60 s cap of the wake-up interval

Prints, per fit, when its last step ended (`on_train_end`) and when the call returned. With
autotuning on, TF 2.21 often returns only at the autotune thread's next wake-up (5.11, 10.23,
20.47, 40.95, 81.91, 141.91 s, ... after the iterator starts); see bench/README.md ("slow mode").
"""

import argparse
import time

import keras
import numpy as np
import tensorflow as tf


class Burn(keras.Model):
    def __init__(self):
        super().__init__()
        self.w = self.add_weight(shape=(1024, 1024), initializer="ones")

    def train_step(self, data):
        x = tf.random.normal([1024, 1024])
        for _ in range(40):
            x = tf.matmul(x, self.w) * 1e-3
        return {"s": tf.reduce_sum(x) + tf.reduce_sum(data)}


class TrainEnd(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_end(self, logs=None):
        self.seconds = time.perf_counter() - self.start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="5,20")
    args = parser.parse_args()
    for autotune in (True, False):
        model = Burn()
        model.compile()
        options = tf.data.Options()
        options.autotune.enabled = autotune
        dataset = tf.data.Dataset.from_tensors(np.zeros((32, 8), np.float32)).repeat()
        dataset = dataset.prefetch(2).with_options(options)
        model.fit(dataset, steps_per_epoch=1, verbose=0)  # trace
        for steps in [int(s) for s in args.steps.split(",")]:
            end = TrainEnd()
            start = time.perf_counter()
            model.fit(dataset, steps_per_epoch=steps, verbose=0, callbacks=[end])
            print(f"autotune {'on ' if autotune else 'off'}: {steps} steps, last step ended at "
                  f"{end.seconds:6.2f} s, fit returned at {time.perf_counter() - start:6.2f} s",
                  flush=True)


if __name__ == "__main__":
    main()
