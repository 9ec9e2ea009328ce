"""Export a run's EMA generator as a TF Serving SavedModel and as TFLite models.

    python -m vitgan_tf.export --workdir=runs/digits --output=export/models/digits

writes export/models/digits/<VERSION>/ (SavedModel; the next free version number unless
--version is given; an existing version is never overwritten) and, next to the versions,
export/models/digits/tflite/v<VERSION>_{float32,float16,dynamic_range}.tflite.

SavedModel signatures (see export/README.md for serving):
  serving_default      z float32 [batch, latent_dim]                    -> images uint8 [b,H,W,C]
  generate_truncated   z float32 [batch, latent_dim], truncation_psi [] -> images uint8
  generate_from_seeds  seeds int64 [batch]                              -> images uint8
  generate_raw         z float32 [batch, latent_dim]                    -> images float32
A conditional generator's signatures (and its TFLite models) also take class_id int32 [batch],
the class of each image; the class names are in assets.extra/vitgan_tf.json.
generate_raw is the generator's output as it is: it is not clipped, and though trained images lie
in [-1, 1] a generator's values can fall outside (the uint8 outputs clip). A z, seed batch or psi
that is not finite, or a class_id out of range or of another batch size, is refused with
INVALID_ARGUMENT (HTTP 400 from TF Serving).
"""

import contextlib
import json
import os
import re
import shutil

import tensorflow as tf
from absl import flags, logging

from vitgan_tf import cli, rng, rundir
from vitgan_tf.errors import UserError, short_error
from vitgan_tf.images import to_uint8
from vitgan_tf.workdir_lock import DirectoryLock

TFLITE_VARIANTS = ("float32", "float16", "dynamic_range")
FLOAT32_MAX = 3.4028234663852886e38


def _signature(specs, body):
    """A tf.function of the inputs `specs`, named by their TensorSpec names (the SavedModel's and
    TFLite's input keys); `body` takes them as a dict."""
    names = [spec.name for spec in specs]
    return tf.function(lambda *args: body(dict(zip(names, args))), input_signature=specs)


def _class_spec(rows=None):
    # "class" is a Python keyword, and TF names a signature's inputs as Python parameters.
    return tf.TensorSpec([rows], tf.int32, name="class_id")


class GeneratorModule(tf.Module):
    """The EMA generator with serving signatures; its weights become SavedModel variables.

    A conditional generator's signatures take `class_id` (int32 [batch]: the class of each row)
    next to `z` or `seeds`.

    The Keras model is only captured by the traced functions, not tracked as an attribute:
    tracking it too would save every weight twice (once as the Keras variable, once as the
    TF variable underneath).
    """

    def __init__(self, generator, truncation_psi=1.0):
        super().__init__(name="vitgan_generator")
        # Keras 3 keeps sub-layers in lists TF's tracker does not see; track every weight.
        self.weights = [w.value for w in generator.weights]
        self.truncation_psi = psi = float(truncation_psi)
        latent_dim = generator.vitgan_config.latent_dim
        classes = generator.vitgan_config.user_classes
        z_spec = tf.TensorSpec([None, latent_dim], tf.float32, name="z")
        class_specs = [_class_spec()] if classes else []

        def images(inputs, z, truncation_psi):
            # A loaded signature (and TF Serving) does not check the shapes its inputs declare:
            # EnsureShape does, at run time, with INVALID_ARGUMENT naming the input.
            z = tf.ensure_shape(z, [None, latent_dim], name="z")
            truncation_psi = tf.ensure_shape(truncation_psi, [], name="truncation_psi")
            # Non-finite input would give black images silently: refuse it (InvalidArgument).
            z = tf.debugging.check_numerics(z, "z must be finite")
            truncation_psi = tf.debugging.check_numerics(
                tf.cast(truncation_psi, tf.float32), "truncation_psi must be finite")
            labels = None
            if classes:
                labels = tf.ensure_shape(inputs["class_id"], [None], name="class_id")
                tf.debugging.assert_equal(tf.shape(labels)[0], tf.shape(z)[0], message=(
                    "class_id must have one entry per image"))
                tf.debugging.assert_greater_equal(labels, 0, message=(
                    f"class_id must be in [0, {classes})"))
                tf.debugging.assert_less(labels, classes, message=(
                    f"class_id must be in [0, {classes})"))
            return generator(z, truncation_psi=truncation_psi, training=False, labels=labels)

        def from_seeds(inputs):
            seeds = tf.ensure_shape(inputs["seeds"], [None], name="seeds")
            return rng.latents_from_seeds(seeds, latent_dim)

        self.serving_default = _signature(
            [z_spec, *class_specs],
            lambda x: {"images": to_uint8(images(x, x["z"], psi))})
        self.generate_truncated = _signature(
            [z_spec, *class_specs, tf.TensorSpec([], tf.float32, name="truncation_psi")],
            lambda x: {"images": to_uint8(images(x, x["z"], x["truncation_psi"]))})
        self.generate_from_seeds = _signature(
            [tf.TensorSpec([None], tf.int64, name="seeds"), *class_specs],
            lambda x: {"images": to_uint8(images(x, from_seeds(x), psi))})
        self.generate_raw = _signature(
            [z_spec, *class_specs], lambda x: {"images": images(x, x["z"], psi)})

    def signatures(self):
        return {"serving_default": self.serving_default,
                "generate_truncated": self.generate_truncated,
                "generate_from_seeds": self.generate_from_seeds,
                "generate_raw": self.generate_raw}


