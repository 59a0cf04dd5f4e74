"""A run's whole configuration: model (name + its config), data and training, from YAML and/or flags.

    model: {name: vae, latent_dim: 32, beta: 1.0}
    data: {name: mnist-5k}
    train: {epochs: 20, batch_size: 128, lr: 0.001}
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, ClassVar

import yaml

from .errors import ConfigError
from .models import config_from_dict, get_model_class
from .training import TrainConfig
from .validation import Limit, at_least, check_fields


@dataclasses.dataclass
class DataConfig:
    name: str = "mnist-5k"
    data_dir: str | None = None
    image_size: int | None = None
    channels: int | None = None
    crop_size: int | None = None  # train on random square crops of this side, new ones each epoch (data/crops.py)
    crops_per_image: int = 1  # crops per image and epoch, with crop_size

    limits: ClassVar[dict[str, Limit]] = {"image_size": at_least(1, 4096), "channels": Limit(1, 3),
                                          "crop_size": at_least(1, 4096), "crops_per_image": at_least(1, 100_000)}

    def validate(self) -> None:
        check_fields(self, "data")


@dataclasses.dataclass
class RunConfig:
    model: dict[str, Any] = dataclasses.field(default_factory=lambda: {"name": "vae"})
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    @property
    def model_name(self) -> str:
        return self.model.get("name", "vae")

    @property
    def model_options(self) -> dict[str, Any]:
        return {k: v for k, v in self.model.items() if k != "name"}

    def to_dict(self) -> dict[str, Any]:
        return {"model": dict(self.model), "data": dataclasses.asdict(self.data),
                "train": dataclasses.asdict(self.train)}

    def recipe(self) -> dict[str, Any]:
        """What run.yaml records: the config without ``max_steps``, a stop request that --resume continues past."""
        recipe = self.to_dict()
        recipe["train"]["max_steps"] = 0
        return recipe

    def settings(self) -> dict[str, Any]:
        """Every setting as a flat ``section.key`` mapping, the model's defaults filled in."""
        cls = get_model_class(self.model_name)
        model = dataclasses.asdict(config_from_dict(cls.config_class, {**self.model_options, "image_shape": None},
                                                    where="model"))
        model.pop("image_shape")
        sections = {"model": {"name": self.model_name, **model}, "data": dataclasses.asdict(self.data),
                    "train": dataclasses.asdict(self.train)}
        return {f"{section}.{key}": value for section, values in sections.items() for key, value in values.items()}

    def check_resume(self, recorded: RunConfig, where: str) -> None:
        """Refuse to resume the run recorded in ``where`` (its run.yaml) with another recipe: only the
        settings in RESUMABLE may change (a longer run, another device, other logging)."""
        old, new = recorded.settings(), self.settings()
        refused = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k) and k not in RESUMABLE)
        if refused:
            changes = "; ".join(f"{k}: {old.get(k)!r} → {new.get(k)!r}" for k in refused)
            raise ConfigError(
                f"--resume continues the run recorded in {where} with its own recipe, but this call changes it "
                f"({changes}). On resume only {', '.join(sorted(RESUMABLE))} may change. Drop those settings to "
                "continue the run, or train a new run with another --out (train.init_from starts it from this "
                "run's weights)."
            )

    def validate(self, image_shape: tuple[int, int, int] | None = None) -> None:
        """Check every section. Without ``image_shape`` (the data not loaded yet) the model options are
        checked alone; rules that depend on the image size (an hvae's latent scales) wait for the real shape."""
        cls = get_model_class(self.model_name)
        config_from_dict(cls.config_class, {**self.model_options, "image_shape": image_shape},
                         where="model")
        self.data.validate()
        self.train.validate()


SECTIONS = ("model", "data", "train")

# What --resume may change: how long the run goes on, where it computes and how it logs; not what it learns.
RESUMABLE = frozenset({
    "train.epochs", "train.max_steps", "train.device", "train.threads", "train.eval_every", "train.eval_batch_size",
    "train.checkpoint_every", "train.log_every", "train.init_from", "data.data_dir",
})


def run_config_from_dict(values: dict[str, Any] | None) -> RunConfig:
    values = dict(values or {})
    unknown = sorted(set(values) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"Unknown config section(s) {unknown}; a run config has {', '.join(SECTIONS)}.")
    model = values.get("model") or {"name": "vae"}
    if isinstance(model, str):
        model = {"name": model}
    if not isinstance(model, dict):
        raise ConfigError(f"'model' must be a mapping with a 'name', got {model!r}")
    config = RunConfig(
        model={"name": "vae", **model},
        data=config_from_dict(DataConfig, values.get("data"), where="data"),
        train=config_from_dict(TrainConfig, values.get("train"), where="train"),
    )
    config.validate()
    return config


PRESETS_DIR = Path(__file__).parent / "configs"


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_run_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML run config (a file path, or the name of a preset in configs/) into plain values."""
    path = Path(path)
    if not path.is_file() and (PRESETS_DIR / f"{path}.yaml").is_file():
        path = PRESETS_DIR / f"{path}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"Config file {path} does not exist. Give a YAML file or a preset name: {', '.join(available_presets())}."
        )
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:  # a binary file is not UTF-8 text
        raise ConfigError(f"Config file {path} is not valid YAML text: {e}") from e
    if not isinstance(values, dict):
        raise ConfigError(f"Config file {path} must hold a mapping with sections {', '.join(SECTIONS)}.")
    return values


def apply_overrides(values: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Apply dotted overrides such as ``{"train.lr": 3e-4, "model.latent_dim": 16}``; None values are skipped."""
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in values.items()}
    if isinstance(merged.get("model"), str):
        merged["model"] = {"name": merged["model"]}
    for dotted, value in overrides.items():
        if value is None:
            continue
        section, _, key = dotted.partition(".")
        if section not in SECTIONS or not key:
            raise ConfigError(f"Override {dotted!r} must look like section.key with section in {', '.join(SECTIONS)}.")
        merged.setdefault(section, {})[key] = value
    return merged


def parse_set_option(item: str) -> tuple[str, Any]:
    """``"train.lr=3e-4"`` → ``("train.lr", 0.0003)``; the value is read as YAML (numbers, bools, lists)."""
    key, sep, raw = item.partition("=")
    if not sep:
        raise ConfigError(f"--set expects KEY=VALUE (e.g. train.lr=3e-4), got {item!r}")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    return key.strip(), value
