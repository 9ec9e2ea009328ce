import numpy as np
import pytest
import tensorflow as tf

from tests import reference as ref
from tests.helpers import assert_mixed_precision, assert_roundtrip, randn
from vitgan_tf.layers import OverlappingPatchEmbedding, patchify, stitch_patches


def test_patchify_matches_numpy_and_stitch_inverts_it():
    images = randn(2, 12, 12, 3)
    patches = np.asarray(patchify(images, 4))
    np.testing.assert_array_equal(patches, ref.patchify(images, 4))
    np.testing.assert_array_equal(np.asarray(stitch_patches(patches, 3)), images)


def test_stitch_places_patch_i_at_row_major_position_i():
    # Patch i filled with the value i: the stitched image is a row-major grid of blocks. A plain
    # reshape of (B, L, P*P, C) to (B, H, W, C) would interleave them.
    grid, p = 3, 2
    patches = np.repeat(np.arange(grid * grid, dtype="float32"), p * p).reshape(1, 9, p * p, 1)
    image = np.asarray(stitch_patches(patches, grid))[0, :, :, 0]
    expected = np.kron(np.arange(9).reshape(3, 3), np.ones((p, p)))
    np.testing.assert_array_equal(image, expected)
    assert not np.array_equal(patches.reshape(1, 6, 6, 1)[0, :, :, 0], expected)


def test_overlapping_embedding_token_count_and_2p_windows():
    p, size = 4, 16
    layer = OverlappingPatchEmbedding(patch_size=p, hidden_dim=8)
    images = tf.constant(randn(1, size, size, 3))
    with tf.GradientTape() as tape:
        tape.watch(images)
        tokens = layer(images)
        grid = size // p
        token = tokens[0, 1 + grid + 1]  # patch (1, 1), after CLS
        loss = tf.reduce_sum(token * tf.constant(randn(8, seed=2)))
    assert tokens.shape == (1, 1 + grid * grid, 8)
    support = np.abs(tape.gradient(loss, images).numpy()[0]).sum(-1) > 0
    # Patch (1, 1) covers pixels [4, 8); it sees P/2 = 2 more on each side: [2, 10).
    expected = np.zeros((size, size), bool)
    expected[2:10, 2:10] = True
    np.testing.assert_array_equal(support, expected)


def test_overlapping_embedding_matches_numpy():
    p, size, d = 2, 4, 3
    layer = OverlappingPatchEmbedding(patch_size=p, hidden_dim=d)
    images = randn(2, size, size, 3)
    out = np.asarray(layer(images))
    conv = layer.projection
    kernel = ref.isn_kernel(ref.w(conv.layer.kernel), ref.w(conv.u), float(conv.sigma_init.numpy()))
    padded = np.pad(images.astype(np.float64), ((0, 0), (p // 2, p // 2), (p // 2, p // 2), (0, 0)))
    grid = size // p
    tokens = np.stack([
        np.einsum("bhwc,hwcd->bd", padded[:, i * p:i * p + 2 * p, j * p:j * p + 2 * p], kernel)
        for i in range(grid) for j in range(grid)], axis=1) + ref.w(conv.layer.bias)
    pos = ref.sine_embedding(np.asarray(layer.position.coordinates, np.float64),
                             ref.w(layer.position.kernel), ref.w(layer.position.bias), 30.0)
    cls = ref.w(layer.cls_token) + ref.w(layer.cls_position)
    expected = np.concatenate([np.broadcast_to(cls, (2, 1, d)), tokens + pos], axis=1)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_serialization_and_mixed_precision():
    images = randn(2, 8, 8, 3)
    assert_roundtrip(OverlappingPatchEmbedding(4, 8), images)
    assert_mixed_precision(lambda dtype: OverlappingPatchEmbedding(4, 8, dtype=dtype), images)


def test_bad_image_size():
    with pytest.raises(ValueError, match="divisible by patch_size=4"):
        OverlappingPatchEmbedding(4, 8)(randn(1, 10, 10, 3))


def test_non_overlapping_embedding_sees_only_its_own_patch():
    # The ablation's plain ViT patches: kernel P, token (1, 1) depends on pixels [4, 8) only.
    p, size = 4, 16
    layer = OverlappingPatchEmbedding(patch_size=p, hidden_dim=8, overlapping=False)
    images = tf.constant(randn(1, size, size, 3))
    with tf.GradientTape() as tape:
        tape.watch(images)
        tokens = layer(images)
        loss = tf.reduce_sum(tokens[0, 1 + size // p + 1] * tf.constant(randn(8, seed=2)))
    support = np.abs(tape.gradient(loss, images).numpy()[0]).sum(-1) > 0
    expected = np.zeros((size, size), bool)
    expected[4:8, 4:8] = True
    np.testing.assert_array_equal(support, expected)
    assert layer.projection.layer.kernel.shape == (p, p, 3, 8)
    # The same layer as a matmul of each flattened patch (NumPy), position embedding added.
    conv = layer.projection
    kernel = ref.isn_kernel(ref.w(conv.layer.kernel), ref.w(conv.u), float(conv.sigma_init.numpy()))
    x = images.numpy().astype(np.float64)
    patches = ref.patchify(x, p).reshape(1, (size // p) ** 2, -1)
    pos = ref.sine_embedding(np.asarray(layer.position.coordinates, np.float64),
                             ref.w(layer.position.kernel), ref.w(layer.position.bias), 30.0)
    expected_tokens = patches @ kernel.reshape(-1, 8) + ref.w(conv.layer.bias) + pos
    np.testing.assert_allclose(np.asarray(tokens)[:, 1:], expected_tokens, rtol=1e-4, atol=1e-4)
    assert_roundtrip(layer, images.numpy())
