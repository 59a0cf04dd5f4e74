"""Pixel likelihoods: proper probability masses, correct gradients, sensible means."""

import math

import pytest
import torch

from latentforge.errors import ConfigError
from latentforge.nn.likelihoods import get_likelihood

LEVELS = (torch.arange(256).float() / 255).view(256, 1, 1, 1)


@pytest.mark.parametrize("name", ["logistic", "gaussian"])
@pytest.mark.parametrize("loc,log_scale", [(0.3, -2.0), (-0.99, -5.0), (0.0, 1.0), (0.5, -6.9), (3.0, -7.0)])
def test_discretized_mass_sums_to_one(name, loc, log_scale):
    lik = get_likelihood(name)
    params = torch.tensor([loc, log_scale]).view(1, 2, 1, 1).expand(256, 2, 1, 1).clone().requires_grad_()
    log_p = lik.log_prob(params, LEVELS)
    assert log_p.exp().sum().item() == pytest.approx(1.0, abs=1e-4)
    log_p.sum().backward()
    assert torch.isfinite(params.grad).all()


def test_logistic_matches_direct_cdf_difference():
    lik = get_likelihood("logistic")
    loc, log_scale, x = 0.1, -1.5, 140 / 255
    params = torch.tensor([loc, log_scale]).view(1, 2, 1, 1)
    s = math.exp(log_scale)
    xs = 2 * x - 1
    expected = math.log(1 / (1 + math.exp(-(xs + 1 / 255 - loc) / s)) - 1 / (1 + math.exp(-(xs - 1 / 255 - loc) / s)))
    assert lik.log_prob(params, torch.tensor([[[[x]]]])).item() == pytest.approx(expected, rel=1e-4)


def test_bernoulli_is_negative_cross_entropy():
    lik = get_likelihood("bernoulli")
    logits = torch.tensor([[[[2.0, -1.0]]]])
    x = torch.tensor([[[[1.0, 0.0]]]])
    expected = (math.log(torch.sigmoid(torch.tensor(2.0)).item())
                + math.log(1 - torch.sigmoid(torch.tensor(-1.0)).item()))
    assert lik.log_prob(logits, x).item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", ["bernoulli", "logistic", "gaussian"])
def test_mean_and_samples_are_images(name):
    lik = get_likelihood(name)
    params = torch.randn(3, lik.params_per_channel * 2, 5, 5) * 3
    for img in (lik.mean(params), lik.sample(params, torch.Generator().manual_seed(0))):
        assert img.shape == (3, 2, 5, 5) and img.min() >= 0 and img.max() <= 1


def test_unknown_likelihood_lists_choices():
    with pytest.raises(ConfigError, match="bernoulli"):
        get_likelihood("poisson")
