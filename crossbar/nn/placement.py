"""Where Qin & Vucinic's noise goes in any torch network, and putting it there without editing it.

**The rule.** Every matrix-vector product of a layer ``convert`` maps
(``MAPPABLE``: Linear, convolutions, transposed convolutions, RNN, GRU, LSTM)
gets Eq. 2/3 noise on its output, except that where the product's output goes
straight into a batch norm and nowhere else, the noise goes after that batch
norm, as the paper places it (conv -> BN -> noise -> ReLU). A recurrent
layer's noise is on its gate pre-activations ``W [x, h] + b`` at every step,
in every layer and direction, before the sigmoid / tanh (Fig. 1 of the paper).

**How it is found** (:func:`plan`): one forward pass of an example input in
eval mode, watched by forward hooks on every module and a torch function mode
that sees every tensor operation. A batch norm takes a product's noise when
(1) every call of the product sends its output to that batch norm and to
nothing else (no other module, no other operation: a residual ``bn(y) + y``
keeps the noise on ``y``), and (2) every call of the batch norm reads an
output of that product. Modules that hand their input back unchanged
(``Identity``, dropout in eval mode, a noise layer at sigma 0) are looked
through. Without a batch norm in the model no trace is needed.

**Limits.** The trace sees the path one input takes: a branch not taken
keeps its products' noise right after them. Products computed outside these
layers (``x @ w``, ``F.linear``, attention inside ``nn.MultiheadAttention``)
get no noise: :func:`plan` warns about each one it sees
(:class:`UnplacedProductWarning`). A batch norm reached through a reshape
(``view``, ``flatten``) does not count as following the product.

**Placing** (:func:`place_noise`): a ``NoiseInjection`` becomes a child
``crossbar_noise`` of the layer whose output it perturbs and a forward hook
applies it, so parameter names and ``state_dict`` keys do not change; an
``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` becomes a :class:`NoisyLSTM` /
:class:`NoisyGRU` / :class:`NoisyRNN` (same parameters) that writes the
recurrence out when its noise is on. ``crossbar.nn.convert`` uses the same
:func:`plan` for an abstract profile's output noise and keeps placed noise
layers (:func:`carry_noise`).
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.overrides import TorchFunctionMode

from crossbar.nn.analog import AnalogRecurrent
from crossbar.nn.attention import AnalogMultiheadAttention, NoisyMultiheadAttention
from crossbar.nn.mappable import MAPPABLE
from crossbar.nn.noise import NO_NOISE, NoiseConfig, NoiseInjection, noise_layers
from crossbar.nn.recurrent import param_suffixes, torch_gate
from crossbar.read.ops import recurrence

__all__ = ["NOISE_ATTR", "NoisyGRU", "NoisyLSTM", "NoisyRNN", "Placement", "PlacementError",
           "UnplacedProductWarning", "carry_noise", "example_batch", "place_noise", "plan", "quiet"]

NOISE_ATTR = "crossbar_noise"
"""Name of the noise layer :func:`place_noise` adds to the module whose output it perturbs."""

# Attention's projections run inside torch's fused attention function, where no hook reaches them.
PRODUCTS: tuple[type[nn.Module], ...] = tuple(t for t in MAPPABLE if t is not nn.MultiheadAttention)
# Tensor operations that compute a matrix product (reported when no product layer runs them).
_PRODUCT_OPS = {"linear", "bilinear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                "conv_transpose2d", "conv_transpose3d", "matmul", "__matmul__", "__rmatmul__", "mm",
                "bmm", "addmm", "addmv", "mv", "einsum", "baddbmm", "tensordot", "lstm", "gru",
                "rnn_tanh", "rnn_relu"}
# Operations that read a tensor's metadata only: they do not consume its values.
_METADATA_OPS = {"size", "dim", "numel", "__len__", "__get__", "stride", "is_contiguous",
                 "is_floating_point", "element_size", "__format__", "__repr__"}


class PlacementError(ValueError):
    """The noise cannot be placed (the message says which layer and why)."""


class UnplacedProductWarning(UserWarning):
    """A matrix product ran outside the layers convert maps (MAPPABLE), so it gets no noise."""


@dataclass(frozen=True)
class Placement:
    """The result of :func:`plan`: product layer name -> name of the layer whose output
    gets its noise (the product itself, or the batch norm that follows it)."""

    targets: dict[str, str] = field(hash=False)
    traced: bool = False
    unplaced: tuple[str, ...] = ()

    def norm_after(self, product: str) -> str | None:
        """The batch norm that takes ``product``'s noise (None: the product itself)."""
        target = self.targets.get(product, product)
        return None if target == product else target


