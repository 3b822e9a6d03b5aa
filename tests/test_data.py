"""Data: toy distributions, loaders (digits, Fashion-MNIST/IDX, folders, npz) and the batch sampler."""
from __future__ import annotations

import gzip
import json
import math
import struct
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from gankit.data import BatchSampler, Dataset, Distribution, load_dataset
from gankit.data import fashion as fashion_module
from gankit.data.idx import read_idx
from gankit.errors import GankitError

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def cfg(name: str, **kw):
    base = dict(name=name, path=None, resolution=None, channels=None, batch_size=4, mean=None, std=None,
                radius=1.0)
    base.update(kw)
    return types.SimpleNamespace(**base)


# --------------------------------------------------------------------------- toy distributions


def test_ring_has_8_distinct_modes_at_radius_1_and_angles_2pi_i_over_8():
    ring = load_dataset(cfg("ring"))
    modes = ring.modes.double()
    assert modes.shape == (8, 2) and ring.shape == (2,) and ring.std == 0.01
    torch.testing.assert_close(modes.norm(dim=1), torch.ones(8, dtype=torch.float64))
    angles = torch.atan2(modes[:, 1], modes[:, 0]) % (2 * math.pi)
    torch.testing.assert_close(angles, 2 * math.pi * torch.arange(8, dtype=torch.float64) / 8, atol=1e-6, rtol=0)
    dist = torch.cdist(modes, modes) + torch.eye(8, dtype=torch.float64) * 10
    # neighbours on a unit circle with 8 points are 2 sin(pi/8) apart; no two modes coincide
    assert dist.min().item() == pytest.approx(2 * math.sin(math.pi / 8), abs=1e-6)
    big = load_dataset(cfg("ring", radius=2.0, std=0.1))
    torch.testing.assert_close(big.modes.norm(dim=1), torch.full((8,), 2.0))
    assert big.std == 0.1


def test_grid_has_25_modes_on_the_lattice():
    grid = load_dataset(cfg("grid"))
    assert grid.modes.shape == (25, 2) and grid.std == 0.05
    points = {tuple(p) for p in grid.modes.tolist()}
    assert points == {(a, b) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}


@pytest.mark.parametrize("name,std", [("ring", 0.01), ("grid", 0.05)])
def test_samples_are_spread_evenly_with_the_right_std_per_mode(name, std):
    dist = load_dataset(cfg(name))
    m = len(dist.modes)
    x = dist.sample(400 * m, torch.Generator().manual_seed(0))
    assert x.shape == (400 * m, 2) and x.dtype == torch.float32
    nearest = torch.cdist(x, dist.modes).argmin(1)
    counts = torch.bincount(nearest, minlength=m)
    assert counts.min() > 300 and counts.max() < 500  # uniform over components: 400 each
    for k in range(m):
        offsets = x[nearest == k] - dist.modes[k]
        assert offsets.mean(0).abs().max() < 4 * std / math.sqrt(300)
        assert offsets.std(0).tolist() == pytest.approx([std, std], rel=0.12)


def test_gaussian1d_defaults_and_log_prob_by_hand():
    g = load_dataset(cfg("gaussian1d"))
    assert g.shape == (1,) and g.modes.tolist() == [[4.0]] and g.std == 0.5
    x = torch.tensor([[3.3], [4.0], [5.7]])
    by_hand = [-0.5 * ((v - 4.0) / 0.5) ** 2 - math.log(0.5) - 0.5 * math.log(2 * math.pi) for v in (3.3, 4.0, 5.7)]
    torch.testing.assert_close(g.log_prob(x), torch.tensor(by_hand))
    # the density integrates to 1
    grid = torch.linspace(-2, 10, 20001).unsqueeze(1)
    assert torch.trapezoid(g.log_prob(grid).exp(), grid[:, 0]).item() == pytest.approx(1.0, abs=1e-4)
    custom = load_dataset(cfg("gaussian1d", mean=-1.0, std=2.0))
    s = custom.sample(20000, torch.Generator().manual_seed(1))
    assert s.mean().item() == pytest.approx(-1.0, abs=0.05) and s.std().item() == pytest.approx(2.0, rel=0.03)


