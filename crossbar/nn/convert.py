"""Map a trained torch model onto crossbar arrays and back.

Two ways a weight reaches an array. Layers known by class (``MAPPABLE``:
Linear, Conv2d, LSTM, MultiheadAttention, ...) become their analog modules.
Every other parameter is decided by use (:mod:`crossbar.nn.usage`): one
traced forward pass tells whether it is multiplied with an input (mapped, read
through a :class:`~crossbar.nn.byuse.MappedWeight`) or only added, looked up
or used as a scale (digital, reported with the reason by ``summary``).
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from crossbar.devices import as_profile
from crossbar.nn.analog import AbstractNoise, AnalogLayer, NoiseAfter
from crossbar.nn.byuse import AnalogProduct
from crossbar.nn.clock import check_mode, install
from crossbar.nn.fold import copy_model, fold, unfold
from crossbar.nn.mappable import MAPPABLE, SUPPORTED, analog_class
from crossbar.nn.mapped import MappedWeight
from crossbar.nn.placement import Placement, carry_noise, example_batch, plan, quiet
from crossbar.nn.usage import Usage, trace_usage
from crossbar.seeds import Stream, derive

__all__ = ["DigitalParameter", "UnsupportedLayerError", "analog_layers", "convert", "mapped_by_use",
           "reprogram", "reseed", "to_float"]

# Layers with matrix products that no array computes as they stand: refused by class.
_UNMAPPABLE = (nn.ConvTranspose3d, nn.RNNCell, nn.LSTMCell, nn.GRUCell, nn.Bilinear)
# Layers whose parameters are digital by what the class does with them (no trace needed).
_NORMS = (_BatchNorm, nn.LayerNorm, nn.GroupNorm, nn.modules.instancenorm._InstanceNorm, nn.RMSNorm,
          nn.PReLU)


class UnsupportedLayerError(ValueError):
    """A layer holds matrix products that crossbar-sim cannot map onto arrays."""


@dataclass(frozen=True)
class DigitalParameter:
    """A parameter that stays digital after conversion, and why."""

    name: str
    shape: tuple[int, ...]
    reason: str


def _profile_for(name: str, profile, overrides: dict | None):
    """The profile for one layer: the first override pattern (fnmatch) that matches its name."""
    for pattern, p in (overrides or {}).items():
        if fnmatch.fnmatchcase(name, pattern):
            return as_profile(p)
    return profile


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(name == p or name.startswith(p + ".") or fnmatch.fnmatchcase(name, p) for p in patterns)


def convert(model: nn.Module, profile, seed: int = 0, overrides: dict | None = None,
            inplace: bool = False, example=None, calibration=None, digital: Sequence[str] = (),
            read_noise_time: str = "time") -> nn.Module:
    """Return ``model`` with every weight that multiplies an input running on crossbar arrays.

    ``profile``: a ``DeviceProfile``, a bundled profile name (``"pcm"``) or the path to a
    profile YAML file. Layers known by class (``crossbar.nn.mappable.MAPPABLE``) become
    analog layers; every other parameter is decided by one traced forward pass on
    ``example`` (an input batch, a tuple of the model's arguments or a per-sample shape;
    default: ``calibration``, else the model's ``crossbar_input``; a ``Placement`` of
    abstract output noise counts as none):
    multiplied with an input anywhere (``x @ w``, ``F.linear``, ``addmm``, ``einsum``) it is
    mapped, otherwise it stays digital and ``summary(model)`` says why. Weight norms and
    other parametrizations are folded first.
    ``digital``: module or parameter names (or ``fnmatch`` patterns) kept digital
    knowingly. ``overrides`` maps layer or parameter name patterns to other profiles.
    Each array gets its own programming seed derived from ``seed``. An abstract
    profile's output noise (Qin Eq. 2/3) goes where ``crossbar.nn.placement.plan`` says.
    Raises :class:`UnsupportedLayerError` naming what cannot be mapped and the way out.
    :func:`to_float` undoes the mapping.

    Arrays are read ``time_since_programming`` after programming (the profile's;
    :func:`crossbar.nn.age` changes it). ``calibration``: inputs on which the ADC ranges
    of ``calibrated`` profiles are set right away (:func:`crossbar.nn.calibrate`).
    ``read_noise_time``: how the reads of 1/f read noise share it in time
    (:mod:`crossbar.nn.clock`): ``"time"`` (by the chip's clock), ``"fresh"`` (every read
    independent) or ``"frozen"`` (one draw per time point, as AIHWKit).
    """
    check_mode(read_noise_time)
    profile = as_profile(profile)
    digital = tuple(digital)
    _check_mappable(model, digital)
    where = _noise_plan(model, profile, overrides, example)
    target = model if inplace else copy_model(model)
    folded = fold(target)
    classed = _by_class(target, digital)
    traced_on = calibration if isinstance(example, Placement) else example
    usage, candidates = _decide(target, classed, digital, traced_on, calibration)
    counter = 0
    norms: dict[str, AbstractNoise] = {}
    for full in list(classed):  # each float layer let go once its arrays are programmed (peak memory)
        module, child_name, child = classed.pop(full)
        cls = analog_class(child)
        p = _profile_for(full, profile, overrides)
        seeds = [derive(seed, Stream.LAYER_PROGRAM, counter + i) for i in range(cls.arrays_for(child))]
        new = cls.from_seeds(child, p, seeds)
        carry_noise(child, new)
        counter += len(seeds)
        setattr(module, child_name, new)
        norm = where.norm_after(full) if where is not None else None
        if norm is not None and getattr(new, "noise", None) is not None:
            norms[norm] = new.noise
            new.noise = None
    for norm, noise in norms.items():  # the product's output noise behind its batch norm
        parent_name, _, attr = norm.rpartition(".")
        parent = target.get_submodule(parent_name)
        setattr(parent, attr, NoiseAfter(getattr(parent, attr), noise))
    counter, kept = _map_by_use(target, usage, candidates, digital, profile, overrides, seed, counter)
    if counter == 0:
        raise UnsupportedLayerError(
            f"{type(model).__name__} has no weight that multiplies an input; mapped by class: "
            f"{', '.join(SUPPORTED)}, and any parameter in a matrix product (pass example= to trace one)")
    target.crossbar_digital = tuple(kept)
    target.crossbar_folded = tuple(folded)
    for m in target.modules():
        if isinstance(m, nn.TransformerEncoder):
            m.use_nested_tensor = False  # torch's sparse fast path computes the layers in float
    target.eval()
    install(target, read_noise_time)
    from crossbar.nn.chip import calibrate, share_range_notice

    share_range_notice(target)
    if calibration is not None:
        calibrate(target, calibration, seed)
    return target


def _by_class(model: nn.Module, digital: Sequence[str]) -> dict[str, tuple[nn.Module, str, nn.Module]]:
    """Layers mapped by class: name -> (parent, attribute, layer), parent by parent in module order
    (the order of programming seeds); none inside another or kept digital."""
    out: dict[str, tuple[nn.Module, str, nn.Module]] = {}
    for name, module in model.named_modules():
        if any(name == k or name.startswith(k + ".") for k in out):
            continue
        for child_name, child in module.named_children():
            full = f"{name}.{child_name}" if name else child_name
            if analog_class(child) is not None and not _matches(full, digital):
                out[full] = (module, child_name, child)
    return out


def _decide(model: nn.Module, classed: dict, digital: Sequence[str], example, calibration):
    """The parameters decided by use and what one traced forward did with them."""
    inside = {id(p) for _, _, m in classed.values() for p in m.parameters()}
    candidates = {n: p for n, p in model.named_parameters() if id(p) not in inside}
    owners = {n: model.get_submodule(n.rpartition(".")[0]) for n in candidates}
    needs = [n for n, p in candidates.items() if not _matches(n, digital)
             and (p.dim() >= 2 or not isinstance(owners[n], _NORMS))]
    if not needs:
        return None, candidates
    given = example if example is not None else calibration
    if isinstance(given, (tuple, list)) and given and all(isinstance(t, torch.Tensor) for t in given):
        x = tuple(given)  # the model's arguments
    else:
        x = example_batch(model, given)
    if x is None:
        raise UnsupportedLayerError(
            f"{type(model).__name__}: deciding whether {needs[0]!r} (and {len(needs) - 1} more) multiply "
            "an input needs one forward pass; pass example= (an input batch or the per-sample shape)")
    with quiet(model):
        usage = trace_usage(model, x, set(needs))
    for n in needs:
        use = usage.refused(n)
        if use is not None:
            where = f"module {use.user!r} ({use.user_class})" if use.user else "the model's forward"
            raise UnsupportedLayerError(
                f"parameter {n!r} in {where}: {use.reason}; fold the weight into a parameter first, or "
                f"keep it digital knowingly with convert(..., digital=[{n!r}])")
    return usage, candidates


def mapped_by_use(model: nn.Module, example) -> list[str]:
    """The parameters ``convert(model, ..., example=example)`` would map by use (multiplied with
    an input outside the layers it maps by class), from one traced forward; what it would
    refuse raises as there."""
    usage, candidates = _decide(model, _by_class(model, ()), (), example, None)
    return [n for n in candidates if usage is not None and usage.products(n)]


def _map_by_use(model: nn.Module, usage: Usage | None, candidates: dict, digital: Sequence[str], profile,
                overrides, seed: int, counter: int) -> tuple[int, list[DigitalParameter]]:
    """Program an array for every matrix each traced parameter is multiplied as; the rest digital."""
    kept = []
    holders = [(m, attr, p) for m in model.modules() for attr, p in m._parameters.items() if p is not None]
    for name, param in candidates.items():
        products = usage.products(name) if usage is not None else {}
        if not products:
            kept.append(DigitalParameter(name, tuple(param.shape), _reason(model, name, usage, digital)))
            continue
        p = _profile_for(name, profile, overrides)
        arrays = {}
        for key, use in products.items():
            arrays[key] = AnalogProduct(use.matrix, p, derive(seed, Stream.LAYER_PROGRAM, counter),
                                        parameter=name, user=use.user_class, op=use.op)
            counter += 1
        others = usage.reason(name)
        if others != "unused in the traced forward":
            kept.append(DigitalParameter(name, tuple(param.shape), f"also {others} (digital)"))
        weight = MappedWeight.wrap(param.data, name, arrays)
        owner_name, _, attr = name.rpartition(".")
        for i, array in enumerate(arrays.values()):
            model.get_submodule(owner_name).add_module(f"{attr}_array{i or ''}", array)
        for module, a, q in holders:
            if q is param:
                del module._parameters[a]
                module.register_buffer(a, weight, persistent=False)
    return counter, kept


def _reason(model: nn.Module, name: str, usage: Usage | None, digital: Sequence[str]) -> str:
    """Why a parameter with no product stays digital."""
    if _matches(name, digital):
        return "kept digital (digital=)"
    if usage is not None and name in usage.uses:
        return usage.reason(name)
    if isinstance(model.get_submodule(name.rpartition(".")[0]), _NORMS):
        return "scale" if name.endswith("weight") else "added"
    return "unused in the traced forward"


def to_float(model: nn.Module, inplace: bool = False) -> nn.Module:
    """A plain torch model from a converted one: every analog layer back to its torch layer and
    every weight mapped by use back to a parameter (the target weights, not the programmed
    conductances), abstract output noise removed, weight norms put back."""
    target = model if inplace else copy.deepcopy(model)
    analog_types = tuple(MAPPABLE.values())

    def restore(module: nn.Module) -> None:
        for child_name, child in list(module.named_children()):
            if isinstance(child, NoiseAfter):
                setattr(module, child_name, child.inner)
                restore(child.inner)
            elif isinstance(child, AnalogProduct):
                delattr(module, child_name)
            elif isinstance(child, analog_types):
                plain = child.to_float()
                carry_noise(child, plain)
                setattr(module, child_name, plain)
            else:
                restore(child)

    if isinstance(target, analog_types):
        return target.to_float()
    restore(target)
    params: dict[int, nn.Parameter] = {}
    for m in target.modules():
        for attr, b in list(m._buffers.items()):
            if isinstance(b, MappedWeight):
                del m._buffers[attr]
                m.register_parameter(attr, params.setdefault(id(b), nn.Parameter(b.plain().clone())))
    unfold(target, list(getattr(target, "crossbar_folded", ())))
    for attr in ("crossbar_digital", "crossbar_folded"):
        target.__dict__.pop(attr, None)
    return target


def _noise_plan(model: nn.Module, profile, overrides: dict | None, example) -> Placement | None:
    """Where abstract output noise goes (None: no profile used here has output noise)."""
    profiles = [profile, *(as_profile(p) for p in (overrides or {}).values())]
    if all(p.output_noise is None for p in profiles):
        return None
    return example if isinstance(example, Placement) else plan(model, example)


def _check_mappable(model: nn.Module, digital: Sequence[str]) -> None:
    for name, module in model.named_modules():
        if name and _matches(name, digital):
            continue
        where = f"layer {name!r} ({type(module).__name__})" if name else type(module).__name__
        cls = analog_class(module)
        reason = None if cls is None else cls.unsupported(module)
        if reason:
            raise UnsupportedLayerError(f"{where}: {reason}")
        if isinstance(module, _UNMAPPABLE):
            raise UnsupportedLayerError(
                f"{where} cannot be mapped onto crossbar arrays yet; mapped by class: "
                f"{', '.join(SUPPORTED)}. "
                f"Keep it digital knowingly with convert(..., digital=[{name!r}]).")


def analog_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, layer) of every array-backed layer, LSTM gate arrays and by-use arrays included."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, AnalogLayer)]


def reseed(model: nn.Module, seed: int) -> None:
    """Restart every read sequence from ``seed``: each array's read noise, each abstract
    output noise and the chip clock's calls (programmed conductances and the session kept)."""
    if getattr(model, "crossbar_clock", None) is not None:
        model.crossbar_clock.calls = 0
    for i, (_, layer) in enumerate(analog_layers(model)):
        layer.reseed(derive(seed, Stream.LAYER_READ, i))
    noises = [m for m in model.modules() if isinstance(m, AbstractNoise)]
    for j, noise in enumerate(noises):
        noise.reseed(derive(seed, Stream.OUTPUT_NOISE, j))


def reprogram(model: nn.Module, seed: int) -> None:
    """Programme every array again with seed ``seed``: an independent set of replicated arrays
    (at the same time since programming). Calibrate the ADC ranges again afterwards."""
    for i, (_, layer) in enumerate(analog_layers(model)):
        layer.program(derive(seed, Stream.LAYER_PROGRAM, i))