def example_batch(model: nn.Module, example: Any = None) -> torch.Tensor | None:
    """An input batch for a trace: ``example`` (a batch, used as given, or a per-sample
    shape, zeros), else the per-sample shape the model records in ``crossbar_input``."""
    if isinstance(example, torch.Tensor):
        return example[:2]
    shape = example if example is not None else getattr(model, "crossbar_input", None)
    if shape is None:
        return None
    if not isinstance(shape, Sequence) or not all(isinstance(s, int) and s > 0 for s in shape):
        raise PlacementError(f"example must be an input batch or a per-sample shape, got {shape!r}")
    p = next(model.parameters(), None)
    return torch.zeros((1, *shape), device=p.device if p is not None else "cpu")


def _is_product(m: nn.Module) -> bool:
    return isinstance(m, PRODUCTS)


def _children(m: nn.Module) -> list[nn.Module]:
    return [c for n, c in m.named_children() if n != NOISE_ATTR]


def _opaque(m: nn.Module) -> bool:
    """A layer whose inner operations are its own business (one consumer of its input)."""
    if _is_product(m) or isinstance(m, (_BatchNorm, NoiseInjection)):
        return True
    return not _children(m) and type(m).__module__.startswith(("torch.", "crossbar."))


def _tensors(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o)]
    return []


