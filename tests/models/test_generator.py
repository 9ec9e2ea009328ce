import keras
import numpy as np
import pytest

from tests.helpers import mixed_and_float32, randn
from vitgan_tf.layers import patchify
from vitgan_tf.models import Generator, ViTGANConfig, get_config


def test_tiny_output_shape_dtype_and_scale():
    g = Generator("tiny")
    images = np.asarray(g(randn(3, 32)))
    assert images.shape == (3, 16, 16, 3) and images.dtype == np.float32
    assert np.all(np.isfinite(images)) and np.abs(images).max() < 10


@pytest.mark.parametrize("preset,size", [("32", 32), ("64", 64)])
def test_paper_presets(preset, size):
    g = Generator(preset)
    cfg = g.vitgan_config
    assert (cfg.g_hidden_dim, cfg.g_mlp_dim, cfg.g_num_heads) == (384, 1536, 6)
    assert cfg.g_grid_size == 8 and len(g.blocks) == {"32": 4, "64": 6}[preset]
    images = np.asarray(g(randn(2, 384)))
    assert images.shape == (2, size, size, 3)
    assert np.all(np.isfinite(images)) and np.abs(images).max() < 10


def test_patch_i_of_the_image_is_the_decoder_output_for_token_i():
    g = Generator("tiny")
    z = randn(2, 32)
    w = g.mapping(z)
    h = np.broadcast_to(np.asarray(g.position()), (2, 16, 32))
    for block in g.blocks:
        h = block(h, w)
    patches = np.asarray(g.decoder(g.final_norm(h, w)))
    np.testing.assert_allclose(np.asarray(patchify(g(z), 4)), patches, rtol=1e-5, atol=1e-6)


def test_z_enters_only_through_the_self_modulated_norms():
    g = Generator("tiny")
    z1, z2 = randn(1, 32, seed=1), randn(1, 32, seed=2)
    assert np.abs(np.asarray(g(z1)) - np.asarray(g(z2))).max() > 1e-3
    # Make every SLN's gamma and beta constant in w: the image no longer depends on z.
    for v in g.weights:
        if "sln" in v.path and v.path.endswith("kernel"):
            v.assign(np.zeros(v.shape, "float32"))
    np.testing.assert_allclose(np.asarray(g(z1)), np.asarray(g(z2)), rtol=1e-5, atol=1e-5)


def test_truncation_trick_and_w_avg():
    g = Generator("tiny")
    z = randn(4, 32)
    w = g.mapping(z)
    g.update_w_avg(*g.w_statistics(w))
    beta = g.vitgan_config.w_avg_beta
    np.testing.assert_allclose(g.w_avg.numpy(), (1 - beta) * np.asarray(w).mean(0), rtol=1e-5)
    # psi = 0 maps every z to w_avg; psi = 1 is the plain generator.
    same = np.asarray(g(z, truncation_psi=0.0))
    np.testing.assert_allclose(same, np.broadcast_to(same[:1], same.shape), atol=1e-5)
    expected = np.asarray(g.synthesize(np.broadcast_to(g.w_avg.numpy(), (4, 32))))
    np.testing.assert_allclose(same, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(g(z, truncation_psi=1.0)), np.asarray(g(z)))
    half = np.asarray(g.synthesize(g.w_avg.numpy() + 0.5 * (np.asarray(w) - g.w_avg.numpy())))
    np.testing.assert_allclose(np.asarray(g(z, truncation_psi=0.5)), half, rtol=1e-5, atol=1e-5)


def conditional_tiny(num_classes=4):
    return Generator(get_config("tiny").replace(num_classes=num_classes))