def _versions(base):
    """Version numbers taken in a model directory: SavedModel folders N/ and TFLite files
    tflite/vN_*.tflite (a TFLite-only export takes a version too)."""
    taken = {int(name) for name in _listdir(base) if name.isdigit()}
    taken |= {int(m.group(1)) for name in _listdir(os.path.join(base, "tflite"))
              if (m := re.fullmatch(r"v(\d+)_\w+\.tflite", name))}
    return taken


def _listdir(folder):
    return os.listdir(folder) if os.path.isdir(folder) else []


def next_version(base):
    return max(_versions(base), default=0) + 1


def _check_free(output, version):
    if version in _versions(output):
        raise FileExistsError(f"version {version} exists in {output}; versions are never "
                              "overwritten. Leave --version unset to write the next one.")


def _tflite_module(generator, truncation_psi, batch=0):
    """z [, class_id] -> {"images": uint8, "raw": float32, "valid": uint8}; one signature, for
    the TFLite converter; `batch` rows per call (0: any number)."""
    module = tf.Module()
    module.weights = [w.value for w in generator.weights]
    classes = generator.vitgan_config.user_classes
    rows = batch or None
    specs = [tf.TensorSpec([rows, generator.vitgan_config.latent_dim], tf.float32, name="z")]
    if classes:
        specs.append(_class_spec(rows))

    def generate(inputs):
        # TFLite cannot raise: a row whose z is not finite (or whose class_id is out of range)
        # gets valid 0 and a black image, where the SavedModel refuses the request.
        z = inputs["z"]
        valid = tf.reduce_min(tf.cast(tf.abs(z) <= FLOAT32_MAX, tf.float32), axis=1)
        labels = None
        if classes:
            # One class per z row: a class_id of another length would fail in the interpreter
            # ("XNNPack delegate failed to reshape"), so every row gets valid 0 instead, with
            # class_id padded or cut to the batch to keep the shapes.
            batch = tf.shape(z)[0]
            given = inputs["class_id"]
            same_length = tf.cast(tf.equal(tf.shape(given)[0], batch), tf.float32)
            labels = tf.concat([given, tf.zeros([batch], tf.int32)], axis=0)[:batch]
            in_range = tf.logical_and(labels >= 0, labels < classes)
            valid = valid * tf.cast(in_range, tf.float32) * same_length
            labels = tf.clip_by_value(labels, 0, classes - 1)
        raw = generator(z, truncation_psi=truncation_psi, training=False, labels=labels)
        shown = tf.where(valid[:, None, None, None] > 0, raw, -tf.ones_like(raw))
        return {"images": to_uint8(shown), "raw": raw, "valid": tf.cast(valid, tf.uint8)}

    module.generate = _signature(specs, generate)
    return module


