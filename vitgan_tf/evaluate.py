"""Evaluate a run's EMA generator: FID, KID, Inception Score, precision and recall; for a
class-conditional run also class accuracy and intra-class FD.

    python -m vitgan_tf.evaluate --workdir=runs/cifar10 --metrics=fid50k,kid,is \
        --extractor=fid_inception --inception_path=/data/classify_image_graph_def.pb
    python -m vitgan_tf.evaluate --workdir=runs/fashion_mnist --extractor=fashion_classifier \
        --metrics=fid10k,kid,is,pr
    python -m vitgan_tf.evaluate --workdir=runs/fashion_mnist_cond \
        --extractor=fashion_classifier --metrics=fid,pr,acc,ifd --num_samples=10000

Writes the report WORKDIR/eval/step_<N>_<extractor>_n<samples>_psi<psi>_<settings hash>.json
and the TensorBoard scalars eval/<key>_<extractor> at the checkpoint's step, through the same
writer as training's monitor (`reports`). Real-data statistics are computed once and cached
(npz) per dataset settings, split, resolution, extractor and sample count (`real_stats`). The
options of an evaluation are `scoring.Settings`' fields, each a flag.

The reference set is the dataset's test split where it has one (Fashion-MNIST, MNIST), else its
training images. With a test split, the report also gives the real-vs-real floor: the same
metrics for `num_samples` real training images in place of generated ones.
"""

import dataclasses
import json
import os
import sys

from absl import flags

from vitgan_tf import cli, config, rundir, scoring
from vitgan_tf.errors import UserError

# TensorFlow (through `real_stats`, `reports` and the extractors) is imported only once the flags
# and the run directory have been checked.


def define_flags():
    """Command-line flags (defined only when run as a program): the run to read, what to
    compute it with, and one flag per `scoring.Settings` field."""
    cli.define_run_flags(scoring.Settings.__dataclass_fields__["truncation_psi"]
                         .metadata["help"])
    flags.DEFINE_list("metrics", ["fid", "kid", "is"],
                      "fid, kid, is, pr (precision and recall); for conditional runs acc (class "
                      "accuracy) and ifd (intra-class FD: each class against that class's real "
                      "images); a suffix such as fid50k sets the number of generated samples.")
    # Listed by --help as this tool's own (absl names the main module by its path).
    config.define_fields(scoring.Settings, flags.FLAGS, skip=("truncation_psi",),
                         module_name=sys.argv[0] if __name__ == "__main__" else __name__)
    flags.DEFINE_list("extractor", ["fid_inception"],
                      "One or more, comma-separated (one report each, of the same images): "
                      "fid_inception: the 2015 Inception graph (paper-comparable); "
                      "keras_inception: keras.applications.InceptionV3 (monitoring only); "
                      "fashion_classifier, fashion_resnet: the Fashion-MNIST domain metric's "
                      "two judges (a CNN and a ResNet; a change is kept when both agree).")
    flags.DEFINE_string("inception_path", "", "classify_image_graph_def.pb for fid_inception.")
    flags.DEFINE_string("inception_weights", "imagenet",
                        "keras_inception weights: imagenet, a file, or none (random; tests only).")
    flags.DEFINE_string("cache_dir", "", "Real-statistics cache; default WORKDIR/stats.")


def run(workdir, extractor, metric_names=("fid", "kid", "is"), settings=scoring.Settings(),
        checkpoint=None, cache_dir=None):
    """Evaluate the EMA generator of a run; writes the report and the TensorBoard scalars
    (`reports.write`). With a test split, the report also gives the real-vs-real floor
    (`scoring.real_floor`), as real_floor_<key>. Returns (report, path)."""
    from vitgan_tf import real_stats, reports

    settings.check(metric_names)
    cfg, generator, checkpoint, step = rundir.load_generator(workdir, checkpoint)
    model_cfg = generator.vitgan_config
    for name in metric_names:  # before any work
        if name in scoring.CONDITIONAL_METRICS:
            scoring.require_conditional(name, model_cfg.user_classes > 0)
    cache_dir = cache_dir or os.path.join(workdir, "stats")
    for folder in (cache_dir, os.path.join(workdir, reports.REPORTS_DIR)):
        os.makedirs(folder, exist_ok=True)  # Fail on an unwritable place before the work.
    real, split, settings = real_stats.for_settings(
        cfg.dataset, cfg.data_dir, model_cfg.image_size, extractor, settings, cache_dir,
        num_classes=model_cfg.num_classes if "ifd" in metric_names else 0)
    results = scoring.score(generator, real, extractor, metric_names, settings)
    if split != "train":
        floor = scoring.real_floor(cfg.dataset, cfg.data_dir, model_cfg.image_size, real,
                                   extractor, metric_names, settings)
        results.update({f"real_floor_{name}": value for name, value in floor.items()})
    return reports.write(workdir, step, results, settings=settings,
                         extractor_name=extractor.name, dataset=cfg.dataset, split=split,
                         checkpoint=checkpoint)


def main(argv):
    del argv  # Checked by cli.run_main.
    FLAGS = flags.FLAGS
    try:  # a read-only or full --cache_dir or --workdir: say which folders must be writable
        names, num_samples = scoring.parse_metrics(FLAGS.metrics, FLAGS.num_samples)
        settings = scoring.Settings(**{
            field.name: FLAGS[field.name].value
            for field in dataclasses.fields(scoring.Settings)})
        settings = dataclasses.replace(settings, num_samples=num_samples).check(names)
        kinds = config.extractor_names(FLAGS.extractor, "extractor")
        rundir.load_config(FLAGS.workdir)  # A bad --workdir first, before loading weights.
        from vitgan_tf import features

        for kind in kinds:
            extractor = features.make_extractor(kind, FLAGS.inception_path,
                                                FLAGS.inception_weights)
            report, path = run(FLAGS.workdir, extractor, names, settings,
                               FLAGS.checkpoint or None, FLAGS.cache_dir or None)
            print(json.dumps(report, indent=2))
            print(f"Wrote {path}", flush=True)
    except OSError as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise UserError(f"{error.filename}: {error.strerror}; --cache_dir (default WORKDIR/stats) "
                        "and WORKDIR/eval must be writable.") from None


def run_cli():
    """Console script entry point (`vitgan-evaluate`)."""
    define_flags()
    cli.run_main(main)


if __name__ == "__main__":
    run_cli()