def test_per_class_w_avg_moves_only_the_classes_in_the_batch():
    g = conditional_tiny()
    start = randn(4, 32, seed=3)
    g.w_avg.assign(start)
    z, labels = randn(5, 32), np.array([1, 1, 3, 1, 3])
    w = np.asarray(g.mapping(z, labels=labels), dtype=np.float64)
    g.update_w_avg(*g.w_statistics(w, labels))
    beta = g.vitgan_config.w_avg_beta
    expected = start.astype(np.float64)
    for c in (1, 3):
        expected[c] = beta * start[c] + (1 - beta) * w[labels == c].mean(0)
    np.testing.assert_allclose(g.w_avg.numpy(), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(g.w_avg.numpy()[[0, 2]], start[[0, 2]])


def test_conditional_truncation_pulls_toward_the_class_mean():
    g = conditional_tiny()
    g.w_avg.assign(randn(4, 32, seed=3))
    z, labels = randn(3, 32), np.array([2, 0, 2])
    w = np.asarray(g.mapping(z, labels=labels))
    means = g.w_avg.numpy()[labels]
    np.testing.assert_allclose(np.asarray(g(z, labels=labels, truncation_psi=0.0)),
                               np.asarray(g.synthesize(means)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(g(z, labels=labels, truncation_psi=0.5)),
                               np.asarray(g.synthesize(means + 0.5 * (w - means))),
                               rtol=1e-5, atol=1e-5)


def test_conditional_generator_draws_by_class():
    g = conditional_tiny()
    z = np.repeat(randn(1, 32), 2, axis=0)
    images = np.asarray(g(z, labels=np.array([0, 3])))
    assert np.abs(images[0] - images[1]).max() > 1e-3  # same z, another class
    np.testing.assert_allclose(np.asarray(g(z[:1], labels=np.array([3])))[0], images[1],
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="pass `labels`"):
        g(z)
    with pytest.raises(ValueError, match="num_classes"):
        get_config("tiny").replace(num_classes=-2)


def test_conditional_keras_save_load_round_trip(tmp_path):
    g = conditional_tiny()
    g.w_avg.assign(randn(4, 32))
    z, labels = randn(2, 32), np.array([3, 1])
    g.save(str(tmp_path / "g.keras"))
    loaded = keras.saving.load_model(str(tmp_path / "g.keras"))
    assert loaded.vitgan_config.num_classes == 4
    np.testing.assert_array_equal(np.asarray(loaded(z, labels=labels, truncation_psi=0.7)),
                                  np.asarray(g(z, labels=labels, truncation_psi=0.7)))


def test_keras_save_load_round_trip(tmp_path):
    g = Generator("tiny")
    g.w_avg.assign(randn(32))
    z = randn(2, 32)
    path = str(tmp_path / "g.keras")
    g.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.vitgan_config == g.vitgan_config
    np.testing.assert_array_equal(np.asarray(loaded(z, truncation_psi=0.7)),
                                  np.asarray(g(z, truncation_psi=0.7)))


def test_mixed_precision():
    mixed, ref = mixed_and_float32(Generator, "tiny")
    z = randn(2, 32)
    out = np.asarray(mixed(z))
    assert out.dtype == np.float32 and mixed.blocks[0].compute_dtype == "float16"
    np.testing.assert_allclose(out, np.asarray(ref(z)), atol=5e-2)


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="g_patch_size"):
        ViTGANConfig(image_size=30)
    with pytest.raises(ValueError, match="Unknown preset"):
        get_config("256")
    with pytest.raises(ValueError, match="Unknown ViTGANConfig fields"):
        get_config({"image_sise": 32})


def test_z_changes_the_image_substantially_at_init():
    # The SLN affine maps of w start at variance 1/fan_in (as StyleGAN's style affines): with the
    # 0.02 init of ViT linear layers the images of different z were nearly identical and
    # training collapsed to one image.
    g = Generator("digits")
    images = g(randn(64, g.vitgan_config.latent_dim)).numpy()
    between = images.std(axis=0).mean()
    within = images.std(axis=(1, 2, 3)).mean()
    assert between > 0.5 * within, (between, within)


def test_ablation_switch_values_are_checked_and_old_configs_load():
    with pytest.raises(ValueError, match="g_decoder"):
        ViTGANConfig(g_decoder="cnn")
    with pytest.raises(ValueError, match="d_norm"):
        ViTGANConfig(d_norm="layer")
    # 0.2.0 wrote d_spectral_norm: True/False.
    assert get_config({"d_spectral_norm": False}).d_norm == "none"
    assert get_config({"d_spectral_norm": True}).d_norm == "isn"


def test_linear_decoder_patch_i_is_a_linear_map_of_token_i():
    from vitgan_tf.layers import LinearPatchDecoder

    g = Generator(get_config("tiny").replace(g_decoder="linear"))
    assert isinstance(g.decoder, LinearPatchDecoder)
    z = randn(2, 32)
    images = np.asarray(g(z))
    assert images.shape == (2, 16, 16, 3)
    w = g.mapping(z)
    h = np.broadcast_to(np.asarray(g.position()), (2, 16, 32))
    for block in g.blocks:
        h = block(h, w)
    y = np.asarray(g.final_norm(h, w), np.float64)
    expected = y @ np.asarray(g.decoder.projection.kernel) + np.asarray(g.decoder.projection.bias)
    np.testing.assert_allclose(np.asarray(patchify(images, 4)), expected.reshape(2, 16, 16, 3),
                               rtol=1e-4, atol=1e-5)


def test_additive_conditioning_z_enters_only_through_the_input_embedding():
    g = Generator(get_config("tiny").replace(g_conditioning="additive"))
    assert not any("sln" in v.path for v in g.weights)
    z1, z2 = randn(1, 32, seed=1), randn(1, 32, seed=2)
    assert np.abs(np.asarray(g(z1)) - np.asarray(g(z2))).max() > 1e-3
    # With the style embedding's kernel zeroed, z no longer reaches the transformer, and the
    # decoder is modulated by the tokens only: every z gives the same image.
    g.style_embedding.kernel.assign(np.zeros(g.style_embedding.kernel.shape, "float32"))
    np.testing.assert_allclose(np.asarray(g(z1)), np.asarray(g(z2)), rtol=1e-5, atol=1e-5)
    mixed, ref_g = mixed_and_float32(Generator, get_config("tiny").replace(
        g_conditioning="additive"))
    out = np.asarray(mixed(z1), np.float32)
    np.testing.assert_allclose(out, np.asarray(ref_g(z1)), atol=5e-2)


def test_tanh_output_bounds_the_linear_image():
    linear = Generator("tiny")
    bounded = Generator(get_config("tiny").replace(g_output="tanh"))
    bounded.set_weights(linear.get_weights())
    z = randn(4, 32, scale=3.0)
    raw = np.asarray(linear(z))
    out = np.asarray(bounded(z))
    np.testing.assert_allclose(out, np.tanh(raw), rtol=1e-5, atol=1e-6)
    assert np.all(np.abs(out) < 1)
