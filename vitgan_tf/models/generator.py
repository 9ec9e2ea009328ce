"""The ViTGAN generator."""

import keras
from keras import ops

from vitgan_tf.layers import (
    GeneratorBlock,
    ImplicitPatchDecoder,
    LinearPatchDecoder,
    MappingNetwork,
    SelfModulatedLayerNorm,
    SinePositionEmbedding,
    stitch_patches,
)
from vitgan_tf.models.config import get_config


@keras.saving.register_keras_serializable(package="vitgan_tf")
class Generator(keras.Model):
    """ViTGAN generator: z -> image in [-1, 1] (Lee et al. 2022, sec. 4.2).

    w = Mapping(z); h_0 = E_pos (the transformer's only input); N blocks of
    h' = MSA(SLN(h, w)) + h, h = MLP(SLN(h', w)) + h'; y = SLN(h_N, w); each token y^i becomes a
    P x P patch through the implicit SIREN decoder; patches are stitched row-major. A running
    mean of w (`w_avg`, updated by the training step) enables the truncation trick.

    Class-conditional (`num_classes > 0`): the mapping network embeds the class id with z (see
    `MappingNetwork`), and w_avg holds one running mean per class, (num_classes, latent_dim),
    so truncation pulls toward the mean style of the class asked for; the mean over all
    classes is not an image of any of them.

    Self-conditioned (`self_conditioned`, num_classes clusters): the clusters are classes the
    generator picks itself when no labels are given (`labels_for`): cluster c for the fraction
    u = frac(64 z_0) of the first latent in [edge_{c-1}, edge_c), the edges being the
    cumulative shares of the clusters' sizes (`cluster_edges`, set by training). So clusters are
    drawn in proportion to their sizes, a seed keeps its image wherever z is made from it, and
    the exported model takes z alone.

    Ablation switches of the config: g_decoder="linear" maps each token to its patch with one
    Dense layer; g_conditioning="additive" adds a linear map of w to every input token and uses
    plain LayerNorms instead of SLN; g_output="tanh" bounds the image to (-1, 1).

    Args:
        config: a `ViTGANConfig`, a preset name ("32", "64", "128", "digits", "tiny") or a dict.

    Call arguments:
        z: (batch, latent_dim) latents.
        labels: (batch,) int class ids in [0, num_classes); required iff the model is
            conditional; optional for a self-conditioned one (default: `labels_for(z)`).
        truncation_psi: w' = w_avg + psi (w - w_avg); 1 disables it. Python float or tensor.
        training: training mode for the sub-layers.

    Returns: (batch, image_size, image_size, channels) float32 images.
    """

    def __init__(self, config="32", **kwargs):
        super().__init__(**kwargs)
        self.vitgan_config = cfg = get_config(config)
        policy = self.dtype_policy
        self.num_classes = cfg.num_classes
        self.mapping = MappingNetwork(cfg.latent_dim, cfg.mapping_layers,
                                      cfg.mapping_lr_multiplier, num_classes=cfg.num_classes,
                                      dtype=policy, name="mapping")
        # sin of tens of radians needs float32.
        self.position = SinePositionEmbedding(cfg.g_grid_size, cfg.g_hidden_dim,
                                              omega_0=cfg.omega_0, dtype="float32",
                                              name="position")
        modulated = cfg.g_conditioning == "sln"
        self.blocks = [
            GeneratorBlock(cfg.g_num_heads, cfg.g_hidden_dim // cfg.g_num_heads, cfg.g_mlp_dim,
                           modulated=modulated, dtype=policy, name=f"block_{i}")
            for i in range(cfg.g_depth)]
        if modulated:
            self.final_norm = SelfModulatedLayerNorm(dtype=policy, name="final_sln")
        else:
            self.style_embedding = keras.layers.Dense(cfg.g_hidden_dim, dtype=policy,
                                                      name="style_embedding")
            self.final_norm = keras.layers.LayerNormalization(epsilon=1e-5, dtype="float32",
                                                              name="final_ln")
        if cfg.g_decoder == "siren":
            self.decoder = ImplicitPatchDecoder(cfg.g_patch_size, cfg.channels, cfg.decoder_dim,
                                                cfg.decoder_layers, cfg.decoder_demodulate,
                                                omega_0=cfg.decoder_frequency, dtype=policy,
                                                name="decoder")
        else:
            self.decoder = LinearPatchDecoder(cfg.g_patch_size, cfg.channels, dtype=policy,
                                              name="decoder")
        self.build((None, cfg.latent_dim))

    def build(self, input_shape):
        cfg = self.vitgan_config
        style_shape = (None, cfg.latent_dim)
        tokens_shape = (None, cfg.g_grid_size**2, cfg.g_hidden_dim)
        self.mapping.build(style_shape)
        self.position.build()
        for block in self.blocks:
            block.build(tokens_shape, style_shape)
        if cfg.g_conditioning == "sln":
            self.final_norm.build(tokens_shape, style_shape)
        else:
            self.style_embedding.build(style_shape)
            self.final_norm.build(tokens_shape)
        self.decoder.build(tokens_shape)
        rows = (cfg.num_classes,) if cfg.num_classes else ()
        self.w_avg = self.add_weight(name="w_avg", shape=rows + (cfg.latent_dim,),
                                     initializer="zeros",
                                     trainable=False, dtype="float32",
                                     aggregation="only_first_replica")
        if cfg.self_conditioned:  # equal shares until training measures them
            k = cfg.num_classes
            self.cluster_edges = self.add_weight(
                name="cluster_edges", shape=(k - 1,), trainable=False, dtype="float32",
                initializer=keras.initializers.Constant([(c + 1) / k for c in range(k - 1)]),
                aggregation="only_first_replica")
        self.built = True

    def labels_for(self, z, labels=None):
        """`labels`, or for a self-conditioned model given none, the cluster of each z row:
        the number of `cluster_edges` at or below u = frac(64 z[:, 0]). u is close to uniform
        and nearly independent of z_0's value, and moves by at most 64 times a rounding
        difference of z."""
        if labels is not None or not self.vitgan_config.self_conditioned:
            return labels
        scaled = ops.cast(z[:, 0], "float32") * 64.0
        u = scaled - ops.floor(scaled)
        return ops.sum(ops.cast(u[:, None] >= self.cluster_edges[None, :], "int32"), axis=1)

    def set_cluster_shares(self, shares):
        """Sets `cluster_edges` from the clusters' shares of the real images (summing to 1)."""
        shares = ops.convert_to_tensor(shares, "float32")
        self.cluster_edges.assign(ops.cumsum(shares / ops.sum(shares))[:-1])

    def truncate(self, w, truncation_psi, labels=None):
        """w' = w_avg + psi (w - w_avg), w_avg being the mean of each row's class when the model
        is conditional."""
        if isinstance(truncation_psi, (int, float)) and truncation_psi == 1:
            return w
        w_avg = ops.cast(self.w_avg, w.dtype)
        if self.num_classes:
            w_avg = ops.take(w_avg, ops.cast(labels, "int32"), axis=0)
        return w_avg + ops.cast(truncation_psi, w.dtype) * (w - w_avg)

    def w_statistics(self, w, labels=None):
        """Sums and counts of the styles w by class, ((rows, latent_dim), (rows,)) in float32,
        rows being num_classes (or 1, unconditional): what `update_w_avg` takes, and what
        replicas add up before it."""
        w = ops.cast(w, "float32")
        if not self.num_classes:
            return ops.sum(w, axis=0, keepdims=True), ops.cast(ops.shape(w)[:1], "float32")
        onehot = ops.one_hot(ops.cast(labels, "int32"), self.num_classes, dtype="float32")
        return ops.matmul(ops.transpose(onehot), w), ops.sum(onehot, axis=0)

    def update_w_avg(self, sums, counts):
        """w_avg <- beta w_avg + (1 - beta) mean(w), per class, from `w_statistics`; a class
        with no sample in the batch keeps its mean. Called by the training step."""
        beta = self.vitgan_config.w_avg_beta
        means = sums / ops.maximum(counts, 1.0)[:, None]
        current = ops.reshape(self.w_avg, ops.shape(means))
        updated = ops.where(counts[:, None] > 0, beta * current + (1.0 - beta) * means, current)
        self.w_avg.assign(ops.reshape(updated, ops.shape(self.w_avg)))

    @property
    def num_ws(self):
        """How many places take a style w (`ViTGANConfig.num_ws`)."""
        return self.vitgan_config.num_ws

    def synthesize(self, w, training=False):
        """Images from styles w: (batch, latent_dim), one style everywhere, or
        (batch, num_ws, latent_dim), one per place ("W+": block i takes w[:, i], the final SLN
        w[:, -1]), for style mixing and the projector."""
        cfg = self.vitgan_config
        if len(w.shape) == 3:
            if w.shape[1] != self.num_ws:
                raise ValueError(f"w of shape {tuple(w.shape)}: expected (batch, {self.num_ws}, "
                                 f"{cfg.latent_dim}), one style per place that takes one.")
            ws = [w[:, i] for i in range(self.num_ws)]
        else:
            ws = [w] * self.num_ws
        batch = ops.shape(w)[0]
        h = ops.cast(self.position(), self.compute_dtype)
        h = ops.broadcast_to(h, (batch, cfg.g_grid_size**2, cfg.g_hidden_dim))
        modulated = cfg.g_conditioning == "sln"
        if not modulated:
            h = h + ops.expand_dims(self.style_embedding(ws[0]), 1)
        for i, block in enumerate(self.blocks):
            h = block(h, ws[i] if modulated else ws[0], training=training)
        y = (self.final_norm(h, ws[-1]) if modulated
             else ops.cast(self.final_norm(h), self.compute_dtype))
        images = ops.cast(stitch_patches(self.decoder(y), cfg.g_grid_size), "float32")
        return ops.tanh(images) if cfg.g_output == "tanh" else images

    def styles(self, z, truncation_psi=1.0, labels=None):
        """The (truncated) styles w of latents z: what `call` synthesizes from."""
        labels = self.labels_for(z, labels)
        return self.truncate(self.mapping(z, labels=labels), truncation_psi, labels)

    def call(self, z, truncation_psi=1.0, training=False, labels=None):
        labels = self.labels_for(z, labels)
        w = self.mapping(z, labels=labels)
        return self.synthesize(self.truncate(w, truncation_psi, labels), training=training)

    def compute_output_shape(self, input_shape):
        cfg = self.vitgan_config
        return (input_shape[0], cfg.image_size, cfg.image_size, cfg.channels)

    def get_config(self):
        base = super().get_config()
        for key in ("trainable",):
            base.pop(key, None)
        return {**base, "config": self.vitgan_config.to_dict()}