def test_mixture_log_prob_matches_hand_computation_and_is_stable_far_away():
    mix = Distribution(name="two", dim=1, modes=torch.tensor([[0.0], [1.0]]), std=1.0)

    def normal(v, mu):
        return math.exp(-0.5 * (v - mu) ** 2) / math.sqrt(2 * math.pi)

    x = torch.tensor([[0.5], [-2.0]])
    expected = [math.log(0.5 * normal(v, 0.0) + 0.5 * normal(v, 1.0)) for v in (0.5, -2.0)]
    torch.testing.assert_close(mix.log_prob(x), torch.tensor(expected))
    ring = load_dataset(cfg("ring"))
    far = ring.log_prob(torch.tensor([[0.0, 0.0], [1.0, 0.0]]))
    assert torch.isfinite(far).all() and far[0] < -1000 < far[1]  # no -inf from underflow


def test_distribution_is_identity_in_model_space_and_gives_a_fixed_dataset():
    ring = load_dataset(cfg("ring"))
    x = ring.sample(5, torch.Generator().manual_seed(0))
    assert torch.equal(ring.to_model(x), x) and torch.equal(ring.from_model(x), x)
    data = ring.as_dataset(100, torch.Generator().manual_seed(3))
    again = ring.as_dataset(100, torch.Generator().manual_seed(3))
    assert isinstance(data, Dataset) and data.kind == "vector" and len(data) == 100 and data.shape == (2,)
    assert torch.equal(data.x, again.x)


# --------------------------------------------------------------------------- Dataset


def test_image_to_model_and_back_is_exact():
    x = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    data = Dataset(name="t", kind="image", x=x, y=None, num_classes=None, class_names=None, source="test")
    m = data.to_model(x)
    assert m.dtype == torch.float32 and m.min() == -1 and m.max() == 1
    assert torch.equal(data.from_model(m), x)
    assert data.from_model(torch.tensor([-3.0, 3.0])).tolist() == [0, 255]  # clamped


# --------------------------------------------------------------------------- digits


def test_digits_split_is_fixed_and_disjoint():
    from sklearn.datasets import load_digits

    train, test = load_dataset(cfg("digits"), "train"), load_dataset(cfg("digits"), "test")
    assert len(train) + len(test) == 1797 and len(test) == 360
    assert train.shape == (1, 8, 8) and train.x.dtype == torch.uint8 and train.num_classes == 10
    assert set(train.y.tolist()) == set(range(10))
    ref = load_digits()
    expected = np.rint(ref.images * 255 / 16).astype(np.uint8)
    index = np.arange(1797)
    assert torch.equal(test.x[:, 0], torch.from_numpy(expected[index % 5 == 0]))
    assert torch.equal(train.x[:, 0], torch.from_numpy(expected[index % 5 != 0]))
    assert torch.equal(train.y, torch.from_numpy(ref.target[index % 5 != 0]).long())
    assert train.x.max() == 255


def test_digits_resolution_and_channels():
    data = load_dataset(cfg("digits", resolution=16, channels=3), "test")
    assert data.shape == (3, 16, 16) and data.x.dtype == torch.uint8
    assert torch.equal(data.x[:, 0], data.x[:, 2])


# --------------------------------------------------------------------------- IDX / Fashion-MNIST


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("compress", [False, True])
def test_idx_reader_round_trip(tmp_path, compress):
    images = np.random.default_rng(0).integers(0, 256, (3, 4, 5), dtype=np.uint8)
    ints = np.array([[1, -2], [70000, 3]], dtype=np.int32)
    for name, arr, code in (("img", images, 0x08), ("int", ints, 0x0C)):
        raw = idx_bytes(arr, code)
        path = tmp_path / (name + (".gz" if compress else ""))
        path.write_bytes(gzip.compress(raw) if compress else raw)
        out = read_idx(path)
        assert out.dtype == arr.dtype and np.array_equal(out, arr)