class _Trace(TorchFunctionMode):
    """Which layer and operation reads each product output during one forward pass."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.names = {id(m): n for n, m in model.named_modules()}
        self.stack: list[nn.Module] = []
        self.made: dict[int, tuple[str, int]] = {}  # id(product output) -> (product, call)
        self.keep: list[torch.Tensor] = []  # outputs stay alive, so ids stay unique
        self.calls: dict[str, int] = defaultdict(int)
        self.readers: dict[tuple[str, int], list[str]] = defaultdict(list)
        self.norm_reads: dict[str, list[tuple[str, int] | None]] = defaultdict(list)
        self.pending: list[list[tuple[str, int]]] = []
        self.unplaced: list[str] = []

    def _inside(self) -> bool:
        return any(_opaque(m) for m in self.stack)

    def pre(self, module: nn.Module, args: tuple) -> None:
        inside = self._inside()
        self.stack.append(module)
        read = [] if inside or not _opaque(module) else [
            self.made[id(t)] for t in _tensors(args) if id(t) in self.made]
        self.pending.append(read)

    def post(self, module: nn.Module, args: tuple, out: Any) -> None:
        self.stack.pop()
        read = self.pending.pop()
        if self._inside() or not _opaque(module):
            return
        name = self.names.get(id(module), "?")
        passed = [t for t in _tensors(args) if isinstance(out, torch.Tensor) and t is out]
        if not passed:  # a layer that hands its input back is looked through
            for key in read:
                self.readers[key].append(name)
        if isinstance(module, _BatchNorm):
            self.norm_reads[name].append(read[0] if len(read) == 1 else None)
        if _is_product(module):
            call = self.calls[name]
            self.calls[name] += 1
            if isinstance(out, torch.Tensor):
                self.made[id(out)] = (name, call)
                self.keep.append(out)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        op = getattr(func, "__name__", "")
        if op not in _METADATA_OPS and not self._inside():
            for t in _tensors(args) + _tensors(kwargs):
                key = self.made.get(id(t))
                if key is not None:
                    self.readers[key].append(f"operation {op}")
            if op in _PRODUCT_OPS:
                where = self.names.get(id(self.stack[-1]), "") if self.stack else ""
                self.unplaced.append(f"{op} in {where or 'the model forward'}")
        return func(*args, **kwargs)


@contextlib.contextmanager
def quiet(model: nn.Module):
    """Eval mode, no gradients and every noise layer off for the trace; restored afterwards."""
    modes = {m: m.training for m in model.modules()}
    configs = [(layer, layer.config) for layer in noise_layers(model)]
    try:
        model.eval()
        for layer, _ in configs:
            layer.config = NO_NOISE
        with torch.no_grad():
            yield
    finally:
        for m, training in modes.items():
            m.training = training
        for layer, cfg in configs:
            layer.config = cfg


def plan(model: nn.Module, example: Any = None) -> Placement:
    """Where each product's noise goes in ``model`` (module doc: the rule and its limits).

    ``example``: an input batch or a per-sample shape (default: ``model.crossbar_input``,
    which the networks of ``crossbar.models`` record). Needed only when the model has a
    batch norm; without one every product keeps its noise. Warns
    (:class:`UnplacedProductWarning`) about products computed outside the layers.
    """
    products = [n for n, m in model.named_modules() if _is_product(m)]
    if not any(isinstance(m, _BatchNorm) for m in model.modules()):
        return Placement({p: p for p in products})
    x = example_batch(model, example)
    if x is None:
        raise PlacementError(
            f"{type(model).__name__} has batch norms, so placing noise needs one forward pass to see "
            "which batch norm follows which product: pass example= (an input batch or the "
            "per-sample shape, e.g. (1, 28, 28))")
    probe = model
    if any(type(m).__module__.startswith("crossbar.nn.analog") for m in model.modules()):
        probe = copy.deepcopy(model)  # reads of converted layers advance their read sequences
    trace = _Trace(probe)
    handles = []
    for m in probe.modules():
        handles.append(m.register_forward_pre_hook(trace.pre))
        handles.append(m.register_forward_hook(trace.post))
    try:
        with quiet(probe), trace:
            probe(x)
    except PlacementError:
        raise
    except Exception as err:  # noqa: BLE001 - the user's network failed on the example
        raise PlacementError(f"{type(model).__name__} failed on an example input of shape "
                             f"{tuple(x.shape)}: {type(err).__name__}: {' '.join(str(err).split())[:300]}"
                             ) from None
    finally:
        for h in handles:
            h.remove()
    targets = {p: p for p in products}
    taken: set[str] = set()
    for p in products:
        keys = [(p, c) for c in range(trace.calls.get(p, 0))]
        readers = {tuple(trace.readers.get(k, ())) for k in keys}
        if len(readers) != 1:
            continue
        (only,) = readers
        if len(only) != 1 or only[0] not in trace.norm_reads or only[0] in taken:
            continue
        norm = only[0]
        if all(r is not None and r[0] == p for r in trace.norm_reads[norm]):
            targets[p] = norm
            taken.add(norm)
    unplaced = tuple(dict.fromkeys(trace.unplaced))
    for what in unplaced:
        warnings.warn(UnplacedProductWarning(
            f"{type(model).__name__}: a matrix product ({what}) runs outside the layers "
            "crossbar.nn.convert maps and gets no noise"), stacklevel=2)
    return Placement(targets, traced=True, unplaced=unplaced)


# ------------------------------------------------------------------ placing noise layers


def _apply_noise(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
    """Forward hook: the module's output through its placed noise layer."""
    return getattr(module, NOISE_ATTR)(output)


def _attach(module: nn.Module, layer: NoiseInjection) -> None:
    module.add_module(NOISE_ATTR, layer)
    module.register_forward_hook(_apply_noise)


class _NoisyRecurrent:
    """A torch RNN, GRU or LSTM with Eq. 2/3 noise on each step's gate pre-activations.

    The parameters are the module's own. While the noise is off (kind ``none`` or sigma 0)
    the forward is torch's; otherwise it is :func:`crossbar.read.ops.recurrence` (the one of
    the analog layers) on the pre-activations in the arrays' layout
    (:func:`crossbar.nn.recurrent.torch_gate`: ``W_ih x + W_hh h + b``, a GRU's
    [r, z, n_x, n_h]), every layer and direction, with the noise applied before the
    nonlinearities.
    """

    def forward(self, input, hx=None):  # noqa: A002 - torch's argument name
        noise = getattr(self, NOISE_ATTR, None)
        if noise is None or noise.sigma == 0.0:
            return super().forward(input, hx)
        if not isinstance(input, torch.Tensor):
            raise PlacementError(f"an {self.mode} with noise takes padded tensors, not packed sequences")
        gates = [torch_gate(self, suffix, noise) for suffix in param_suffixes(self)]
        return recurrence(self.mode, input, hx, gates, directions=2 if self.bidirectional else 1,
                          hidden=self.hidden_size, batch_first=self.batch_first)


