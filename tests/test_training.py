"""Trainer: the loss falls, resume continues exactly, bad states stop clearly and keep the checkpoint."""

import json
import math

import pytest
import torch

from latentforge.errors import CheckpointError, TrainingError
from latentforge.jobs.evaluate import evaluator
from latentforge.models import build_model, load_model
from latentforge.training import TrainConfig, Trainer, read_metrics
from latentforge.training.checkpoint import find_checkpoint

from conftest import TINY_MODEL


def make_trainer(train, test, run_dir, **overrides):
    torch.manual_seed(0)
    model = build_model("vae", {**TINY_MODEL, "image_shape": train.shape})
    config = TrainConfig(**{"epochs": 2, "batch_size": 16, "lr": 3e-3, "log_every": 1, "warmup_steps": 2,
                            "eval_batch_size": 16, **overrides})
    return Trainer(model, train, test, config, run_dir, progress=False, evaluate=evaluator(config))


def train_losses(run_dir):
    return {r["step"]: r["loss"] for r in read_metrics(run_dir / "metrics.jsonl") if r["event"] == "train"}


def test_loss_falls_and_everything_is_written(tiny_train, tiny_test, tmp_path):
    trainer = make_trainer(tiny_train, tiny_test, tmp_path, epochs=6)
    metrics = trainer.fit()
    losses = train_losses(tmp_path)
    assert len(losses) == 6 * 4
    first, last = sum(list(losses.values())[:4]) / 4, sum(list(losses.values())[-4:]) / 4
    assert last < 0.8 * first
    assert {"loss", "elbo", "kl", "rec", "mse", "psnr", "bits_per_dim"} <= set(metrics)
    records = [r for r in read_metrics(tmp_path / "metrics.jsonl") if r["event"] == "train"]
    for r in (records[0], records[10], records[-1]):  # the rate the optimiser used for that step
        assert r["lr"] == pytest.approx(trainer.config.learning_rate(r["step"] - 1, trainer.total_steps))
    evals = [r for r in read_metrics(tmp_path / "metrics.jsonl") if r["event"] == "eval"]
    assert [r["epoch"] for r in evals] == list(range(1, 7))
    seconds = [r["train_seconds"] for r in evals]  # wall seconds so far: positive and growing
    assert seconds[0] > 0 and all(b > a for a, b in zip(seconds, seconds[1:]))
    for name in ("model.safetensors", "config.json", "training.json", "trainer.safetensors", "trainer.json"):
        assert (tmp_path / "model" / name).is_file()
    training = json.loads((tmp_path / "model" / "training.json").read_text())
    assert training["steps"] == 24 and training["epochs_completed"] == 6
    resolved = "cuda" if torch.cuda.is_available() else "cpu"  # what "auto" resolved to
    assert training["train"]["device"] == "auto" and training["device"] == resolved
    assert load_model(tmp_path / "model").config_dict() == trainer.model.config_dict()


@pytest.mark.parametrize("stop_at", [3, 4, 6])  # mid-epoch, exactly at an epoch end, in the second epoch
def test_resume_gives_the_same_losses_as_an_uninterrupted_run(tiny_train, tiny_test, tmp_path, stop_at):
    full_dir, split_dir = tmp_path / "full", tmp_path / "split"
    make_trainer(tiny_train, tiny_test, full_dir).fit()
    make_trainer(tiny_train, tiny_test, split_dir, max_steps=stop_at).fit()
    assert max(train_losses(split_dir)) == stop_at
    first_session = json.loads((split_dir / "model" / "training.json").read_text())["train_seconds"]
    # A fresh process would rebuild everything: a new model with other weights, RNG in another state.
    torch.manual_seed(1234)
    resumed = make_trainer(tiny_train, tiny_test, split_dir)
    torch.manual_seed(999)
    resumed.fit(resume=True)
    full, split = train_losses(full_dir), train_losses(split_dir)
    assert full.keys() == split.keys()
    assert [full[s] for s in sorted(full)] == [split[s] for s in sorted(split)]  # bit-exact, not approximately
    a, b = load_model(full_dir / "model").state_dict(), load_model(split_dir / "model").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # The training time carries over the stop: the record counts both sessions, not just the last one.
    total = json.loads((split_dir / "model" / "training.json").read_text())["train_seconds"]
    assert 0 < first_session < total <= resumed.train_seconds + 0.01


