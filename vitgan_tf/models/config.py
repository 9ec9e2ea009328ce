"""Model configuration and the size presets of the ViTGAN paper."""

import dataclasses

# The values allowed for the string-valued switches.
CHOICES = {"g_decoder": ("siren", "linear"), "g_conditioning": ("sln", "additive"),
           "d_norm": ("isn", "sn", "none"), "d_attention": ("l2", "dot"),
           "d_arch": ("vit", "stylegan2"), "g_output": ("linear", "tanh")}


@dataclasses.dataclass(frozen=True)
class ViTGANConfig:
    """Sizes of a ViTGAN generator and discriminator.

    Defaults are the paper's 32x32 (CIFAR-10) model. Choices the paper leaves open are fields
    here; docs/model.md gives each one and why it has its default.
    """

    image_size: int = 32
    channels: int = 3
    # Generator.
    latent_dim: int = 384
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    g_patch_size: int = 4
    g_depth: int = 4
    g_hidden_dim: int = 384
    g_mlp_dim: int = 1536
    g_num_heads: int = 6
    decoder_dim: int = 128
    decoder_layers: int = 2
    decoder_demodulate: bool = True
    omega_0: float = 30.0
    # Frequency scale of the patch decoder's Fourier features E_fou; None: omega_0.
    decoder_omega_0: float | None = None
    w_avg_beta: float = 0.995
    # Class-conditional models: the number of classes (0: unconditional). The generator embeds
    # the class into w; the discriminator adds a projection term; w_avg is kept per class.
    num_classes: int = 0
    # Self-conditioning (Liu et al. 2020): num_classes counts clusters of the discriminator's
    # features of real images, not the data's classes. Training assigns each real image to its
    # nearest cluster centre; the generator picks a cluster from z itself (`Generator.labels_for`,
    # in proportion to the clusters' sizes), so users sample it as an unconditional model.
    self_conditioned: bool = False
    # Ablation switches (docs/model.md); the defaults are the paper's model.
    # Patch decoder: "siren" (implicit, modulated by each token) or "linear" (ViT's projection).
    g_decoder: str = "siren"
    # How w reaches the transformer: "sln" (self-modulated LayerNorm) or "additive" (a linear
    # map of w added to every input token, plain LayerNorm).
    g_conditioning: str = "sln"
    # The image: "linear" (the decoder's output as it is, as in the paper and StyleGAN) or
    # "tanh" (bounded to (-1, 1), as DCGAN's).
    g_output: str = "linear"
    # Discriminator: "vit" (the paper's ViT discriminator, the d_* fields below) or
    # "stylegan2" (the paper's hybrid: StyleGAN2's residual conv discriminator, d_conv_*).
    d_arch: str = "vit"
    # PacGAN (Lin et al. 2018): the discriminator scores packs of d_pack images stacked along
    # the channels, one logit per pack (1: one image per logit, the paper's).
    d_pack: int = 1
    # Minibatch standard deviation group size (0: off); None: the architecture's default,
    # 4 for stylegan2 (StyleGAN2's), off for vit (where it is a feature of the head's input).
    d_mbstd_group: int | None = None
    # StyleGAN2 discriminator: channels at the image size, doubled per 2x downsampling, capped.
    d_conv_channels: int = 128
    d_conv_max_channels: int = 512
    # ViT discriminator.
    d_patch_size: int = 4
    d_depth: int = 4
    d_hidden_dim: int = 384
    d_mlp_dim: int = 1536
    d_num_heads: int = 6
    # "isn" (improved spectral norm), "sn" (plain, sigma = 1) or "none".
    d_norm: str = "isn"
    # "l2" (tied W_q = W_k) or "dot" (vanilla ViT attention).
    d_attention: str = "l2"
    # Patch kernel 2P (True) or P (False).
    d_overlapping_patches: bool = True
    # Stddev of the discriminator's W_qk init: with ISN it sets the attention temperature.
    d_qk_init_std: float = 0.02

    def __post_init__(self):
        for name in ("image_size", "channels", "latent_dim", "mapping_layers", "g_patch_size",
                     "g_depth", "g_hidden_dim", "g_mlp_dim", "g_num_heads", "decoder_dim",
                     "decoder_layers", "d_patch_size", "d_depth", "d_hidden_dim", "d_mlp_dim",
                     "d_num_heads", "d_conv_channels", "d_conv_max_channels", "d_pack"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"ViTGANConfig.{name} must be positive, got {getattr(self, name)}.")
        for name in ("g", "d"):
            patch = getattr(self, f"{name}_patch_size")
            if self.image_size % patch:
                raise ValueError(
                    f"ViTGANConfig.image_size={self.image_size} must be divisible by "
                    f"{name}_patch_size={patch}.")
            dim, heads = getattr(self, f"{name}_hidden_dim"), getattr(self, f"{name}_num_heads")
            if dim % heads:
                raise ValueError(
                    f"ViTGANConfig.{name}_hidden_dim={dim} must be divisible by "
                    f"{name}_num_heads={heads}.")
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"ViTGANConfig.{name} must be one of {allowed}, "
                                 f"got {getattr(self, name)!r}.")
        if self.d_mbstd_group is not None and self.d_mbstd_group < 0:
            raise ValueError(f"ViTGANConfig.d_mbstd_group must be >= 0 or None, got "
                             f"{self.d_mbstd_group}.")
        if self.num_classes < 0:
            raise ValueError(f"ViTGANConfig.num_classes must be >= 0, got {self.num_classes}.")
        if self.self_conditioned and self.num_classes < 2:
            raise ValueError(f"ViTGANConfig.self_conditioned needs num_classes >= 2 clusters, "
                             f"got {self.num_classes}.")
        if self.d_pack > 1 and self.num_classes:
            raise ValueError(f"ViTGANConfig.d_pack={self.d_pack}: packing needs an "
                             "unconditional model (a pack's images have different classes).")
        if not 0.0 <= self.w_avg_beta < 1.0:
            raise ValueError(f"ViTGANConfig.w_avg_beta must be in [0, 1), got {self.w_avg_beta}.")

    @property
    def user_classes(self):
        """The classes a user asks for: num_classes, or 0 for an unconditional or a
        self-conditioned model (whose clusters the generator picks itself)."""
        return 0 if self.self_conditioned else self.num_classes

    @property
    def decoder_frequency(self):
        return self.omega_0 if self.decoder_omega_0 is None else self.decoder_omega_0

    def mbstd_group(self, arch=None):
        """Minibatch-stddev group size of the discriminator (0: off)."""
        if self.d_mbstd_group is not None:
            return self.d_mbstd_group
        return 4 if (arch or self.d_arch) == "stylegan2" else 0

    @property
    def num_ws(self):
        """How many places of the generator take a style w: each block's two SLNs and the final
        SLN before the decoder (g_depth + 1); 1 for the additive ablation, whose w enters once."""
        return self.g_depth + 1 if self.g_conditioning == "sln" else 1

    @property
    def g_grid_size(self):
        return self.image_size // self.g_patch_size

    @property
    def d_grid_size(self):
        return self.image_size // self.d_patch_size

    def to_dict(self):
        return dataclasses.asdict(self)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values):
        values = dict(values)
        if "d_spectral_norm" in values:  # Configs written by 0.2.0 and earlier.
            values.setdefault("d_norm", "isn" if values.pop("d_spectral_norm") else "none")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"Unknown ViTGANConfig fields: {sorted(unknown)}.")
        return cls(**values)