class NoisyRNN(_NoisyRecurrent, nn.RNN):
    """``nn.RNN`` with placed noise (:class:`_NoisyRecurrent`)."""


class NoisyGRU(_NoisyRecurrent, nn.GRU):
    """``nn.GRU`` with placed noise (:class:`_NoisyRecurrent`)."""


class NoisyLSTM(_NoisyRecurrent, nn.LSTM):
    """``nn.LSTM`` with placed noise (:class:`_NoisyRecurrent`)."""


_NOISY = {nn.LSTM: NoisyLSTM, nn.GRU: NoisyGRU, nn.RNN: NoisyRNN}


def _make_noisy(module: nn.RNNBase, layer: NoiseInjection) -> None:
    module.__class__ = next(cls for base, cls in _NOISY.items() if isinstance(module, base))
    module.add_module(NOISE_ATTR, layer)


def _check_recurrent(name: str, m: nn.RNNBase) -> None:
    if getattr(m, "proj_size", 0):
        raise PlacementError(f"layer {name!r}: noise cannot be placed on an LSTM with proj_size")
    if m.dropout:
        raise PlacementError(f"layer {name!r}: {type(m).__name__} dropout={m.dropout:g} draws from torch's "
                             "global random generator; set dropout=0")


def place_noise(model: nn.Module, noise: NoiseConfig = NO_NOISE, example: Any = None, *,
                placement: Placement | None = None) -> nn.Module:
    """Put a ``NoiseInjection(noise)`` after every product of ``model`` (in place; returns it).

    Where each goes follows :func:`plan` (``example`` as there; or pass its result as
    ``placement``). The layers start with private noise sources; seed them with
    ``crossbar.nn.seed_noise``. A model that already has noise layers is refused (its
    own placement stands; change their settings with ``crossbar.nn.set_noise``).
    """
    if not isinstance(noise, NoiseConfig):
        raise TypeError(f"noise must be a NoiseConfig, got {type(noise)!r}")
    have = noise_layers(model)
    if have:
        raise PlacementError(f"{type(model).__name__} already has {len(have)} noise layer(s); "
                             "use crossbar.nn.set_noise to configure them")
    for name, m in model.named_modules():
        if isinstance(m, nn.RNNBase):
            _check_recurrent(name, m)
    where = placement if placement is not None else plan(model, example)
    modules = dict(model.named_modules())
    for target in where.targets.values():
        module = modules[target]
        if isinstance(module, nn.RNNBase):
            _make_noisy(module, NoiseInjection(noise))
        else:
            _attach(module, NoiseInjection(noise))
    for module in modules.values():  # q, k and v projections (out_proj is a Linear, placed above)
        if isinstance(module, nn.MultiheadAttention):
            module.__class__ = NoisyMultiheadAttention
            module.add_module(NOISE_ATTR, NoiseInjection(noise))
    return model


def _placed(module: nn.Module) -> NoiseInjection | None:
    if isinstance(module, AnalogRecurrent):
        return getattr(module.gates[0], NOISE_ATTR, None) if len(module.gates) else None
    if isinstance(module, AnalogMultiheadAttention):
        return getattr(module.q_proj, NOISE_ATTR, None)
    layer = getattr(module, NOISE_ATTR, None)
    return layer if isinstance(layer, NoiseInjection) else None


def carry_noise(old: nn.Module, new: nn.Module) -> None:
    """Give ``new`` (a layer replacing ``old``: analog for torch or back) ``old``'s placed noise."""
    layer = _placed(old)
    if isinstance(old, (nn.MultiheadAttention, AnalogMultiheadAttention)):
        carry_noise(old.out_proj, new.out_proj)
    if layer is None:
        return
    if isinstance(new, AnalogMultiheadAttention):
        for proj in (new.q_proj, new.k_proj, new.v_proj):
            _attach(proj, layer)
    elif isinstance(new, nn.MultiheadAttention):
        new.__class__ = NoisyMultiheadAttention
        new.add_module(NOISE_ATTR, layer)
    elif isinstance(new, AnalogRecurrent):
        for gate in new.gates:  # each layer and direction's fused gate product, as the noisy modules place it
            _attach(gate, layer)
    elif isinstance(new, nn.RNNBase):
        _make_noisy(new, layer)
    else:
        _attach(new, layer)