def test_weight_averaging_saves_the_moving_average_and_resumes_exactly(tiny_train, tiny_test, tmp_path):
    decay = 0.75
    trainer = make_trainer(tiny_train, tiny_test, tmp_path / "full", ema_decay=decay)
    raw_after_each_step = []
    after_step = trainer.model.after_step

    def record(step):
        after_step(step)
        raw_after_each_step.append({k: v.detach().clone() for k, v in trainer.model.state_dict().items()})

    trainer.model.after_step = record
    trainer.fit()
    expected = dict(raw_after_each_step[0])  # the average starts at the first step's weights
    for raw in raw_after_each_step[1:]:
        expected = {k: decay * expected[k] + (1 - decay) * raw[k] for k in expected}
    saved = load_model(tmp_path / "full" / "model").state_dict()
    assert all(torch.allclose(saved[k], expected[k], atol=1e-6) for k in expected)
    last_raw = raw_after_each_step[-1]
    assert any(not torch.allclose(saved[k], last_raw[k]) for k in saved)  # the average, not the last weights

    split_dir = tmp_path / "split"
    make_trainer(tiny_train, tiny_test, split_dir, ema_decay=decay, max_steps=3).fit()
    make_trainer(tiny_train, tiny_test, split_dir, ema_decay=decay).fit(resume=True)
    resumed = load_model(split_dir / "model").state_dict()
    assert all(torch.equal(saved[k], resumed[k]) for k in saved)  # raw weights and average both carried over
    with pytest.raises(CheckpointError, match="weight averaging"):
        make_trainer(tiny_train, tiny_test, split_dir).fit(resume=True)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tiny_train, tiny_test, tmp_path):
    trainer = make_trainer(tiny_train, tiny_test, tmp_path, epochs=3)
    trainer.config.epochs = 1
    trainer.fit()  # one good epoch, checkpointed
    good = load_model(tmp_path / "model").state_dict()

    poisoned = make_trainer(tiny_train, tiny_test, tmp_path, epochs=3)
    original = poisoned.model.objective

    def objective(batch, step=0, player="main"):
        out = original(batch, step, player)
        if step >= 6:
            out["loss"] = out["loss"] * float("nan")
        return out

    poisoned.model.objective = objective
    with pytest.raises(TrainingError, match="Non-finite loss.*step 7.*last good checkpoint"):
        poisoned.fit(resume=True)
    kept = load_model(tmp_path / "model").state_dict()
    assert all(torch.equal(good[k], kept[k]) for k in good)
    assert all(torch.isfinite(v).all() for v in kept.values())


def test_existing_run_needs_resume_and_resume_needs_a_run(tiny_train, tiny_test, tmp_path):
    make_trainer(tiny_train, tiny_test, tmp_path, max_steps=1).fit()
    with pytest.raises(TrainingError, match="--resume"):
        make_trainer(tiny_train, tiny_test, tmp_path).fit()
    with pytest.raises(CheckpointError, match="Nothing to resume"):
        make_trainer(tiny_train, tiny_test, tmp_path / "empty").fit(resume=True)


def test_resume_with_another_model_is_refused(tiny_train, tiny_test, tmp_path):
    make_trainer(tiny_train, tiny_test, tmp_path, max_steps=1).fit()
    other = make_trainer(tiny_train, tiny_test, tmp_path)
    other.model = build_model("vae", {**TINY_MODEL, "latent_dim": 3})
    other.optimizer = torch.optim.Adam(other.model.parameters())
    with pytest.raises(CheckpointError, match="differs from the model being trained"):
        other.fit(resume=True)


def test_a_crash_between_renames_still_finds_the_previous_checkpoint(tiny_train, tiny_test, tmp_path):
    make_trainer(tiny_train, tiny_test, tmp_path, max_steps=2).fit()
    (tmp_path / "model").rename(tmp_path / ".model.old")  # the moment after "model" moved aside
    assert find_checkpoint(tmp_path / "model") == tmp_path / ".model.old"
    resumed = make_trainer(tiny_train, tiny_test, tmp_path)
    resumed.fit(resume=True)
    assert resumed.step == 8 and (tmp_path / "model" / "trainer.json").is_file()


def test_learning_rate_schedule():
    cfg = TrainConfig(lr=1.0, warmup_steps=10, schedule="cosine", lr_min_ratio=0.1)
    assert cfg.learning_rate(0, 110) == pytest.approx(0.1)
    assert cfg.learning_rate(9, 110) == pytest.approx(1.0)
    assert cfg.learning_rate(60, 110) == pytest.approx(0.55)
    assert cfg.learning_rate(110, 110) == pytest.approx(0.1)
    assert TrainConfig(lr=0.5, warmup_steps=0, schedule="constant").learning_rate(77, 100) == 0.5


