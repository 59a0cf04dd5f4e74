"""The contrastive VAE's pieces: random views, the NT-Xent loss, and an objective that trains both terms."""

import math

import torch

from latentforge.models import build_model
from latentforge.nn.views import nt_xent, random_views


def test_views_without_change_are_the_images():
    x = torch.rand(5, 1, 12, 12)
    assert torch.allclose(random_views(x, zoom=0.0, shift=0.0, flip=False), x, atol=1e-5)


def test_views_mirror_and_differ_per_image():
    x = torch.rand(64, 1, 12, 12)
    v = random_views(x, zoom=0.0, shift=0.0, flip=True, generator=torch.Generator().manual_seed(0))
    mirrored = [bool(torch.allclose(v[i], x[i].flip(-1), atol=1e-5)) for i in range(64)]
    kept = [bool(torch.allclose(v[i], x[i], atol=1e-5)) for i in range(64)]
    assert all(m or k for m, k in zip(mirrored, kept)) and 10 < sum(mirrored) < 54


def test_nt_xent_rewards_matching_pairs():
    a = torch.randn(32, 16)
    matched = nt_xent(a, a + 0.01 * torch.randn_like(a), temperature=0.1).mean()
    unmatched = nt_xent(a, torch.randn(32, 16), temperature=0.1).mean()
    assert matched < 1.0 < unmatched
    # With every projection the same, each pick is a uniform guess among the 2N − 1 others.
    same = nt_xent(torch.ones(8, 4), torch.ones(8, 4))
    assert torch.allclose(same, torch.full((8,), math.log(15)), atol=1e-5)


STEPS = 100


def test_objective_reports_both_terms_and_trains():
    torch.manual_seed(0)
    model = build_model("contrastive-vae", {"image_shape": (1, 16, 16), "latent_dim": 8, "channels": 8,
                                             "blocks": 0, "head_width": 16, "contrastive_weight": 1000.0})
    x = torch.rand(16, 1, 16, 16)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    contrastive = []
    for _ in range(STEPS):
        out = model((x, None))
        assert set(out) >= {"loss", "rec", "kl", "elbo", "contrastive"}
        contrastive.append(float(out["contrastive"].detach()))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    # The views are drawn afresh each step, so compare the first and last tenths of the run.
    tenth = STEPS // 10
    assert sum(contrastive[-tenth:]) < sum(contrastive[:tenth])
    # Evaluation is the VAE's exact ELBO on the images themselves, with no views drawn.
    model.eval()
    with torch.no_grad():
        a, b = model.evaluate_batch((x, None))["elbo"], model.evaluate_batch((x, None))["elbo"]
    assert a.shape == (16,) and torch.isfinite(a).all()
    assert (a - b).abs().max() < (a.abs().max() * 0.2)
