"""MotionDuet: MLD-style latent diffusion with text + video conditioning (DUET fusion, DASH loss).

* :mod:`.vae` -- MLD motion VAE (skip transformer, distribution tokens, length-free decoder);
* :mod:`.denoiser` -- epsilon-prediction transformer over latent tokens + condition tokens;
* :mod:`.duet` -- DUET fusion (addition, FFT / conv / dynamic-mask branches, text-only mode);
* :mod:`.dash` -- the DASH alignment loss;
* :mod:`.video` -- frozen video encoders (precomputed, VideoMAE, rendered stick figures + seeded CNN);
* :mod:`.video_learned` -- the stick-figure CNN trained contrastively against captions;
* :mod:`.model` -- :class:`MotionDuetModel` (one HubModel holding all trainable parts, presets).

Sampling lives in :class:`humo.pipelines.motionduet.MotionDuet`.
"""

from humo.models.motionduet.dash import DashOutput, dash_loss
from humo.models.motionduet.denoiser import DenoiserOutput, LatentDenoiser
from humo.models.motionduet.duet import DUET, DuetOutput, FourierFilter
from humo.models.motionduet.model import PRESETS, MotionDuetModel, MotionDuetOutput
from humo.models.motionduet.vae import MotionVAE, Posterior, VAEOutput
from humo.models.motionduet.video import (
    VIDEO_ENCODERS,
    StickVideoEncoder,
    VideoMAEEncoder,
    encode_video_input,
    load_video_encoder,
    render_stick_videos,
)
from humo.models.motionduet.video_learned import LearnedVideoEncoder

__all__ = ["DUET", "PRESETS", "VIDEO_ENCODERS", "DashOutput", "DenoiserOutput", "DuetOutput", "FourierFilter",
           "LatentDenoiser", "LearnedVideoEncoder", "MotionDuetModel", "MotionDuetOutput", "MotionVAE", "Posterior",
           "StickVideoEncoder",
           "VAEOutput", "VideoMAEEncoder", "dash_loss", "encode_video_input", "load_video_encoder",
           "render_stick_videos"]
