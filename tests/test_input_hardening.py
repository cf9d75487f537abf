"""Issue 11, items 9 and 10: noise laws that overflow, and array inputs beyond float32."""

import numpy as np
import pytest
import torch

from crossbar import CrossbarArray, devices
from crossbar.seeds import derive

W = np.random.default_rng(0).normal(0.0, 0.1, (16, 4))


@pytest.mark.parametrize("key, law", [
    ("programming_noise", {"form": "polynomial", "variable": "g_norm", "coefficients_uS": [1e308, 1.0]}),
    ("read_noise", {"form": "polynomial", "variable": "G_uS", "coefficients_uS": [0.1, 1e300]}),
    ("read_noise", {"c": 1e300, "cap": 1e300}),  # merged onto PCM's pcm_1f law
])
def test_noise_laws_that_overflow_are_refused(key, law):
    with pytest.raises(devices.ProfileError, match=f"key '{key}'.*not finite or exceeds") as err:
        devices.load("pcm", **{key: law})
    assert "pcm.yaml" in str(err.value)


def test_the_published_laws_are_within_the_bound():
    for name in devices.available():
        p = devices.load(name)  # every bundled profile passes the check it is held to
        if p.kind != "physical":
            continue
        g = np.linspace(0.0, p.g_max, 65)
        for std in (p.programming_std(g), p.read_std(g)):
            assert np.all(np.isfinite(std)) and float(np.max(std)) <= 1e3 * p.g_max, name


def test_float64_beyond_float32_is_refused_not_turned_into_infinity():
    array = CrossbarArray.program(W, devices.load("pcm"), seed=1)
    x = np.full((2, 16), 1e39)
    with pytest.raises(ValueError, match="x holds 32 finite value.*float32 range"):
        array.mvm(x, key=derive(1, 2))
    with pytest.raises(ValueError, match="W holds 4 finite value"):
        CrossbarArray.program(np.where(np.eye(16, 4) > 0, 4e38, W), devices.load("pcm"), seed=1)
    with pytest.raises(ValueError, match="x holds"):
        array.mvm(torch.full((1, 16), -5e38, dtype=torch.float64), key=derive(1, 2))


def test_float16_inputs_read_like_float32():
    array = CrossbarArray.program(W, devices.load("pcm"), seed=1)
    x = np.random.default_rng(2).uniform(-1, 1, (3, 16)).astype(np.float16)
    key = derive(1, 3)
    expected = array.mvm(x.astype(np.float32), key=key)
    np.testing.assert_array_equal(array.mvm(x, key=key), expected)
    np.testing.assert_array_equal(array.mvm(torch.from_numpy(x), key=key).numpy(), expected)


@pytest.mark.parametrize("seed", [1.5, -1, 2**64, True, "3"])
def test_seeds_are_integers_in_range(seed):
    with pytest.raises(ValueError, match="seed"):
        CrossbarArray.program(W, devices.load("pcm"), seed=seed)