@pytest.mark.parametrize("damage", ["truncated", "magic", "gz_truncated"])
def test_idx_reader_names_a_corrupt_file(tmp_path, damage):
    raw = idx_bytes(np.zeros((4, 3, 3), np.uint8))
    path = tmp_path / "train-images-idx3-ubyte"
    if damage == "truncated":
        path.write_bytes(raw[:-5])
    elif damage == "magic":
        path.write_bytes(b"\x08\x03" + raw[2:])
    else:
        path = tmp_path / "train-images-idx3-ubyte.gz"
        path.write_bytes(gzip.compress(raw)[:-10])
    with pytest.raises(GankitError, match=path.name):
        read_idx(path)


def write_fashion(folder: Path, split: str, n: int, gz: bool) -> np.ndarray:
    folder.mkdir(parents=True, exist_ok=True)
    prefix = "train" if split == "train" else "t10k"
    images = np.random.default_rng(1).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = np.arange(n, dtype=np.uint8) % 10
    for stem, arr in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
        raw = idx_bytes(arr)
        (folder / (stem + (".gz" if gz else ""))).write_bytes(gzip.compress(raw) if gz else raw)
    return images


def test_fashion_from_data_path_and_from_gankit_data(tmp_path, monkeypatch):
    images = write_fashion(tmp_path / "mine", "test", 12, gz=False)
    data = load_dataset(cfg("fashion_mnist", path=str(tmp_path / "mine")), "test")
    assert len(data) == 12 and data.shape == (1, 28, 28) and data.y.tolist() == [i % 10 for i in range(12)]
    assert torch.equal(data.x[:, 0], torch.from_numpy(images)) and data.class_names[9] == "Ankle boot"
    write_fashion(tmp_path / "env" / "fashion-mnist", "train", 10, gz=True)
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "env"))
    small = load_dataset(cfg("fashion_mnist", resolution=14), "train")
    assert small.shape == (1, 14, 14) and small.source == str(tmp_path / "env" / "fashion-mnist")


def test_missing_fashion_lists_every_place_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "env"))
    monkeypatch.setattr(fashion_module, "SYSTEM_FOLDER", str(tmp_path / "system"))
    with pytest.raises(GankitError) as err:
        load_dataset(cfg("fashion_mnist"))
    msg = str(err.value)
    for place in (tmp_path / "env", tmp_path / "env" / "fashion-mnist", tmp_path / "system"):
        assert str(place) in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "data.path=" in msg and "\n" not in msg
    with pytest.raises(GankitError, match="nowhere"):
        load_dataset(cfg("fashion_mnist", path=str(tmp_path / "nowhere")))


