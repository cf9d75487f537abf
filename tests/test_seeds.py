"""The one seed module: distinct streams, strict arguments, kernel keys."""

import numpy as np
import pytest

from crossbar import seeds
from crossbar.seeds import Stream, derive


def test_derive_is_pure_and_separates_streams_and_words():
    assert derive(0, Stream.READ, 2) == derive(0, Stream.READ, 2)
    seen = {derive(s, stream, w) for s in range(3) for stream in Stream for w in range(5)}
    assert len(seen) == 3 * len(Stream) * 5
    assert all(0 <= s < 2**64 for s in seen)
    # the path matters, not only the multiset of words
    assert derive(0, 1, 2) != derive(0, 2, 1)
    assert derive(0, 1) != derive(0, 1, 0)


def test_stream_values_are_unique():
    values = [s.value for s in Stream]
    assert len(values) == len(set(values))


@pytest.mark.parametrize("bad", [-1, 1.5, True, 2**64, "3", None])
def test_seed_must_be_an_integer_in_range(bad):
    with pytest.raises(ValueError, match="integer|within"):
        derive(bad)
    with pytest.raises(ValueError, match="integer|within"):
        derive(0, Stream.READ, bad)


def test_largest_seed_is_not_an_alias_of_minus_one():
    assert derive(2**64 - 1) != derive(0)
    with pytest.raises(ValueError):
        derive(-1)


def test_kernel_key_is_the_derived_value():
    k = seeds.kernel_key(7, Stream.NOISE_DRAW, 3)
    assert isinstance(k, np.uint64)
    assert int(k) == derive(7, Stream.NOISE_DRAW, 3)


def test_cell_key_names_sigmas():
    assert seeds.cell_key(0.3, 0.6) == (300000, 600000)


def test_extend_continues_derive():
    """extend(derive(seed, *a), *b) is derive(seed, *a, *b) (a prefix derived once, then many keys)."""
    from crossbar.seeds import extend

    for a, b in (((), (0,)), ((7,), (1, 2)), ((3, 2**64 - 1), (5,)), ((1, 2, 3), ())):
        assert extend(derive(11, *a), *b) == derive(11, *a, *b)
    assert extend(derive(11, 1), 2) != derive(11, 2, 1)
