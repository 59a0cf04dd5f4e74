"""Issue 17, integrity: output targets, SHA-256 of weights, non-finite weights, configs that cannot be rebuilt,
the run lock and the clean-up of killed checkpoint writes."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from latentforge.errors import (
    CheckpointError,
    ConfigError,
    IntegrityError,
    LatentforgeError,
    OutputError,
    RunLockedError,
)
from latentforge.io import atomic_write_bytes, check_writable_target
from latentforge.models import (
    build_model,
    get_model_class,
    load_model,
    registry,
    save_model,
)
from latentforge.training import TrainConfig, Trainer, read_checkpoint, write_checkpoint
from latentforge.training.checkpoint import remove_stale_temp_dirs
from latentforge.training.lock import RunLock

from conftest import TINY_MODEL, tiny_dataset


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every entry under ``folder``: file bytes, or the kind of anything else."""
    out: dict[str, bytes | str] = {}
    for p in sorted(folder.rglob("*")):
        key = str(p.relative_to(folder))
        out[key] = p.read_bytes() if p.is_file() and not p.is_symlink() else ("link" if p.is_symlink() else "dir")
    return out


# -- atomic writes: targets -----------------------------------------------------------------------------------

def test_existing_non_regular_targets_are_refused(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "keep.txt").write_text("keep")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to(tmp_path / "folder")
    before = snapshot(tmp_path)
    for name in ("folder", "fifo", "link"):
        with pytest.raises(OutputError, match=f"{name} exists and is"):
            atomic_write_bytes(tmp_path / name, b"png")
    assert snapshot(tmp_path) == before
    assert (tmp_path / "fifo").is_fifo()


def test_device_files_are_refused_before_anything_is_written():
    if not Path("/dev/null").exists():
        pytest.skip("no /dev/null here")
    with pytest.raises(OutputError, match="not a regular file"):  # the check atomic_write_bytes starts with
        check_writable_target("/dev/null")


@pytest.mark.parametrize("name", ["", "   ", "."])
def test_empty_names_are_refused(name):
    with pytest.raises(OutputError, match="not a file name"):
        atomic_write_bytes(name, b"x")


def test_a_parent_folder_that_cannot_be_created_is_an_output_error(tmp_path):
    (tmp_path / "file").write_text("a file, not a folder")
    with pytest.raises(OutputError, match="create the folder"):
        atomic_write_bytes(tmp_path / "file" / "sub" / "out.png", b"x")
    atomic_write_bytes(tmp_path / "new" / "deeper" / "out.png", b"x")  # missing folders are still created
    assert (tmp_path / "new" / "deeper" / "out.png").read_bytes() == b"x"


def test_a_read_only_folder_is_an_output_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "old.png").write_bytes(b"old")
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: chmod does not make the folder read-only")
        with pytest.raises(OutputError, match="permission denied"):
            atomic_write_bytes(folder / "old.png", b"new")
        assert sorted(p.name for p in folder.iterdir()) == ["old.png"]
        assert (folder / "old.png").read_bytes() == b"old"
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize("target, err, advice", [
    ("fsync", errno.ENOSPC, "disk is full"),
    ("write", errno.ENOSPC, "disk is full"),
    ("replace", errno.EACCES, "permission denied"),
    ("replace", errno.EROFS, "read-only"),
    ("mkstemp", errno.ENOSPC, "disk is full"),
])
def test_write_failures_keep_the_old_file_and_leave_no_temp_file(tmp_path, monkeypatch, target, err, advice):
    out = tmp_path / "out.png"
    out.write_bytes(b"old")

    def fail(*args, **kwargs):
        raise OSError(err, os.strerror(err))

    if target == "write":
        real_fdopen = os.fdopen

        class FullFile:
            def __init__(self, f):
                self.f = f

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

            def write(self, data):
                fail()

        monkeypatch.setattr(os, "fdopen", lambda fd, mode: FullFile(real_fdopen(fd, mode)))
    elif target == "mkstemp":
        monkeypatch.setattr(tempfile, "mkstemp", fail)
    else:
        monkeypatch.setattr(os, target, fail)
    with pytest.raises(OutputError, match=advice) as info:
        atomic_write_bytes(out, b"new")
    assert str(out) in str(info.value)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
    assert out.read_bytes() == b"old"


def test_writing_touches_only_the_target(tmp_path):
    (tmp_path / "other.txt").write_text("other")
    (tmp_path / "old.png").symlink_to(tmp_path / "other.txt")  # a link to a file: the link is replaced
    atomic_write_bytes(tmp_path / "old.png", b"new")
    assert (tmp_path / "other.txt").read_text() == "other"
    assert (tmp_path / "old.png").read_bytes() == b"new" and not (tmp_path / "old.png").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.png", "other.txt"]


# -- saved models: digests, non-finite weights, configs ------------------------------------------------------

@pytest.fixture
def saved(tmp_path) -> Path:
    torch.manual_seed(0)
    return save_model(build_model("ae", TINY_MODEL), tmp_path / "m")


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # inside the last tensor's data, not the header: the file still parses
    path.write_bytes(bytes(data))