# The paper's size table (docs/model.md). For 128 the paper gives no patch size or depth.
PRESETS = {
    "32": ViTGANConfig(),
    "64": ViTGANConfig(image_size=64, g_patch_size=8, g_depth=6, d_patch_size=8, d_depth=6),
    "128": ViTGANConfig(image_size=128, g_patch_size=16, g_depth=6, d_patch_size=16, d_depth=6),
    # CPU demo on upscaled 8x8 digits (grayscale).
    "digits": ViTGANConfig(image_size=16, channels=1, latent_dim=64, mapping_layers=2,
                           g_patch_size=4, g_depth=2, g_hidden_dim=64, g_mlp_dim=128, g_num_heads=2,
                           decoder_dim=32, d_patch_size=4, d_depth=2, d_hidden_dim=64,
                           d_mlp_dim=128, d_num_heads=2),
    # CPU preset for Fashion-MNIST at its native 28x28 (7x7 tokens of 4x4 pixels). The decoder's
    # Fourier features use omega_0 = 4: at 30 neighbouring pixels of a 4x4 patch were nearly
    # uncorrelated and the samples showed per-pixel noise (docs/model.md, README).
    "fashion": ViTGANConfig(image_size=28, channels=1, latent_dim=128, mapping_layers=4,
                            g_patch_size=4, g_depth=3, g_hidden_dim=128, g_mlp_dim=512,
                            g_num_heads=4, decoder_dim=64, decoder_omega_0=4.0, d_patch_size=4,
                            d_depth=3, d_hidden_dim=128, d_mlp_dim=512, d_num_heads=4),
    # Tests.
    "tiny": ViTGANConfig(image_size=16, latent_dim=32, mapping_layers=2, g_patch_size=4,
                         g_depth=1, g_hidden_dim=32, g_mlp_dim=64, g_num_heads=2, decoder_dim=16,
                         d_patch_size=4, d_depth=1, d_hidden_dim=32, d_mlp_dim=64, d_num_heads=2),
}


def get_config(preset_or_config):
    """A `ViTGANConfig` from a preset name, a dict of fields or a config."""
    if isinstance(preset_or_config, ViTGANConfig):
        return preset_or_config
    if isinstance(preset_or_config, dict):
        return ViTGANConfig.from_dict(preset_or_config)
    key = str(preset_or_config)
    if key not in PRESETS:
        raise ValueError(f"Unknown preset {preset_or_config!r}; expected one of {sorted(PRESETS)}.")
    return PRESETS[key]
