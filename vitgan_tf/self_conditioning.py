"""Self-conditioning (Liu et al., "Diverse Image Generation via Self-Conditioned GANs", CVPR
2020): the clusters of the discriminator's features of real images serve as the classes of a
conditional GAN, so that the generator is asked for every mode the data has.

Every `--self_cond_every` steps `Recluster` (callbacks.py) has the discriminator embed a fixed
set of real images (`LogitModel.cluster_features`), groups them with k-means warm-started from
the current centres (`fit_clusters`), matches the new centres to the old ones so that cluster c
keeps its embedding rows in G and D, and stores the centres in the discriminator and the
clusters' shares in the generator. Between reclusterings each training batch's real images take
the cluster of their nearest centre under the current discriminator (`ViTGAN.train_step`), and
the generated batch takes the same clusters: clusters are drawn in proportion to their sizes.

This module needs no TensorFlow.
"""

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans


def match(old, new):
    """The permutation p of `new`'s rows minimising sum_c |old[c] - new[p[c]]|^2 (Hungarian
    algorithm): new centre p[c] takes the place of old centre c."""
    cost = ((old[:, None, :] - new[None, :, :]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    return cols[np.argsort(rows)]


def fit_clusters(features, centres, seed=0, max_iter=50):
    """k-means of `features` (n, dim), k = len(centres), and the clusters' shares.

    centres: the current centres (k, dim); all zero means none yet (k-means++ starts it).
    Otherwise k-means starts from them and the result is matched to them (`match`), so a
    cluster keeps its index across reclusterings as long as its centre stays the nearest.
    Returns (centres (k, dim) float32, shares (k,) float64 summing to 1, labels (n,) int).
    """
    features = np.asarray(features, np.float64)
    centres = np.asarray(centres, np.float64)
    k = len(centres)
    if len(features) < k:
        raise ValueError(f"{len(features)} images cannot make {k} clusters.")
    fresh = not np.any(centres)
    kmeans = KMeans(k, init="k-means++" if fresh else centres, n_init=1, max_iter=max_iter,
                    random_state=seed).fit(features)
    new = kmeans.cluster_centers_
    labels = kmeans.labels_
    if not fresh:
        order = match(centres, new)
        new = new[order]
        labels = np.argsort(order)[labels]
    shares = np.bincount(labels, minlength=k) / len(labels)
    return new.astype(np.float32), shares, labels