def rewrite_config(model_dir: Path, change) -> None:
    meta = json.loads((model_dir / "config.json").read_text())
    change(meta)
    (model_dir / "config.json").write_text(json.dumps(meta))


def test_the_weights_digest_is_recorded_and_a_flipped_byte_is_detected(saved):
    assert len(json.loads((saved / "config.json").read_text())["sha256"]["model.safetensors"]) == 64
    flip_last_byte(saved / "model.safetensors")
    with pytest.raises(IntegrityError, match=r"model\.safetensors.*SHA-256.*Restore") as info:
        load_model(saved)
    assert "recorded" in str(info.value)


def test_models_saved_without_a_digest_still_load(saved):
    original = load_model(saved).state_dict()
    rewrite_config(saved, lambda meta: meta.pop("sha256"))
    restored = load_model(saved).state_dict()
    assert all(torch.equal(original[k], restored[k]) for k in original)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights_are_refused(tmp_path, bad):
    model = build_model("ae", TINY_MODEL)
    name = next(n for n, p in model.named_parameters() if p.dim() > 1)
    with torch.no_grad():
        model.get_parameter(name).view(-1)[3] = bad
    save_model(model, tmp_path / "m")
    with pytest.raises(IntegrityError, match=rf"model\.safetensors.*{name}.*diverged"):
        load_model(tmp_path / "m")


@pytest.mark.parametrize("value", [["ae"], {"name": "ae"}, 3, None, True])
def test_a_saved_model_name_that_is_not_a_string_is_refused(saved, value):
    rewrite_config(saved, lambda meta: meta.update(model=value))
    with pytest.raises(CheckpointError, match="config.json is corrupt"):
        load_model(saved)


@pytest.mark.parametrize("value", [0, -3, 2.5, "abc", True, None, [4], "", 10**12, "nan", 1e300])
def test_saved_sizes_that_are_not_positive_integers_are_refused(saved, value):
    rewrite_config(saved, lambda meta: meta["config"].update(latent_dim=value))
    with pytest.raises(CheckpointError, match="latent_dim"):
        load_model(saved)


@pytest.mark.parametrize("key, value", [("likelihood", 5), ("latent_dim", False), ("image_shape", "abc")])
def test_config_values_keep_their_types(key, value):
    with pytest.raises(ConfigError, match=key):
        build_model("ae", {**TINY_MODEL, key: value})


def test_models_over_the_size_limit_are_refused_without_being_built(monkeypatch, saved):
    cls = get_model_class("ae")
    devices = []
    real_init = cls.__init__

    def spy(self, config):
        devices.append(torch.empty(0).device.type)  # the default device while the model is built
        real_init(self, config)

    monkeypatch.setattr(cls, "__init__", spy)
    monkeypatch.setattr(registry, "MAX_MODEL_BYTES", 10_000)
    with pytest.raises(ConfigError, match="GiB of weights, more than the limit"):
        build_model("ae", TINY_MODEL)
    with pytest.raises(CheckpointError, match="more than the limit"):
        load_model(saved)
    assert devices and set(devices) == {"meta"}


# -- checkpoints -------------------------------------------------------------------------------------------------

def small_checkpoint(path: Path) -> tuple[torch.nn.Module, dict]:
    torch.manual_seed(0)
    model = build_model("ae", TINY_MODEL)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.objective((torch.rand(2, 1, 28, 28), None))["loss"].backward()
    opt.step()
    write_checkpoint(path, model, {"main": opt}, {"step": 1}, {"steps": 1})
    return model, {"main": opt}


def test_a_flipped_byte_in_the_trainer_state_is_detected_on_resume(tmp_path):
    model, opts = small_checkpoint(tmp_path / "model")
    assert read_checkpoint(tmp_path / "model", model, opts)["step"] == 1
    flip_last_byte(tmp_path / "model" / "trainer.safetensors")
    with pytest.raises(IntegrityError, match=r"trainer\.safetensors.*SHA-256"):
        read_checkpoint(tmp_path / "model", model, opts)


def test_a_failed_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    model, opts = small_checkpoint(tmp_path / "model")
    before = snapshot(tmp_path)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OutputError, match="previous checkpoint.*kept.*disk is full"):
        write_checkpoint(tmp_path / "model", model, opts, {"step": 2}, {"steps": 2})
    monkeypatch.undo()
    assert snapshot(tmp_path) == before