def check_variant(variant):
    """Refuse a TFLite variant other than TFLITE_VARIANTS, in one line."""
    if variant not in TFLITE_VARIANTS:
        raise UserError(f"--tflite_variants: unknown variant {variant!r}; expected one of "
                        f"{', '.join(TFLITE_VARIANTS)}.")


def convert_tflite(generator, variant, truncation_psi=1.0, allow_select_tf_ops=False, batch=0):
    """The generator as a TFLite flat buffer; `variant` in TFLITE_VARIANTS.

    Built-in ops only unless `allow_select_tf_ops`: the conversion fails rather than silently
    needing the Flex delegate. batch 0: the batch dimension is dynamic (interpreters resize
    it); N > 0: N rows per call, fixed, as LiteRT.js in a browser needs.
    """
    check_variant(variant)
    module = _tflite_module(generator, truncation_psi, batch)
    concrete = module.generate.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], module)
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if allow_select_tf_ops:
        ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
    converter.target_spec.supported_ops = ops
    if variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic_range":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def run_tflite(model, z, class_id=None):
    """Draws images with an exported TFLite generator (`ai-edge-litert`), with the checks its
    interpreter cannot make: z float [rows, latent_dim]; `class_id` [rows] for a conditional
    model and only for one; a fixed-batch model (`--tflite_batch=N`) exactly N rows. A model
    of fixed batch has N compiled into its graph, so an interpreter handed another number of
    class ids does not see it (short ones were drawn as class 0). model: the .tflite path or
    its bytes. Returns the signature's outputs ("images", "raw", "valid")."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interpreter = (Interpreter(model_content=model) if isinstance(model, bytes)
                   else Interpreter(model_path=model))
    runner = interpreter.get_signature_runner("serving_default")
    inputs = runner.get_input_details()
    z = np.asarray(z, np.float32)
    rows, latent_dim = inputs["z"]["shape_signature"]
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise UserError(f": expected float32 [rows, {latent_dim}], got shape {list(z.shape)}.",
                        argument="z", value="...")
    if rows > 0 and z.shape[0] != rows:
        raise UserError(f": this model takes exactly {rows} rows per call (exported with "
                        f"tflite_batch={rows}), got {z.shape[0]}.", argument="z", value="...")
    feed = {"z": z}
    if "class_id" in inputs:
        if class_id is None:
            raise UserError(": the model is conditional; give one class per row.",
                            argument="class_id", value=None)
        class_id = np.asarray(class_id, np.int32).reshape(-1)
        if len(class_id) != z.shape[0]:
            raise UserError(f": expected one class per row of z ({z.shape[0]}), got "
                            f"{len(class_id)}.", argument="class_id", value=class_id.tolist())
        feed["class_id"] = class_id
    elif class_id is not None:
        raise UserError(": the model is unconditional and takes z alone.",
                        argument="class_id", value=np.asarray(class_id).tolist())
    return runner(**feed)


FORMATS = ("saved_model", "tflite", "generator")


def export(workdir, output, checkpoint=None, version=0, truncation_psi=1.0,
           formats=("saved_model", "tflite"), tflite_variants=TFLITE_VARIANTS,
           allow_select_tf_ops=False, tflite_batch=0):
    """Export; returns {"saved_model": dir or None, "tflite": {variant: path}, "version": n,
    "description": the TFLite files' vitgan_tf.json}. tflite_batch: rows per TFLite call (0:
    any; the web page needs a fixed number, e.g. 1)."""
    if not output:
        raise UserError("--output is required: a model directory such as export/models/NAME.")
    for name in formats:
        if name not in FORMATS:
            raise UserError(f"--formats: unknown format {name!r}; expected "
                            f"{', '.join(FORMATS)}.")
    if "tflite" in formats:
        for variant in tflite_variants:
            check_variant(variant)
    cli.check_truncation_psi(truncation_psi)
    if os.path.exists(output) and not os.path.isdir(output):
        raise UserError(" is a file; expected a model directory.", argument="output", value=output)
    existing = os.path.abspath(output)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK):
        raise UserError(f" cannot be written ({existing} is not a writable folder).",
                        argument="output", value=output)
    if version < 0:
        raise UserError(": expected 0 (next free) or a positive integer.",
                        argument="version", value=version)
    if not 0 <= tflite_batch <= 256:
        raise UserError(": expected 0 (any number of rows per call) or a fixed number from 1 "
                        "to 256.",
                        argument="tflite_batch", value=tflite_batch)
    if version:
        _check_free(output, version)
    cfg, generator, checkpoint, step = rundir.load_generator(workdir, checkpoint)
    classes = rundir.load_classes(workdir)
    try:
        os.makedirs(output, exist_ok=True)
        # Exports to one model directory take turns: each picks its version under the lock.
        with DirectoryLock(output, wait=True, what="export to --output"):
            for stale in glob_tmp(output):  # left by an export that was killed
                _remove(stale)
            version = version or next_version(output)
            _check_free(output, version)
            written = _write(cfg, generator, checkpoint, step, classes, output, version,
                             truncation_psi, formats, tflite_variants, allow_select_tf_ops,
                             tflite_batch)
            if "generator" in formats:  # what sample and the projector read, without the run
                written["generator"] = rundir.write_generator_only(workdir, output, generator,
                                                                   checkpoint, step)
            return written
    except (OSError, tf.errors.OpError) as error:
        if isinstance(error, (FileExistsError, FileNotFoundError)):
            raise
        reason = getattr(error, "strerror", None) or short_error(error)
        raise ExportError(f": could not write the export ({reason}); is the "
                          "disk full or read-only? Nothing partial was left; earlier versions "
                          "are intact.", argument="output", value=output) from None


class ExportError(UserError):
    """An export could not be written (disk full, read-only); nothing partial is left."""


def glob_tmp(output):
    """Temporary files and folders of unfinished exports in a model directory."""
    found = [os.path.join(output, n) for n in _listdir(output) if n.endswith(".tmp")]
    tflite = os.path.join(output, "tflite")
    return found + [os.path.join(tflite, n) for n in _listdir(tflite) if n.endswith(".tmp")]


def _remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.remove(path)


def _write(cfg, generator, checkpoint, step, classes, output, version, truncation_psi, formats,
           tflite_variants, allow_select_tf_ops, tflite_batch=0):
    """Write version `version` (the caller holds the model directory's lock); on any failure
    remove what this export wrote, so the directory is as it was."""
    target = os.path.join(output, str(version))
    written = {"version": version, "checkpoint": checkpoint, "step": step,
               "saved_model": None, "tflite": {}}
    done = []
    description = {"version": version, "checkpoint": checkpoint, "step": step,
                   "preset": cfg.preset, "dataset": cfg.dataset,
                   "truncation_psi": truncation_psi, "tflite_batch": tflite_batch,
                   "classes": classes,  # class_id i is classes[i]; null: unconditional
                   "model": generator.vitgan_config.to_dict()}
    try:
        if "saved_model" in formats:
            module = GeneratorModule(generator, truncation_psi)
            tmp = target + ".tmp"
            done.append(tmp)
            tf.saved_model.save(module, tmp, signatures=module.signatures())
            # assets.extra/ is where TF Serving expects extra files; it does not load them.
            os.makedirs(os.path.join(tmp, "assets.extra"), exist_ok=True)
            with open(os.path.join(tmp, "assets.extra", "vitgan_tf.json"), "w") as f:
                json.dump(description, f, indent=2)
            os.replace(tmp, target)  # TF Serving never sees a half-written version
            done.append(target)
            written["saved_model"] = target
        if "tflite" in formats:
            tflite_dir = os.path.join(output, "tflite")
            os.makedirs(tflite_dir, exist_ok=True)
            for variant in tflite_variants:
                path = os.path.join(tflite_dir, f"v{version}_{variant}.tflite")
                flat = convert_tflite(generator, variant, truncation_psi, allow_select_tf_ops,
                                      tflite_batch)
                done.append(path + ".tmp")
                with open(path + ".tmp", "wb") as f:
                    f.write(flat)
                os.replace(path + ".tmp", path)
                done.append(path)
                written["tflite"][variant] = path
            # The description beside the TFLite files, for the web page (web/).
            # Written last and atomically: its presence marks the version complete.
            path = os.path.join(tflite_dir, f"v{version}_vitgan_tf.json")
            done += [path + ".tmp", path]
            with open(path + ".tmp", "w") as f:
                json.dump(description, f, indent=2)
            os.replace(path + ".tmp", path)
            written["description"] = path
    except BaseException:
        for path in done:
            _remove(path)
        raise
    return written


def artifact_size(path):
    """Bytes of a file, or of every file under a folder."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, names in os.walk(path) for name in names)


def describe(written):
    lines = [f"Exported step {written['step']} ({written['checkpoint']}) as version "
             f"{written['version']}:"]
    if written["saved_model"]:
        lines.append(f"  SavedModel {written['saved_model']}  "
                     f"({artifact_size(written['saved_model']) / 1e6:.1f} MB)")
        loaded = tf.saved_model.load(written["saved_model"])
        for key, fn in loaded.signatures.items():
            inputs = ", ".join(f"{name} {spec.dtype.name}{spec.shape}" for name, spec in
                               sorted(fn.structured_input_signature[1].items()))
            outputs = ", ".join(f"{name} {spec.dtype.name}{spec.shape}" for name, spec in
                                sorted(fn.structured_outputs.items()))
            lines.append(f"    {key}: {inputs} -> {outputs}")
    for variant, path in written["tflite"].items():
        lines.append(f"  TFLite {variant:13s} {path}  ({artifact_size(path) / 1e6:.2f} MB)")
    return "\n".join(lines)


def define_flags():
    cli.define_run_flags("Default truncation psi baked into the signatures "
                         "(generate_truncated takes it as an input).")
    flags.DEFINE_string("output", None, "Model directory, e.g. export/models/NAME; versions "
                        "are its numbered subdirectories.")
    flags.DEFINE_integer("version", 0, "Version number; 0: the next free one.")
    flags.DEFINE_list("formats", ["saved_model", "tflite"], "saved_model, tflite, generator "
                      "(config.json and the EMA generator in float16, ema_generator.npz: "
                      "sample, project, evaluate and export take the folder as a --workdir).")
    flags.DEFINE_list("tflite_variants", list(TFLITE_VARIANTS),
                      "float32, float16, dynamic_range.")
    flags.DEFINE_integer("tflite_batch", 0, "Rows per TFLite call: 0 any number (interpreters "
                         "resize); N a fixed N, as the web page (LiteRT.js) needs: use 1.")
    flags.DEFINE_bool("allow_select_tf_ops", False,
                      "Let TFLite fall back to TF ops (needs the Flex delegate at run time).")


def main(argv):
    del argv  # Checked by cli.run_main.
    FLAGS = flags.FLAGS
    written = export(FLAGS.workdir, FLAGS.output, FLAGS.checkpoint or None, FLAGS.version,
                     FLAGS.truncation_psi, FLAGS.formats, FLAGS.tflite_variants,
                     FLAGS.allow_select_tf_ops, FLAGS.tflite_batch)
    logging.info("export done")
    print(describe(written))


def run():
    """Console script entry point (`vitgan-export`)."""
    define_flags()
    flags.mark_flag_as_required("output")
    cli.run_main(main)


if __name__ == "__main__":
    run()
