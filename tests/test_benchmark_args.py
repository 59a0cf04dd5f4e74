"""The benchmark scripts' option handling: defaults per mode and clear errors for impossible values.

The benchmarks themselves are long runs (``make bench``); these checks only parse arguments, so they are cheap.
"""

import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield lambda name: importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.mark.parametrize("name, full, quick", [
    ("vae_vs_pythae", {"epochs": 5, "k": 1000, "nll_images": 500}, {"epochs": 1, "k": 8, "nll_images": 32}),
    ("train_throughput", {"steps": 150, "warmup": 10, "repeats": 3}, {"steps": 6, "warmup": 2, "repeats": 1}),
    ("gan_fashion", {"epochs": 3, "vae_epochs": 10, "samples": 10000}, {"epochs": 1, "vae_epochs": 1, "samples": 64}),
    ("nll_mnist", {"k": 1000, "max_images": None}, {"k": 4, "max_images": 64}),
    ("restore", {"images": 1000}, {"images": 20}),
])
def test_mode_defaults(bench, name, full, quick):
    module = bench(name)
    for argv, expected in (([], full), (["--quick"], quick)):
        args = module.parse_args(argv)
        assert {key: getattr(args, key) for key in expected} == expected, argv
    # An option given on the command line wins over both modes' defaults.
    key = next(iter(full))
    if full[key] is not None:
        assert getattr(module.parse_args(["--quick", f"--{key.replace('_', '-')}", "7"]), key) == 7


@pytest.mark.parametrize("name, argv, message", [
    ("vae_vs_pythae", ["--epochs", "0"], "--epochs must be ≥ 1 (got 0)"),
    ("vae_vs_pythae", ["--k", "0", "--nll-images", "-1"], "--k must be ≥ 1 (got 0); --nll-images must be ≥ 1 (got -1)"),
    ("train_throughput", ["--warmup", "-1"], "--warmup must be ≥ 0 (got -1)"),
    ("gan_fashion", ["--samples", "1"], "--samples must be ≥ 2 (got 1)"),
    ("nll_mnist", ["--k", "0"], "--k must be ≥ 1 (got 0)"),
    ("restore", ["--images", "0"], "--images must be ≥ 1 (got 0)"),
    ("represent_fashion", ["--model", "m", "--k", "0"], "--k must be ≥ 1 (got 0)"),
    ("represent_fashion", [], "--model RUN is required"),
    ("natural_cifar10", [], "nothing to evaluate: give --vae, --hvae and/or --gan"),
    ("natural_cifar10", ["--vae", "r", "--nll-images", "0"], "--nll-images must be ≥ 1 (got 0)"),
    ("validate_photo_denoiser", ["m", "--sigma", "-1"], "--sigma must be in (0, 255] and --side ≥ 16 (got -1 and 256)"),
])
def test_impossible_values_are_refused(bench, capsys, name, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        bench(name).parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_natural_cifar10_mode_defaults(bench):
    parse = bench("natural_cifar10").parse_args
    keys = ("k", "nll_images", "samples")
    assert [getattr(parse(["--vae", "r"]), key) for key in keys] == [1000, 10000, 10000]
    assert [getattr(parse(["--quick"]), key) for key in keys] == [4, 32, 64]
    assert parse(["--quick", "--k", "7"]).k == 7


def test_natural_cifar10_reports_the_tighter_bound_on_the_whole_test_set(bench):
    best_bound = bench("natural_cifar10").best_bound
    row = {"bpd_elbo": 4.2, "bpd_nll": 4.1, "bpd_elbo_same_images": 4.2, "k": 1000, "nll_images": 10000}
    assert best_bound(row) == (4.1, "importance-sampled NLL, k=1000, all test images")
    # An NLL over part of the test set is no test-set figure: the ELBO over all of it stands, the NLL is named.
    value, how = best_bound({**row, "nll_images": 500, "bpd_elbo_same_images": 4.25})
    assert value == 4.2 and "first 500" in how
    assert best_bound({**row, "bpd_nll": 4.3}) == (4.2, "ELBO, all test images")
    assert best_bound(None) == (None, None)