def test_fashion_corrupt_file_is_named(tmp_path):
    folder = tmp_path / "fm"
    write_fashion(folder, "train", 10, gz=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(GankitError, match="train-images-idx3-ubyte"):
        load_dataset(cfg("fashion_mnist", path=str(folder)))


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_fashion_mnist_real_files():
    train, test = load_dataset(cfg("fashion_mnist"), "train"), load_dataset(cfg("fashion_mnist"), "test")
    assert (len(train), len(test)) == (60000, 10000)
    assert train.shape == test.shape == (1, 28, 28) and train.x.dtype == torch.uint8
    assert torch.bincount(train.y).tolist() == [6000] * 10 and train.num_classes == 10


# --------------------------------------------------------------------------- image folders


def write_png(path: Path, size: tuple[int, int], color, mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)


def test_folder_with_class_subfolders_resizes_and_crops(tmp_path):
    # 60x30 image: a red center square between two blue side bands; cropping keeps only red
    im = Image.new("RGB", (60, 30), (0, 0, 255))
    im.paste((255, 0, 0), (15, 0, 45, 30))
    (tmp_path / "cats").mkdir()
    im.save(tmp_path / "cats" / "a.png")
    write_png(tmp_path / "cats" / "b.PNG", (20, 20), (0, 255, 0))
    write_png(tmp_path / "dogs" / "deep" / "c.jpg", (32, 48), 128, mode="L")
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    (tmp_path / "dogs" / "._c.jpg").write_bytes(b"macOS resource fork, not an image")
    data = load_dataset(cfg("folder", path=str(tmp_path), resolution=16))
    assert len(data) == 3 and data.shape == (3, 16, 16) and data.x.dtype == torch.uint8
    assert data.y.tolist() == [0, 0, 1] and data.class_names == ["cats", "dogs"] and data.num_classes == 2
    red = data.x[0].int()
    assert (red[0] > 240).all() and (red[2] < 15).all()  # no blue band survived the center crop
    assert data.x[2].int().sub(128).abs().max() <= 2  # gray image -> RGB
    gray = load_dataset(cfg("folder", path=str(tmp_path), resolution=8, channels=1))
    assert gray.shape == (1, 8, 8)


def test_folder_without_classes_and_default_resolution(tmp_path):
    write_png(tmp_path / "x.png", (70, 64), (1, 2, 3))
    write_png(tmp_path / "only" / "y.bmp", (64, 64), (4, 5, 6))
    data = load_dataset(cfg("folder", path=str(tmp_path)))
    assert data.shape == (3, 64, 64) and data.y is None and data.class_names is None


def test_folder_errors(tmp_path):
    with pytest.raises(GankitError, match="data.path=.* is required"):
        load_dataset(cfg("folder"))
    with pytest.raises(GankitError, match="no such folder"):
        load_dataset(cfg("folder", path=str(tmp_path / "missing")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(GankitError, match=r"no images found in .*empty.*\.png"):
        load_dataset(cfg("folder", path=str(tmp_path / "empty")))
    write_png(tmp_path / "bad" / "good.png", (8, 8), (0, 0, 0))
    (tmp_path / "bad" / "broken.png").write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(GankitError, match="broken.png") as err:
        load_dataset(cfg("folder", path=str(tmp_path / "bad"), resolution=8))
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------- npz


def test_npz_images_nhwc_nchw_and_gray(tmp_path):
    rng = np.random.default_rng(0)
    nhwc = rng.integers(0, 256, (5, 6, 6, 3), dtype=np.uint8)
    labels = np.array([0, 1, 2, 1, 0])
    np.savez(tmp_path / "a.npz", x=nhwc, y=labels)
    data = load_dataset(cfg("npz", path=str(tmp_path / "a.npz")))
    assert data.kind == "image" and data.shape == (3, 6, 6) and data.num_classes == 3
    assert torch.equal(data.x, torch.from_numpy(nhwc).permute(0, 3, 1, 2)) and data.y.tolist() == labels.tolist()
    nchw = nhwc.transpose(0, 3, 1, 2).copy()
    np.savez(tmp_path / "b.npz", x=nchw)
    assert torch.equal(load_dataset(cfg("npz", path=str(tmp_path / "b.npz"))).x, torch.from_numpy(nchw))
    np.savez(tmp_path / "c.npz", x=nhwc[..., 0])
    assert load_dataset(cfg("npz", path=str(tmp_path / "c.npz"), resolution=12)).shape == (1, 12, 12)


def test_npz_vectors_and_test_split(tmp_path):
    np.savez(tmp_path / "v.npz", x=np.ones((7, 3)), x_test=np.zeros((2, 3)))
    train = load_dataset(cfg("npz", path=str(tmp_path / "v.npz")))
    assert train.kind == "vector" and train.x.dtype == torch.float32 and train.shape == (3,) and train.y is None
    assert len(load_dataset(cfg("npz", path=str(tmp_path / "v.npz")), "test")) == 2


def test_npz_errors(tmp_path):
    with pytest.raises(GankitError, match="no such file"):
        load_dataset(cfg("npz", path=str(tmp_path / "none.npz")))
    np.savez(tmp_path / "wrong.npz", images=np.zeros((2, 4, 4), np.uint8), labels=np.zeros(2))
    with pytest.raises(GankitError, match="no array 'x'.*images, labels"):
        load_dataset(cfg("npz", path=str(tmp_path / "wrong.npz")))
    np.savez(tmp_path / "float.npz", x=np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(GankitError, match="float32"):
        load_dataset(cfg("npz", path=str(tmp_path / "float.npz")))
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(GankitError, match="junk.npz"):
        load_dataset(cfg("npz", path=str(tmp_path / "junk.npz")))


# --------------------------------------------------------------------------- registry


def test_unknown_dataset_and_split():
    with pytest.raises(GankitError, match="did you mean 'ring'"):
        load_dataset(cfg("rnig"))
    with pytest.raises(GankitError, match="split"):
        load_dataset(cfg("ring"), "valid")


# --------------------------------------------------------------------------- BatchSampler


def counting_dataset(n: int, labelled: bool = True) -> Dataset:
    """Vectors whose value is their index, so batches show which items were drawn."""
    x = torch.arange(n, dtype=torch.float32).unsqueeze(1)
    y = torch.arange(n) % 3 if labelled else None
    return Dataset(name="count", kind="vector", x=x, y=y, num_classes=3 if labelled else None,
                   class_names=None, source="test")


def test_batches_have_exact_size_and_an_epoch_visits_every_item_once():
    sampler = BatchSampler(counting_dataset(12), batch_size=4, seed=0)
    seen = []
    for _ in range(3):
        x, y = sampler.next()
        assert x.shape == (4, 1) and y.shape == (4,) and y.dtype == torch.int64
        assert torch.equal(y, x[:, 0].long() % 3)  # labels travel with their items
        seen += x[:, 0].long().tolist()
    assert sorted(seen) == list(range(12)) and seen != list(range(12)) and sampler.epoch == 0
    sampler.next()
    assert sampler.epoch == 1


def test_incomplete_last_batch_is_dropped_and_seeds_matter():
    sampler = BatchSampler(counting_dataset(10), batch_size=4, seed=1)
    first_epoch = [sampler.next()[0] for _ in range(2)]
    assert len(set(torch.cat(first_epoch)[:, 0].tolist())) == 8
    sampler.next()
    assert sampler.epoch == 1  # the 2 left-over items were not served as a short batch
    other = BatchSampler(counting_dataset(10), batch_size=4, seed=2)
    assert not torch.equal(other.next()[0], first_epoch[0])


def test_image_batches_are_in_model_space_and_global_rng_is_untouched():
    x = torch.randint(0, 256, (20, 1, 4, 4), dtype=torch.uint8)
    data = Dataset(name="img", kind="image", x=x, y=None, num_classes=None, class_names=None, source="test")
    before = torch.get_rng_state()
    batch, y = BatchSampler(data, 5, seed=0).next()
    assert torch.equal(torch.get_rng_state(), before)
    assert batch.dtype == torch.float32 and batch.shape == (5, 1, 4, 4) and y is None
    assert batch.min() >= -1 and batch.max() <= 1


def test_dataset_smaller_than_batch_is_a_user_error():
    with pytest.raises(GankitError, match="fewer than the batch size.*data.batch_size"):
        BatchSampler(counting_dataset(3), batch_size=4, seed=0)


def through_checkpoint(state: dict) -> dict:
    """What a checkpoint does: tensors via safetensors bytes, everything else via JSON."""
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    rest = {k: v for k, v in state.items() if not isinstance(v, torch.Tensor)}
    return {**json.loads(json.dumps(rest)), **st_load(st_save({k: v.clone() for k, v in tensors.items()}))}


@pytest.mark.parametrize("make", [lambda: counting_dataset(10), lambda: load_dataset(cfg("ring"))],
                         ids=["dataset", "distribution"])
@pytest.mark.parametrize("drawn", [3, 4, 5])
def test_resume_continues_exactly(make, drawn):
    # N=10, B=3: epochs end after batches 3, 6, 9, so the resumed batches cross epoch boundaries,
    # and drawn=3 resumes exactly at one.
    a = BatchSampler(make(), 3, seed=11)
    a_batches = [a.next() for _ in range(drawn + 4)]
    b = BatchSampler(make(), 3, seed=11)
    for _ in range(drawn):
        b.next()
    state = through_checkpoint(b.state_dict())
    c = BatchSampler(make(), 3, seed=999)  # a different seed: everything must come from the state
    c.load_state_dict(state)
    for (xa, ya), (xc, yc) in zip(a_batches[drawn:], [c.next() for _ in range(4)]):
        assert torch.equal(xa, xc)
        assert (ya is None and yc is None) or torch.equal(ya, yc)
    assert c.epoch == a.epoch


def test_resume_on_changed_data_is_a_user_error():
    state = BatchSampler(counting_dataset(10), 3, seed=0).state_dict()
    with pytest.raises(GankitError, match="10 items"):
        BatchSampler(counting_dataset(12), 3, seed=0).load_state_dict(state)
