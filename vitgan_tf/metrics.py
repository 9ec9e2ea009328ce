"""Sample-quality metrics on feature activations: FID, KID, Inception Score, precision/recall.

Every function takes NumPy activations, so any feature extractor can feed it
(`vitgan_tf.features` has the ones papers use). Computation is in float64.
"""

import numpy as np


def activation_statistics(activations):
    """Mean and covariance (float64) of (N, D) activations."""
    x = np.asarray(activations, np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"Expected activations of shape (N >= 2, D), got {x.shape}.")
    return x.mean(axis=0), np.cov(x, rowvar=False)


def _psd_sqrt(matrix):
    """Symmetric square root of a symmetric positive semi-definite matrix (eigh, clipped)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)) between two Gaussians.

    tr((S1 S2)^(1/2)) is computed as tr((S1^(1/2) S2 S1^(1/2))^(1/2)): the inner matrix is
    symmetric PSD, so both roots come from `eigh` with negative round-off clipped to 0. This stays
    finite and accurate for the near-singular covariances of few samples in many dimensions,
    where the general `sqrtm(S1 @ S2)` can return complex values or NaN.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"Statistics of different sizes: {mu1.shape} vs {mu2.shape}.")
    root1 = _psd_sqrt(sigma1)
    eigenvalues = np.linalg.eigvalsh(root1 @ sigma2 @ root1)
    trace_sqrt = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


def fid_from_activations(activations1, activations2):
    return frechet_distance(*activation_statistics(activations1),
                            *activation_statistics(activations2))


def _polynomial_kernel(x, y):
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def kernel_inception_distance(activations1, activations2, num_subsets=100, subset_size=1000,
                              seed=0):
    """KID: unbiased MMD^2 with the kernel (x.y / d + 1)^3 (Binkowski et al. 2018).

    Averaged over `num_subsets` random subsets of `subset_size` from each set (smaller sets use
    all their samples). Returns (mean, standard deviation over subsets).
    """
    x = np.asarray(activations1, np.float64)
    y = np.asarray(activations2, np.float64)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"Activations of different sizes: {x.shape} vs {y.shape}.")
    m = min(subset_size, len(x), len(y))
    if m < 2:
        raise ValueError("KID needs at least 2 samples in each set.")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(num_subsets):
        a = x[rng.choice(len(x), m, replace=False)]
        b = y[rng.choice(len(y), m, replace=False)]
        kxx, kyy, kxy = _polynomial_kernel(a, a), _polynomial_kernel(b, b), _polynomial_kernel(a, b)
        # Unbiased: the diagonal k(x_i, x_i) terms are left out of the within-set means.
        within = ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1))
        values.append(within - 2.0 * kxy.mean())
    values = np.asarray(values)
    return float(values.mean()), float(values.std())


def inception_score(probabilities, splits=10):
    """exp(E_x KL(p(y|x) || p(y))) per split; returns (mean, standard deviation over splits).

    probabilities: (N, classes) softmax outputs of a classifier.
    """
    p = np.asarray(probabilities, np.float64)
    if p.ndim != 2 or len(p) < splits:
        raise ValueError(f"Expected (N >= splits={splits}, classes) probabilities, got {p.shape}.")
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(axis=0, keepdims=True)
        kl = np.sum(part * (np.log(part + 1e-12) - np.log(marginal + 1e-12)), axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def _kth_neighbour_radii(x, k, chunk=2048):
    """Distance from each row of x to its k-th nearest other row (squared distances)."""
    sq = np.sum(x * x, axis=1)
    radii = np.empty(len(x))
    for start in range(0, len(x), chunk):
        part = x[start:start + chunk]
        d2 = sq[start:start + chunk, None] - 2.0 * part @ x.T + sq[None, :]
        # Column 0 of the sorted row is the point itself (distance 0).
        radii[start:start + chunk] = np.partition(d2, k, axis=1)[:, k]
    return np.maximum(radii, 0.0)


def _covered(points, centres, radii, chunk=2048):
    """For each point: is it inside at least one ball (centre, squared radius)?"""
    sq_c = np.sum(centres * centres, axis=1)
    inside = np.empty(len(points), bool)
    for start in range(0, len(points), chunk):
        part = points[start:start + chunk]
        d2 = np.sum(part * part, axis=1)[:, None] - 2.0 * part @ centres.T + sq_c[None, :]
        inside[start:start + chunk] = np.any(d2 <= radii[None, :], axis=1)
    return inside


def precision_recall(real, fake, k=3):
    """Improved precision and recall (Kynkäänniemi et al. 2019).

    Each set's manifold is the union of balls around its samples, of radius the distance to
    the sample's k-th nearest neighbour in the same set. Precision: the fraction of generated
    samples inside the real manifold (are the samples realistic?). Recall: the fraction of real
    samples inside the generated manifold (is the data's variety covered?).
    Returns (precision, recall).
    """
    x = np.asarray(real, np.float64)
    y = np.asarray(fake, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"Expected (N, D) activations of one D, got {x.shape} and {y.shape}.")
    if min(len(x), len(y)) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples per set.")
    precision = _covered(y, x, _kth_neighbour_radii(x, k)).mean()
    recall = _covered(x, y, _kth_neighbour_radii(y, k)).mean()
    return float(precision), float(recall)
