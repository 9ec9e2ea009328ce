"""Plain NumPy references of every formula, written from the papers, for the tests."""

import numpy as np
from scipy.special import erf


def w(variable):
    return np.asarray(variable.numpy(), dtype=np.float64)


def gelu(x):
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def leaky_relu(x, slope=0.2):
    return np.where(x >= 0, x, slope * x)


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def layer_norm(x, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps)


def equalized_dense(x, kernel, bias, lr_mul, activation=None):
    """StyleGAN's equalized dense; leaky ReLU carries the sqrt(2) gain of `fused_lrelu`."""
    y = x @ (kernel * lr_mul / np.sqrt(kernel.shape[0])) + bias * lr_mul
    return np.sqrt(2.0) * leaky_relu(y) if activation == "leaky_relu" else y


def pixel_norm(z, eps=1e-4):
    return z / np.sqrt((z**2).mean(-1, keepdims=True) + eps)


def sln(h, style, gk, gb, bk, bb, eps=1e-5):
    gamma = style @ gk + gb
    beta = style @ bk + bb
    return gamma[:, None, :] * layer_norm(h, eps) + beta[:, None, :]


def power_iteration_sigma(matrix, u):
    """One step from u (1, units): returns sigma and the new u."""
    v = u @ matrix.T
    v = v / np.linalg.norm(v)
    u_new = v @ matrix
    u_new = u_new / np.linalg.norm(u_new)
    return float((v @ matrix @ u_new.T).squeeze()), u_new


def isn_kernel(kernel, u, sigma_init):
    matrix = kernel.reshape(-1, kernel.shape[-1])
    sigma, _ = power_iteration_sigma(matrix, u)
    return kernel * sigma_init / sigma


def l2_attention(x, wqk, bqk, wv, bv, wo, bo, heads):
    """x (B, N, D); weights already spectrally normalized. Distances computed directly."""
    b, n, _ = x.shape
    dh = wqk.shape[1] // heads
    q = (x @ wqk + bqk).reshape(b, n, heads, dh).transpose(0, 2, 1, 3)
    v = (x @ wv + bv).reshape(b, n, heads, dh).transpose(0, 2, 1, 3)
    diff = q[:, :, :, None, :] - q[:, :, None, :, :]
    logits = -(diff**2).sum(-1) / np.sqrt(dh)
    out = softmax(logits) @ v
    return out.transpose(0, 2, 1, 3).reshape(b, n, heads * dh) @ wo + bo, logits


def dot_attention(x, wq, bq, wk, bk, wv, bv, wo, bo):
    """Keras MultiHeadAttention's weight layout: wq (D, H, dh), wo (H, dh, D)."""
    q = np.einsum("bnd,dhk->bhnk", x, wq) + bq[None, :, None, :]
    k = np.einsum("bnd,dhk->bhnk", x, wk) + bk[None, :, None, :]
    v = np.einsum("bnd,dhk->bhnk", x, wv) + bv[None, :, None, :]
    att = softmax(np.einsum("bhik,bhjk->bhij", q, k) / np.sqrt(wq.shape[-1]))
    return np.einsum("bhnk,hkd->bnd", att @ v, wo) + bo


def sine_embedding(coords, kernel, bias, omega):
    return np.sin(omega * (coords @ kernel + bias))


def modulated_dense_per_sample(x, style, kernel, bias, ak, ab, demodulate, eps=1e-8):
    """The definition: build a modulated kernel per sample and token, then apply it.

    x (P2, in) shared by all tokens or (B, L, P2, in), style (B, L, S) -> (B, L, P2, units).
    """
    s = style @ ak + ab
    b, tokens, _ = s.shape
    x = np.broadcast_to(x, (b, tokens) + x.shape[-2:])
    out = np.empty((b, tokens, x.shape[2], kernel.shape[1]))
    for i in range(b):
        for j in range(tokens):
            wmod = s[i, j][:, None] * kernel
            if demodulate:
                wmod = wmod / np.sqrt((wmod**2).sum(0, keepdims=True) + eps)
            out[i, j] = x[i, j] @ wmod + bias
    return out


