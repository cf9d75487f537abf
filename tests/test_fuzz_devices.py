"""Property-based tests (hypothesis) of device profiles and arrays.

The invariant, for any input: a clear error (a ``ProfileError`` naming the
key, or a ``ValueError`` naming the argument) or a result whose numbers are
all finite; never another exception, a crash inside a kernel, a hang or NaN.
Derandomised and bounded, so CI is reproducible (docs/reliability.md).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is a dev dependency")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from crossbar import CrossbarArray, devices  # noqa: E402
from crossbar.seeds import derive  # noqa: E402

PROFILE_EXAMPLES = 300
ARRAY_EXAMPLES = 150
FUZZ = settings(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

BASES = {name: devices.load(name).to_dict() for name in ("pcm", "reram", "nand", "gaussian-mult")}
W_SMALL = np.random.default_rng(0).normal(0.0, 0.1, (12, 5))
X_SMALL = np.random.default_rng(1).uniform(-1.0, 1.0, (3, 12))

huge = st.sampled_from([1e308, -1e308, 1e300, 1e38, 3.5e38, 1e-320, 2**70, -(2**70)])
numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 300), huge)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=8))
anything = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=3)), max_leaves=6)


def _leaves(d: dict, prefix: tuple = ()) -> list[tuple]:
    """The paths to every value of a profile dict (nested blocks and lists included)."""
    out = []
    for k, v in d.items():
        if k == "sources":
            continue
        path = prefix + (k,)
        out.append(path)
        if isinstance(v, dict):
            out += _leaves(v, path)
        elif isinstance(v, list):
            out += [path + (i,) for i in range(len(v))]
    return out


def _like(value) -> st.SearchStrategy:
    """Mostly a value of the same kind as ``value`` (to reach the deeper checks), sometimes anything."""
    if isinstance(value, bool):
        same = st.booleans()
    elif isinstance(value, (int, float)):
        scaled = st.floats(min_value=0.0, max_value=3.0).map(lambda f: type(value)(value * f))
        same = st.one_of(scaled, scaled, scaled, huge, numbers)
    elif isinstance(value, str):
        same = st.text(max_size=8)
    else:
        same = anything
    return st.one_of(same, same, same, anything)


@st.composite
def mutated_profiles(draw) -> tuple[str, dict]:
    """A bundled profile with one or two values replaced."""
    name = draw(st.sampled_from(sorted(BASES)))
    data = copy.deepcopy(BASES[name])
    for path in draw(st.lists(st.sampled_from(_leaves(data)), min_size=1, max_size=2, unique=True)):
        target = data
        try:
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = draw(_like(target[path[-1]]))
        except (KeyError, IndexError, TypeError):  # an earlier change removed the path
            continue
    return name, data


def _all_finite(t) -> bool:
    return bool(torch.isfinite(torch.as_tensor(t)).all())


@settings(FUZZ, max_examples=PROFILE_EXAMPLES)
@given(mutated_profiles())
def test_a_profile_is_valid_and_computes_finite_numbers_or_a_clear_error(case):
    name, data = case
    try:
        profile = devices.DeviceProfile.from_dict(data, file=f"fuzz-{name}.yaml")
    except devices.ProfileError as err:
        event(f"refused: {err.problem[:40]}")
        assert str(err).startswith(f"fuzz-{name}.yaml")
        assert len(str(err)) < 1000  # a quoted value, never a whole document
        return
    event("valid")
    array = CrossbarArray.program(W_SMALL, profile, seed=3)
    y = array.mvm(X_SMALL, key=derive(3, 1))
    assert y.shape == (3, 5) and _all_finite(y)


floating = st.sampled_from([np.float16, np.float32, np.float64, np.int64])
dtypes = st.one_of(floating, floating, floating, st.sampled_from([np.uint8, bool, np.complex64, object]))
shapes = st.tuples(st.integers(0, 20), st.integers(0, 7))
values = st.sampled_from(["normal", "zeros", "huge", "nan", "inf", "tiny"])
keys = st.one_of(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.none(), st.integers(-3, 2**64 + 3),
                 st.floats(allow_nan=True), st.booleans())


def _matrix(shape, dtype, kind, rng):
    a = rng.normal(0.0, 1.0, shape)
    if kind == "zeros":
        a = np.zeros(shape)
    elif kind == "huge":
        a = a * 1e39
    elif kind == "nan" and a.size:
        a.flat[0] = np.nan
    elif kind == "inf" and a.size:
        a.flat[-1] = np.inf
    elif kind == "tiny":
        a = a * 1e-40
    if dtype is object:
        return a.astype(object)
    with np.errstate(all="ignore"):
        return a.astype(dtype)


@settings(FUZZ, max_examples=ARRAY_EXAMPLES)
@given(shapes, dtypes, values, st.integers(1, 30), dtypes, values, keys,
       st.sampled_from(["pcm", "reram", "gaussian-add", "ideal"]),
       st.one_of(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.integers(-2, 2**64),
                 st.floats(allow_nan=True), st.booleans()))
def test_an_array_reads_finite_numbers_or_gives_a_clear_error(w_shape, w_dtype, w_kind, batch, x_dtype,
                                                             x_kind, key, profile, seed):
    rng = np.random.default_rng(7)
    W = _matrix(w_shape, w_dtype, w_kind, rng)
    x = _matrix((batch, w_shape[0]), x_dtype, x_kind, rng)
    try:
        array = CrossbarArray.program(W, devices.load(profile), seed=seed)
        y = array.mvm(x, key=key)
    except ValueError as err:
        event(f"refused: {str(err)[:30]}")
        assert str(err) and len(str(err)) < 500
        return
    event("read")
    assert y.shape == (batch, w_shape[1]) and _all_finite(y)