def test_evaluation_is_deterministic_and_leaves_training_rng_alone(tiny_train, tiny_test, tmp_path):
    from latentforge.jobs.evaluate import evaluate_model

    model = build_model("vae", TINY_MODEL)
    torch.manual_seed(5)
    before = torch.get_rng_state()
    a = evaluate_model(model, tiny_test, batch_size=16)
    assert torch.equal(before, torch.get_rng_state())
    b = evaluate_model(model, tiny_test, batch_size=16)
    assert a == b and a["images"] == 32
    assert a["bits_per_dim"] == pytest.approx(a["loss"] / (784 * math.log(2)))


def test_dynamic_binarisation_feeds_fresh_binary_images(tiny_train, tiny_test, tmp_path):
    trainer = make_trainer(tiny_train, tiny_test, tmp_path, binarize="dynamic", epochs=2, eval_every=0)
    seen = []
    original = trainer.model.objective

    def objective(batch, step=0, player="main"):
        seen.append(batch[0].clone())
        return original(batch, step, player)

    trainer.model.objective = objective
    trainer.fit()
    assert all(set(x.unique().tolist()) <= {0.0, 1.0} for x in seen)
    assert not torch.equal(seen[0].sum(), seen[4].sum())  # epoch 2 saw other samples (and another order)


def test_static_test_binarisation_is_repeatable(tiny_test):
    from latentforge.jobs.evaluate import evaluate_model

    model = build_model("vae", TINY_MODEL)
    a = evaluate_model(model, tiny_test, batch_size=16, binarize=True)
    b = evaluate_model(model, tiny_test, batch_size=16, binarize=True)
    grey = evaluate_model(model, tiny_test, batch_size=16)
    assert a == b and a["loss"] != grey["loss"]


class TwoPlayer(torch.nn.Module):
    """A toy adversarial-style model: two parameter sets, one optimiser each, the second every other step."""

    players = ("first", "second")
    capabilities = frozenset()
    name = "vae"

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(3.0))
        self.b = torch.nn.Parameter(torch.tensor(-2.0))
        self.after = 0

    def player_parameters(self, player):
        return [self.a] if player == "first" else [self.b]

    def optimizer_settings(self, player):
        return {"lr": 0.1} if player == "first" else {"lr": 0.05, "betas": (0.0, 0.9)}

    def objective(self, batch, step=0, player="first"):
        if player == "second" and step % 2:
            return None
        target = batch[0].mean()
        value = self.a if player == "first" else self.b
        return {"loss": (value - target) ** 2}

    forward = objective  # the Trainer calls the module, as it calls every GenerativeModel

    def after_step(self, step):
        self.after += 1


def test_each_player_gets_its_own_optimiser_and_schedule(tiny_train, tmp_path):
    model = TwoPlayer()
    trainer = Trainer(model, tiny_train, None, TrainConfig(epochs=3, batch_size=16, warmup_steps=0, schedule="constant",
                                                           channels_last=False, log_every=1), tmp_path, progress=False)
    assert trainer.optimizers["second"].param_groups[0]["betas"] == (0.0, 0.9)
    b_before = model.b.item()
    trainer.step = 0
    trainer._train_step(torch.rand(4, 1, 28, 28), None)
    trainer._train_step(torch.rand(4, 1, 28, 28), None)  # "second" skips odd steps
    assert trainer.optimizers["first"].state[model.a]["step"] == 2
    assert trainer.optimizers["second"].state[model.b]["step"] == 1
    assert model.b.item() != b_before and model.after == 2
    assert trainer.optimizers["second"].param_groups[0]["lr"] == 0.05


@pytest.mark.parametrize("name, fits", [("vae", False), ("ae", True)])
def test_training_set_is_encoded_after_the_last_epoch_only_for_a_prior_to_fit(tiny_train, tmp_path, name, fits,
                                                                             monkeypatch):
    model = build_model(name, {**TINY_MODEL, "image_shape": tiny_train.shape})
    fitted = []
    monkeypatch.setattr(model, "fit_prior", lambda latents: fitted.append(latents.shape[0]))
    config = TrainConfig(epochs=1, batch_size=16, warmup_steps=1, eval_batch_size=16)
    Trainer(model, tiny_train, None, config, tmp_path, progress=False).fit()
    assert model.fits_prior is fits
    assert fitted == ([len(tiny_train)] if fits else [])
