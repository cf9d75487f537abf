"""accuracy(s, K): the K-vote accuracy of a trained network mapped onto a device at noise scale s.

Determinism: accuracy(s, K) is a pure function of the settings. Repeat r is
one programmed chip (programming seed from (seed, r)); its K votes are K
re-reads of that chip with fresh read noise, stacked into one forward pass
per block of images. Read seeds come from (seed, r, draw block, image
block), not from s: the same standard normals are scaled by every noise
level (common random numbers), which makes the measured accuracy nearly
monotone in s, as bisection needs, and makes vote counts comparable at equal s.

Each chip's count of correct inputs is kept, so an accuracy comes with its
confidence interval (:mod:`crossbar.experiments.stats`) and more chips can be
added to a cached result later: chip r's count does not depend on how many
chips are averaged.
"""

from __future__ import annotations

import contextlib
import copy
import fnmatch
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from crossbar.seeds import Stream, derive
from crossbar.threads import limit_threads

from .checks import ConfigError
from .noise_scale import SCALE_MODES, Age, age_network, age_profile, scale_key, scale_noise
from .stats import CONFIDENCE, Interval
from .voting import vote

__all__ = ["AccuracyEvaluator"]

CHIP_SCALES_KEPT = 12
"""Noise scales whose programmed and calibrated chips an evaluator keeps (all R of each): a
budget's search comes back to the scales where K = 1 stopped meeting the target for every
further K, and building a chip (programming and ADC calibration) costs about as much as
reading it with a few hundred inputs. A chip of the demo's CNN is a few MB."""


