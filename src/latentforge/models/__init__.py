"""Model families. Importing this package registers every built-in model."""

from . import (  # noqa: F401  (registration side effects)  # noqa: F401  (VAE variants, issue 3)  # noqa: F401  (GAN family)
    autoencoder,
    cgan,
    contrastive_vae,
    cvae,
    fcvae,
    gan,
    hvae,  # noqa: F401
    iwae,
    restorer,
    sngan,
    vae,
    vae_gan,
    vamp_vae,
    vq_vae,
    wgan_gp,
)
from .base import GenerativeModel, ModelConfig, latent_of
from .capabilities import (
    Capability,
    SupportsAnySize,
    SupportsColorizing,
    SupportsContinuousCode,
    SupportsDenoising,
    SupportsImportanceWeights,
    SupportsInpainting,
    SupportsLatentGeneration,
    SupportsPosterior,
    SupportsUpscaling,
    require_capability,
)
from .registry import available_models, build_model, config_from_dict, get_model_class, register
from .saving import load_model, save_model

__all__ = [
    "Capability", "GenerativeModel", "ModelConfig", "SupportsAnySize", "SupportsColorizing", "SupportsContinuousCode",
    "SupportsDenoising", "SupportsImportanceWeights", "SupportsInpainting", "SupportsLatentGeneration",
    "SupportsPosterior", "SupportsUpscaling", "available_models", "build_model",
    "config_from_dict", "get_model_class", "latent_of", "load_model", "register", "require_capability", "save_model",
]