def patchify(images, p):
    b, h, w_, c = images.shape
    out = []
    for i in range(h // p):
        for j in range(w_ // p):
            out.append(images[:, i * p:(i + 1) * p, j * p:(j + 1) * p, :].reshape(b, p * p, c))
    return np.stack(out, axis=1)


def fir_downsample(x, taps=(1.0, 3.0, 3.0, 1.0), pad=1, stride=2):
    """Pad x (N, H, W, C) by `pad`, then each output pixel is sum_ab f_a f_b x[s*i+a, s*j+b]
    with f = taps / sum(taps): the separable low-pass filter, written as the sum it is."""
    f = np.asarray(taps, np.float64)
    f = f / f.sum()
    k = len(f)
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    h = (xp.shape[1] - k) // stride + 1
    w_ = (xp.shape[2] - k) // stride + 1
    out = np.zeros((x.shape[0], h, w_, x.shape[3]))
    for i in range(h):
        for j in range(w_):
            for a in range(k):
                for b in range(k):
                    out[:, i, j] += f[a] * f[b] * xp[:, stride * i + a, stride * j + b]
    return out


def conv2d(x, kernel, stride=1, pad=0):
    """Cross-correlation (N, H, W, Cin) * (k, k, Cin, Cout), zero padding `pad`, valid."""
    k = kernel.shape[0]
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    h = (xp.shape[1] - k) // stride + 1
    w_ = (xp.shape[2] - k) // stride + 1
    out = np.zeros((x.shape[0], h, w_, kernel.shape[3]))
    for i in range(h):
        for j in range(w_):
            window = xp[:, stride * i:stride * i + k, stride * j:stride * j + k, :]
            out[:, i, j] = np.einsum("nabc,abcd->nd", window, kernel)
    return out


def equalized_conv(x, kernel, bias, down=False, activation=None):
    """StyleGAN2's conv: W / sqrt(fan_in); down: [1,3,3,1] blur (pad (k+1)/2) then stride 2."""
    k = kernel.shape[0]
    kernel = kernel / np.sqrt(k * k * kernel.shape[2])
    if down:
        y = conv2d(fir_downsample(x, pad=(k + 1) // 2, stride=1), kernel, stride=2)
    else:
        y = conv2d(x, kernel, pad=k // 2)
    if bias is not None:
        y = y + bias
    return np.sqrt(2.0) * leaky_relu(y) if activation == "leaky_relu" else y


def residual_down_block(x, conv0, conv1, skip):
    """(conv1_down(conv0(x)) + skip_down(x)) / sqrt(2); conv* = (kernel, bias)."""
    main = equalized_conv(x, *conv0, activation="leaky_relu")
    main = equalized_conv(main, *conv1, down=True, activation="leaky_relu")
    return (main + equalized_conv(x, skip, None, down=True)) / np.sqrt(2.0)


def minibatch_stddev(x, group, channels=1, eps=1e-8):
    """Sample i's groupmates are the samples j with j = i mod (N / group); one statistic per
    channel slice: the mean over features and positions of the groupmates' std."""
    n = x.shape[0]
    m = n // group
    flat = x.reshape(n, -1, channels, x.shape[-1] // channels)
    stats = np.zeros((n, channels))
    for i in range(n):
        members = flat[[j for j in range(n) if j % m == i % m]]
        std = np.sqrt(members.var(axis=0) + eps)
        stats[i] = std.mean(axis=(0, 2))
    extra = np.broadcast_to(stats.reshape((n,) + (1,) * (x.ndim - 2) + (channels,)),
                            x.shape[:-1] + (channels,))
    return np.concatenate([x, extra], axis=-1)