def test_stale_checkpoint_temp_dirs_are_removed_and_nothing_else(tmp_path):
    small_checkpoint(tmp_path / "model")
    for name in (".model.k3x_9abc", ".model.0a1b2c3d"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.safetensors").write_bytes(b"half written")
    for name in (".model.old", ".model.toolongname", ".models.0a1b2c3d", "model.0a1b2c3d"):
        (tmp_path / name).mkdir()
    (tmp_path / ".model.abcdefgh.tmp").write_text("a file")
    removed = remove_stale_temp_dirs(tmp_path / "model")
    assert sorted(p.name for p in removed) == [".model.0a1b2c3d", ".model.k3x_9abc"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["model", ".model.old", ".model.toolongname", ".models.0a1b2c3d", "model.0a1b2c3d", ".model.abcdefgh.tmp"])


# -- the run lock --------------------------------------------------------------------------------------------

# Another training process, as the lock sees it: a flock on run/.lock and its pid/host/since record (plain
# Python, so that the process starts in milliseconds instead of importing torch).
HOLDER = """
import fcntl, json, os, socket, sys
os.makedirs(sys.argv[1], exist_ok=True)
fd = os.open(os.path.join(sys.argv[1], ".lock"), os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": "2024-05-01T12:00:00"}).encode())
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def locked_elsewhere(tmp_path):
    """A second process holding the lock of ``tmp_path / 'run'`` until the test ends."""
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(run)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield run, proc
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def test_the_lock_refuses_a_second_holder_and_says_who(locked_elsewhere):
    run, proc = locked_elsewhere
    with pytest.raises(RunLockedError, match=rf"process {proc.pid} on .*, since 2024-05-01T12:00:00.*another --out"):
        RunLock(run).acquire()
    proc.stdin.close()
    proc.wait(timeout=30)
    with RunLock(run):  # free once the holder has exited
        assert json.loads((run / ".lock").read_text())["pid"] == os.getpid()
    assert not (run / ".lock").exists()


def test_the_lock_is_released_on_exceptions(tmp_path):
    with pytest.raises(ValueError), RunLock(tmp_path):
        with pytest.raises(RunLockedError):
            RunLock(tmp_path).acquire()  # another open file description: refused like another process
        raise ValueError("boom")
    with RunLock(tmp_path):
        pass


def tiny_trainer(run: Path, **train) -> Trainer:
    config = TrainConfig(epochs=1, batch_size=16, max_steps=1, eval_every=0, **train)
    return Trainer(build_model("ae", TINY_MODEL), tiny_dataset(16), None, config, run, progress=False)


def test_a_trainer_is_refused_while_another_process_trains_the_run(locked_elsewhere):
    run, proc = locked_elsewhere
    with pytest.raises(RunLockedError, match=str(proc.pid)):
        tiny_trainer(run).fit(resume=True)
    assert not (run / "model").exists()


def test_fit_removes_leftovers_of_killed_checkpoint_writes(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".model.zz9_abcd").mkdir()
    tiny_trainer(run).fit()
    assert not (run / ".model.zz9_abcd").exists()
    assert (run / "model" / "trainer.json").is_file()
    assert not (run / ".lock").exists()


# -- property: corrupted saved-model directories ----------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
FILES = ["model.safetensors", "config.json"]
corruption = st.one_of(
    st.tuples(st.just("flip"), st.sampled_from(FILES), st.floats(0, 1), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.sampled_from(FILES), st.floats(0, 1)),
    st.tuples(st.just("cut"), st.sampled_from(FILES), st.floats(0, 1), st.integers(1, 64)),
    st.tuples(st.just("delete"), st.sampled_from(FILES)),
    st.tuples(st.just("value"), st.sampled_from(["model", "config", "format_version", "sha256", "data_shape"]),
              json_values),
    st.tuples(st.just("option"), st.sampled_from(["latent_dim", "channels", "image_shape", "likelihood", "blocks"]),
              json_values),
)


def corrupt(model_dir: Path, how: tuple) -> None:
    kind, target = how[0], how[1]
    if kind in ("value", "option"):
        if (model_dir / "config.json").is_file():
            try:
                meta = json.loads((model_dir / "config.json").read_text())
                (meta if kind == "value" else meta["config"])[target] = how[2]
            except (ValueError, TypeError, KeyError, IndexError):
                return  # an earlier corruption already broke the JSON
            (model_dir / "config.json").write_text(json.dumps(meta))
        return
    path = model_dir / target
    if not path.is_file():
        return
    data = bytearray(path.read_bytes())
    if kind == "delete":
        path.unlink()
        return
    at = min(int(how[2] * len(data)), max(len(data) - 1, 0))
    if kind == "flip" and data:
        data[at] ^= how[3]
    elif kind == "truncate":
        del data[at:]
    elif kind == "cut":
        del data[at:at + how[3]]
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> tuple[Path, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model = build_model("ae", {**TINY_MODEL, "image_shape": (1, 8, 8)})
    path = save_model(model, tmp_path_factory.mktemp("pristine") / "m", training={"steps": 1})
    return path, model.state_dict()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(corruptions=st.lists(corruption, min_size=1, max_size=3))
def test_loading_a_corrupted_model_is_exact_or_a_clear_error(pristine, corruptions):
    source, original = pristine
    with tempfile.TemporaryDirectory() as root:
        root = Path(root)
        model_dir = root / "m"
        shutil.copytree(source, model_dir)
        (root / "neighbour.txt").write_text("untouched")
        for how in corruptions:
            corrupt(model_dir, how)
        before = snapshot(root)
        try:
            loaded = load_model(model_dir).state_dict()
        except LatentforgeError:
            pass
        else:
            assert loaded.keys() == original.keys()
            for key, value in loaded.items():
                assert torch.equal(value, original[key]), key
                assert not value.is_floating_point() or torch.isfinite(value).all(), key
        assert snapshot(root) == before