class AccuracyEvaluator:
    """accuracy(s, K): K-vote accuracy at noise scale s over R programmed chips, with its interval.

    ``model`` is the trained digital network (copied; its Gaussian noise
    layers are switched off so that only the device adds noise). For repeat r
    the network is mapped with :func:`crossbar.nn.convert.convert` onto arrays
    of ``scale_noise(profile, s, scale)`` (programming seed from (seed, r));
    vote j of an input is its j-th re-read. Draws are produced in blocks whose
    edges are the vote counts ``votes`` (1, 3, 5, ... -> draws [0,1), [1,3),
    [3,5), ...): each block is one forward pass per group of images, with the
    images repeated block-size times (``batch_rows`` rows at most). So
    accuracy(s, K) uses the first K draws and does not depend on which
    evaluations ran before. ``age``: time since programming and drift
    compensation (:class:`crossbar.experiments.noise_scale.Age`; None: the
    profile's own time since programming, compensated). ``calibration``: inputs on which
    each chip's calibrated ADC ranges are set (``crossbar.nn.calibrate``), e.g. a few
    training inputs. ``cache`` (mapping "s|K" -> {"s", "k",
    "n", "correct": per-chip counts}) is filled as results arrive;
    ``on_result(entry)`` is called for each new or extended entry.
    """

    def __init__(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, profile, *,
                 scale: str = "read", votes: Sequence[int] = (1,), repeats: int = 1, seed: int = 0,
                 batch_rows: int = 256, layer_overrides: Mapping[str, Mapping] | None = None,
                 threads: int | None = 1, age: Age | None = None, calibration=None,
                 confidence: float = CONFIDENCE,
                 cache: Mapping[str, Any] | None = None,
                 on_result: Callable[[dict], None] | None = None) -> None:
        from crossbar.nn import set_noise

        if scale not in SCALE_MODES:
            raise ValueError(f"scale must be one of {', '.join(SCALE_MODES)}, got {scale!r}")
        self.model = copy.deepcopy(model).eval()
        set_noise(self.model, sigma_val=0.0)
        self.x = x
        self.y = np.asarray(y)
        self.profile = profile
        self.scale = scale
        self.edges = (0, *sorted(set(int(k) for k in votes) | {1}))
        self.repeats = int(repeats)
        self.seed = int(seed)
        self.batch_rows = int(batch_rows)
        self.threads = threads
        self.age = age
        self.calibration = calibration
        self.read_spacing: float | None = None  # s between a chip's re-reads (None: independent)
        self.confidence = float(confidence)
        self.layer_overrides = {k: dict(v) for k, v in (layer_overrides or {}).items()}
        self.cache: dict[str, dict] = {k: dict(v) for k, v in (cache or {}).items()}
        self.on_result = on_result
        self._draws: OrderedDict[tuple[float, int], np.ndarray] = OrderedDict()
        self._chips: OrderedDict[tuple[float, int], torch.nn.Module] = OrderedDict()
        self.forward_rows = 0  # rows (images x votes) run through the analog network
        self._check_overrides()

    @property
    def k_max(self) -> int:
        return self.edges[-1]

    def _check_overrides(self) -> None:
        if not self.layer_overrides:
            return
        kinds = (torch.nn.Linear, torch.nn.Conv2d, torch.nn.LSTM)
        names = [n for n, m in self.model.named_modules() if isinstance(m, kinds)]
        for pattern in self.layer_overrides:
            if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
                raise ConfigError(None, f"layer_overrides.{pattern}", "matches no analog layer",
                                  allowed="patterns of the layers " + ", ".join(names))

    # -- the digital reference ------------------------------------------------------
    @torch.no_grad()
    def digital_accuracy(self) -> float:
        """Accuracy of the float network (no device, no noise) on the subset."""
        correct = 0
        for i in range(0, len(self.y), 500):
            correct += int((self.model(self.x[i : i + 500]).argmax(1).numpy() == self.y[i : i + 500]).sum())
        return correct / len(self.y)

    # -- chips and draws -------------------------------------------------------------
    def _placement(self):
        """Where an abstract profile's output noise goes in this network (traced once on the
        test inputs; None when no profile has output noise)."""
        if not hasattr(self, "_where"):
            from crossbar.nn.placement import plan

            noisy = [self.profile, *(self.profile.with_overrides(**ov)
                                     for ov in self.layer_overrides.values())]
            self._where = plan(self.model, self.x[:2]) if any(p.output_noise for p in noisy) else None
        return self._where

    @property
    def n(self) -> int:
        """Test inputs."""
        return len(self.y)

    def digital_interval(self) -> Interval:
        """The float network's accuracy with its Wilson interval (no chips: it is exact)."""
        correct = round(self.digital_accuracy() * self.n)
        return Interval.from_counts([correct], self.n, self.confidence, chips_apart=False)

    def profile_at(self, s: float):
        return age_profile(scale_noise(self.profile, s, self.scale), self.age)

    def chip(self, s: float, r: int) -> torch.nn.Module:
        """Repeat r's network mapped at noise scale s (programming seed from (seed, r))."""
        from crossbar.nn.convert import convert

        key = (scale_key(s), r)
        if key in self._chips:
            self._chips.move_to_end(key)
            return self._chips[key]
        p = self.profile_at(s)
        layer_profiles = {pat: age_profile(scale_noise(self.profile.with_overrides(**ov), s, self.scale),
                                           self.age)
                          for pat, ov in self.layer_overrides.items()}
        net = convert(self.model, p, seed=derive(self.seed, Stream.BUDGET_PROGRAM, r),
                      overrides=layer_profiles or None, example=self._placement()).eval()
        age_network(net, self.age, self.calibration, derive(self.seed, Stream.BUDGET_CALIBRATION, r))
        self._chips[key] = net
        while len(self._chips) > max(self.repeats, 1) * CHIP_SCALES_KEPT:
            self._chips.popitem(last=False)
        return net

    @torch.no_grad()
    def draws(self, s: float, r: int, k: int) -> np.ndarray:
        """Softmax outputs (k, N, C) of the first k re-reads of repeat r at noise scale s."""
        if not 1 <= k <= self.k_max:
            raise ValueError(f"k must be within 1..{self.k_max} (the largest vote count), got {k}")
        key = (scale_key(s), r)
        have = self._draws.get(key)
        if have is None or have.shape[0] < k:
            with limit_threads(self.threads):
                have = self._extend(s, r, k, have)
            self._draws[key] = have
        self._draws.move_to_end(key)
        while len(self._draws) > 64:
            self._draws.popitem(last=False)
        return have[:k]

    @torch.no_grad()
    def _vote_group(self, net: torch.nn.Module, r: int):
        """Chip r's reads as one vote group (``crossbar.nn.vote_group``): reads
        ``read_spacing`` seconds apart share the 1/f read noise below 1/dt. Every inference
        of the chip shares that slow part, as it would within a short test window. Without a
        spacing (None) or with an infinite one (K parallel copies) the reads are independent
        in their read noise: the chip reads with ``read_noise_time="fresh"``."""
        from crossbar.nn import vote_group

        if self.read_spacing is None or not math.isfinite(self.read_spacing):
            return _fresh_reads(net)
        return vote_group(net, derive(self.seed, Stream.BUDGET_VOTE_GROUP, r), self.read_spacing)

    def _extend(self, s: float, r: int, k: int, have: np.ndarray | None) -> np.ndarray:
        """Add the draw blocks [edges[b], edges[b+1]) needed to reach k draws."""
        from crossbar.nn.convert import reseed

        done = 0 if have is None else have.shape[0]
        parts = [] if have is None else [have]
        net = self.chip(s, r)
        for b, (d0, d1) in enumerate(zip(self.edges[:-1], self.edges[1:], strict=True)):
            if d1 <= done:
                continue
            if d0 >= k:
                break
            g = d1 - d0
            per = max(1, self.batch_rows // g)  # images per forward; each repeated g times
            block = []
            with self._vote_group(net, r):
                for j, i0 in enumerate(range(0, len(self.y), per)):
                    xb = self.x[i0 : i0 + per]
                    reseed(net, derive(self.seed, Stream.BUDGET_READ, r, b, j))
                    out = net(xb.repeat(g, *([1] * (xb.dim() - 1))))
                    self.forward_rows += out.shape[0]
                    block.append(torch.softmax(out.float(), -1).view(g, len(xb), -1).numpy())
            parts.append(np.concatenate(block, axis=1))
        return np.concatenate(parts, axis=0)

    def counts(self, s: float, k: int, chips: int | None = None) -> list[int]:
        """Correct inputs per chip (chips 0..R-1) of the K-vote classification at scale s."""
        chips = self.repeats if chips is None else int(chips)
        ck = f"{scale_key(s)!r}|{int(k)}"
        entry = self.cache.get(ck)
        have = [] if entry is None or entry["n"] != self.n else list(entry["correct"])
        if len(have) >= chips:
            return have[:chips]
        for r in range(len(have), chips):
            have.append(int((vote(self.draws(s, r, k), "hard") == self.y).sum()))
        entry = {"s": scale_key(s), "k": int(k), "n": self.n, "correct": have}
        self.cache[ck] = entry
        if self.on_result is not None:
            self.on_result(entry)
        return have[:chips]

    def estimate(self, s: float, k: int, chips: int | None = None) -> Interval:
        """The K-vote accuracy at scale s with its confidence interval (stats.Interval)."""
        return Interval.from_counts(self.counts(s, k, chips), self.n, self.confidence)

    def accuracy(self, s: float, k: int) -> float:
        """Pooled K-vote accuracy over the R chips (hard vote, summed-softmax tie-break)."""
        return self.estimate(s, k).mean

    def evaluated(self) -> list[dict]:
        """Every (s, K) computed or loaded so far with its accuracy and interval over the R chips,
        sorted by K then s."""
        out = []
        for e in sorted(self.cache.values(), key=lambda e: (e["k"], e["s"])):
            if len(e["correct"]) < self.repeats:
                continue
            iv = self.estimate(e["s"], e["k"])
            out.append({"s": e["s"], "k": e["k"], "accuracy": iv.mean, "lo": iv.lo, "hi": iv.hi,
                        "correct": list(e["correct"][: self.repeats]), "n": e["n"]})
        return out


@contextlib.contextmanager
def _fresh_reads(net: torch.nn.Module):
    """Inside, the chip's reads are independent in their read noise (``read_noise_time="fresh"``:
    K copies of the arrays, or no schedule); the chip's mode is restored after."""
    clock = getattr(net, "crossbar_clock", None)
    if clock is None:
        yield
        return
    before, clock.mode = clock.mode, "fresh"
    try:
        yield
    finally:
        clock.mode = before
