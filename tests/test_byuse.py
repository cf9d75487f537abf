"""Decide by use (issue 30): every weight multiplied by an input runs on arrays, whatever module
holds it; what is only added, looked up or used as a scale stays digital and is reported.

References are torch's own forward of the float model; the converted model on the noise-free
``ideal`` profile must reproduce it (relative RMS <= 0.02, the issue's bound)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from crossbar import devices
from crossbar.cost.mapping import count_mvms, network_cost_of
from crossbar.nn import AnalogMultiheadAttention, AnalogProduct, MappedWeight, summary
from crossbar.nn.convert import UnsupportedLayerError, convert, to_float

IDEAL = devices.load("ideal")
BOUND = 0.02


def rel_rms(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double(), b.detach().double()
    return float(((a - b).pow(2).mean() / b.pow(2).mean()).sqrt())


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class GPT2Conv1D(nn.Module):
    """GPT-2's ``Conv1D``: a linear layer written as ``addmm`` with the weight stored inputs x outputs."""

    def __init__(self, nf: int, nx: int) -> None:
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.randn(nx, nf, generator=gen(1)) * 0.2)
        self.bias = nn.Parameter(torch.randn(nf, generator=gen(2)) * 0.1)

    def forward(self, x):
        out = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return out.view(x.size()[:-1] + (self.nf,))


class MatmulW(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(8, 6, generator=gen(3)) * 0.3)

    def forward(self, x):
        return x @ self.w


class MatmulWT(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(6, 8, generator=gen(4)) * 0.3)

    def forward(self, x):
        return x @ self.w.t()


class FLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(6, 8, generator=gen(5)) * 0.3)
        self.b = nn.Parameter(torch.randn(6, generator=gen(6)))

    def forward(self, x):
        return F.linear(x, self.w, self.b)


class Einsum(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(6, 8, generator=gen(7)) * 0.3)  # stored outputs x inputs

    def forward(self, x):
        return torch.einsum("btd,kd->btk", x, self.w)


class TwoProducts(nn.Module):
    """One parameter multiplied twice: one array, read twice."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(8, 8, generator=gen(8)) * 0.3)

    def forward(self, x):
        return torch.relu(x @ self.w) @ self.w


class Product(torch.autograd.Function):
    """A custom autograd function: its forward is Python, so the trace sees the product."""

    @staticmethod
    def forward(ctx, x, w):
        return x @ w

    @staticmethod
    def backward(ctx, g):  # pragma: no cover - inference only
        return g, None


class InFunction(MatmulW):
    def forward(self, x):
        return Product.apply(x, self.w)


CASES = [(GPT2Conv1D(6, 8), 1), (MatmulW(), 1), (MatmulWT(), 1), (FLinear(), 1), (Einsum(), 1),
         (TwoProducts(), 2), (InFunction(), 1)]


@pytest.mark.parametrize(("net", "reads"), CASES, ids=[type(c).__name__ for c, _ in CASES])
def test_products_by_use_match_torch_and_count(net, reads):
    x = torch.randn(4, 3, 8, generator=gen(9))
    analog = convert(net, IDEAL, example=x)
    assert rel_rms(analog(x), net(x)) <= BOUND
    arrays = [m for m in analog.modules() if isinstance(m, AnalogProduct)]
    assert len(arrays) == 1  # one programmed array, however often it is read
    (mvms,) = count_mvms(analog, x).values()
    assert mvms == reads * 3  # 3 token rows per example, each product one MVM per row
    assert not [n for n, p in analog.named_parameters() if p.dim() >= 2]  # no float weight left
    back = to_float(analog)
    assert rel_rms(back(x), net(x)) < 1e-6 and {n for n, _ in back.named_parameters()} == {
        n for n, _ in net.named_parameters()}


class ViT(nn.Module):
    """A small vision transformer: patch embedding, class token, learned position embedding."""

    def __init__(self, dim: int = 32, patch: int = 7) -> None:
        super().__init__()
        self.patch = nn.Conv2d(1, dim, patch, stride=patch)
        tokens = (28 // patch) ** 2
        self.cls = nn.Parameter(torch.randn(1, 1, dim, generator=gen(10)) * 0.1)
        self.pos = nn.Parameter(torch.randn(1, tokens + 1, dim, generator=gen(11)) * 0.1)
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(dim, 4, 64, dropout=0.0, batch_first=True), 2)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 10)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls.expand(len(t), -1, -1), t], dim=1) + self.pos
        return self.head(self.norm(self.encoder(t))[:, 0])


def test_vision_transformer_maps_and_reports_what_stays_digital():
    net = ViT().eval()
    x = torch.randn(3, 1, 28, 28, generator=gen(12))
    analog = convert(net, IDEAL, example=x)
    assert rel_rms(analog(x), net(x)) <= BOUND
    s = summary(analog)
    digital = {d.name: d.reason for d in s.digital}
    assert digital["cls"] == "concatenated" and digital["pos"] == "added"
    assert digital["norm.weight"] == "scale"
    assert "cls" in s.digital_line() and "pos" in s.digital_line()
    counts = count_mvms(analog, x)
    assert counts["patch"] == 16  # one MVM per 7x7 patch
    for k in range(2):  # four projections and two feed-forward products per token (17 tokens)
        for part in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj",
                     "linear1", "linear2"):
            assert counts[f"encoder.layers.{k}.{part}"] == 17
    assert counts["head"] == 1
    assert isinstance(analog.encoder.layers[0].self_attn, AnalogMultiheadAttention)
    cost = network_cost_of(analog, x)
    heads, tokens, head_dim = 4, 17, 8
    assert cost.digital.macs == 2 * 2 * heads * tokens * tokens * head_dim  # Q K^T and A V, 2 layers
    assert cost.digital.energy > 0 and cost.energy > sum(c.energy for c in cost.layers)


class TinyBert(nn.Module):
    def __init__(self, vocab: int = 50, dim: int = 16) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(dim, 2, 32, dropout=0.0), 1,
                                             enable_nested_tensor=False)
        self.out = nn.Parameter(torch.randn(dim, 3, generator=gen(13)) * 0.3)

    def forward(self, ids):
        return self.encoder(self.embed(ids)).mean(0) @ self.out


def test_embedding_is_looked_up_digitally_and_tied_weights_are_read_for_their_product():
    net = TinyBert().eval()
    ids = torch.randint(0, 50, (5, 2), generator=gen(14))
    analog = convert(net, IDEAL, example=ids)
    assert rel_rms(analog(ids), net(ids)) <= BOUND
    digital = {d.name: d.reason for d in summary(analog).digital}
    assert digital["embed.weight"] == "looked up"
    assert network_cost_of(analog, ids, examples=2).digital.lookup_bytes == 5 * 16 * 2  # 5 tokens of 16

    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(20, 8)

        def forward(self, ids):
            return torch.tanh(self.embed(ids)) @ self.embed.weight.t()  # output head tied to the input

    tied = Tied().eval()
    ids = torch.randint(0, 20, (4, 3), generator=gen(15))
    analog = convert(tied, IDEAL, example=ids)
    assert rel_rms(analog(ids), tied(ids)) <= BOUND
    assert "looked up" in {d.name: d.reason for d in summary(analog).digital}["embed.weight"]
    assert [type(m) for m in analog.modules()].count(AnalogProduct) == 1


def test_cross_attention_with_separate_projections_and_masks():
    mha = nn.MultiheadAttention(16, 4, kdim=12, vdim=10).eval()
    q, k, v = (torch.randn(5, 2, d, generator=gen(16 + d)) for d in (16, 12, 10))
    mask = torch.zeros(5, 7, dtype=torch.bool)
    mask[:, -2:] = True
    pad = torch.tensor([[False] * 6 + [True], [False] * 7])

    class Wrap(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = mha

        def forward(self, q, k, v):
            out, w = self.a(q, k, v, key_padding_mask=pad, attn_mask=mask)
            return torch.cat([out.flatten(), w.flatten()])

    net = Wrap().eval()
    analog = convert(net, IDEAL)
    k7, v7 = torch.randn(7, 2, 12, generator=gen(30)), torch.randn(7, 2, 10, generator=gen(31))
    assert rel_rms(analog(q, k7, v7), net(q, k7, v7)) <= BOUND
    assert rel_rms(to_float(analog)(q, k7, v7), net(q, k7, v7)) < 1e-6


def test_decoder_layer_maps():
    layer = nn.TransformerDecoderLayer(16, 2, 32, dropout=0.0, batch_first=True).eval()
    tgt, memory = torch.randn(2, 5, 16, generator=gen(40)), torch.randn(2, 6, 16, generator=gen(41))

    class Dec(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.d = layer

        def forward(self, t, m):
            causal = nn.Transformer.generate_square_subsequent_mask(5)
            return self.d(t, m, tgt_is_causal=True, tgt_mask=causal)

    net = Dec().eval()
    analog = convert(net, IDEAL)
    assert rel_rms(analog(tgt, memory), net(tgt, memory)) <= BOUND


def test_weight_norm_is_folded_and_put_back():
    net = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 4))
    nn.utils.parametrizations.weight_norm(net[0])
    with pytest.warns(FutureWarning):
        nn.utils.weight_norm(net[2])  # the older, hook-based weight norm
    x = torch.randn(5, 8, generator=gen(50))
    analog = convert(net, IDEAL)
    assert rel_rms(analog(x), net(x)) <= BOUND
    assert len(summary(analog).layers) == 2
    back = to_float(analog)
    assert parametrize.is_parametrized(back[0]) and rel_rms(back(x), net(x)) < 1e-5


def test_a_vector_scale_stays_digital():
    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(6, 6)
            self.gain = nn.Parameter(torch.full((6,), 1.5))

        def forward(self, x):
            return self.lin(x) * self.gain

    x = torch.randn(3, 6, generator=gen(60))
    net = Scaled()
    analog = convert(net, IDEAL, example=x)
    assert {d.name: d.reason for d in summary(analog).digital}["gain"] == "scale"
    assert rel_rms(analog(x), net(x)) <= BOUND


class LowRank(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(6, 6, generator=gen(70)))
        self.a = nn.Parameter(torch.randn(6, 2, generator=gen(71)))
        self.b = nn.Parameter(torch.randn(2, 6, generator=gen(72)))

    def forward(self, x):
        return x @ (self.w + self.a @ self.b)


class ThroughNumpy(nn.Module):
    """A product computed outside torch, where no trace can follow the weight."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(6, 6, generator=gen(73)))

    def forward(self, x):
        return torch.from_numpy(x.numpy() @ self.w.detach().numpy())


def test_refusals_name_parameter_operation_and_the_way_out():
    x = torch.randn(2, 6, generator=gen(74))
    with pytest.raises(UnsupportedLayerError, match=r"parameter '[ab]'.*(matmul|__matmul__).*digital="):
        convert(LowRank(), IDEAL, example=x)
    with pytest.raises(UnsupportedLayerError, match=r"parameter 'w'.*enters numpy.*cannot see.*digital="):
        convert(ThroughNumpy(), IDEAL, example=x)
    with pytest.raises(UnsupportedLayerError, match=r"'w'.*pass example="):
        convert(MatmulW(), IDEAL)
    kept = convert(nn.Sequential(nn.Linear(6, 6), ThroughNumpy()), IDEAL, example=x, digital=["1"])
    assert {d.name: d.reason for d in summary(kept).digital}["1.w"] == "kept digital (digital=)"


def test_an_orientation_the_trace_did_not_see_is_refused_when_read():
    class Branch(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(6, 6, generator=gen(80)))

        def forward(self, x):
            return x @ self.w if x.shape[0] > 1 else x @ self.w.t()

    analog = convert(Branch(), IDEAL, example=torch.randn(2, 6))
    with pytest.raises(ValueError, match="trace did not see"):
        analog(torch.randn(1, 6))


def test_deepcopy_and_pickle_keep_the_weights_on_their_arrays(tmp_path):
    import copy

    net = TwoProducts()
    x = torch.randn(2, 8, generator=gen(90))
    analog = convert(net, devices.load("reram"), example=x, seed=3, calibration=x)
    twin = copy.deepcopy(analog)
    assert twin.w.crossbar_products is not analog.w.crossbar_products
    assert next(iter(twin.w.crossbar_products.values())) is twin.w_array
    torch.save(analog, tmp_path / "m.pt")
    loaded = torch.load(tmp_path / "m.pt", weights_only=False)
    assert next(iter(loaded.w.crossbar_products.values())) is loaded.w_array
    torch.testing.assert_close(loaded(x), copy.deepcopy(analog)(x), rtol=0, atol=0)


def test_noise_placement_reaches_attention_projections_and_survives_conversion():
    from crossbar.nn import NoiseConfig, noise_layers, seed_noise, set_noise
    from crossbar.nn.placement import place_noise

    net = ViT().eval()
    x = torch.randn(2, 1, 28, 28, generator=gen(100))
    clean = net(x)
    place_noise(net, NoiseConfig("mult"), example=x)
    assert rel_rms(net(x), clean) == 0.0  # noise off: torch's own forward
    # the patch embedding; per block one layer for q, k and v, out_proj, linear1, linear2; the head
    assert len(noise_layers(net)) == 1 + 2 * 4 + 1
    seed_noise(net, 0)
    set_noise(net, sigma_train=0.3, sigma_val=0.3)
    assert rel_rms(net(x), clean) > 0.01
    net.train()
    net(x).sum().backward()
    assert net.encoder.layers[0].self_attn.in_proj_weight.grad.abs().sum() > 0  # gradients reach q, k, v
    analog = convert(net.eval(), IDEAL, example=x)  # the placed noise goes with the layers
    attn = analog.encoder.layers[0].self_attn
    assert all(hasattr(p, "crossbar_noise") for p in (attn.q_proj, attn.k_proj, attn.v_proj, attn.out_proj))


class TokenClassifier(nn.Module):
    """A BERT-style encoder: token embedding (looked up), learned positions (added), one encoder
    layer, a head multiplied in the module's own forward. Token ids arrive as floats (user data
    is float32) and are cast back."""

    def __init__(self, vocab: int = 16, dim: int = 16, steps: int = 6) -> None:
        super().__init__()
        self.crossbar_input = (steps,)
        self.embed = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.randn(steps, dim, generator=gen(110)) * 0.1)
        layer = nn.TransformerEncoderLayer(dim, 2, 32, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.head = nn.Parameter(torch.randn(dim, 2, generator=gen(111)) * 0.3)

    def forward(self, ids):
        return self.encoder(self.embed(ids.long()) + self.pos).mean(1) @ self.head


def _token_data(n: int, seed: int):
    """Class 1: the sequence holds token 3 more often than token 5."""
    ids = torch.randint(0, 16, (n, 6), generator=gen(seed))
    y = ((ids == 3).sum(1) > (ids == 5).sum(1)).long()
    return ids.float(), y


def test_a_bert_style_encoder_through_sweep_and_budget(tmp_path):
    from crossbar.experiments import BudgetConfig, SweepConfig, run_budget, run_sweep

    x_train, y_train = _token_data(96, 120)
    x_test, y_test = _token_data(30, 121)
    data = (x_train, y_train, x_test, y_test)
    net = TokenClassifier()
    sweep = SweepConfig(sigma_train=(0.0, 0.5), sigma_val=(0.5,), runs=2, votes=2, epochs=1, lr=1e-3,
                        eval_batch_size=15, draws_per_pass=2, profile="pcm", out=str(tmp_path / "sweep"))
    result = run_sweep(sweep, model=net, data=data, progress=False, report=False)
    assert len(result.records) == 2
    assert all(0.0 <= a <= 1.0 for r in result.records for a in r["accuracy"])
    budget = BudgetConfig(checkpoint=str(tmp_path / "unused.pt"), test_limit=30, profile="reram", votes=(1,),
                          repeats=1, noise_range=(1.0, 4.0),
                          rel_tol=1.0, max_evaluations=4, out=str(tmp_path / "budget"), plots=False)
    r = run_budget(budget, model=net.eval(), data=data, progress=False)
    assert set(r.thresholds) == {1} and 0.0 <= r.digital_accuracy <= 1.0
    names = [layer.name for layer in r.network.layers]
    assert "head_array" in names and "encoder.layers.0.self_attn.q_proj" in names
    assert r.network.digital.macs > 0 and r.network.digital.lookup_bytes > 0


class FunctionalConvs(nn.Module):
    """Convolutions written with torch.nn.functional on the module's own parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.k1 = nn.Parameter(torch.randn(4, 2, 3, generator=gen(130)) * 0.3)
        self.k2 = nn.Parameter(torch.randn(3, 4, 3, 3, generator=gen(131)) * 0.3)
        self.b2 = nn.Parameter(torch.randn(3, generator=gen(132)) * 0.1)

    def forward(self, x):  # x: N x 2 x 10
        h = torch.relu(F.conv1d(x, self.k1, padding=1, stride=2))  # N x 4 x 5
        h = h.unsqueeze(2).expand(-1, -1, 5, -1)  # N x 4 x 5 x 5
        return F.conv2d(h, self.k2, self.b2, padding="valid", dilation=(1, 2))  # N x 3 x 3 x 1


def test_functional_convolutions_map_by_use():
    net = FunctionalConvs()
    x = torch.randn(2, 2, 10, generator=gen(133))
    analog = convert(net, IDEAL, example=x)
    assert rel_rms(analog(x), net(x)) <= BOUND
    counts = count_mvms(analog, x)
    assert counts == {"k1_array": 5, "k2_array": 3 * 1}  # one MVM per output position
    assert {d.name: d.reason for d in summary(analog).digital}["b2"] == "added"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: converted layers on GPU tensors")
def test_weights_by_use_and_attention_run_on_cuda():
    net = ViT().eval()
    x = torch.randn(4, 1, 28, 28, generator=gen(140))
    analog = convert(net, IDEAL, example=x).to("cuda")
    out = analog(x.cuda())
    assert out.device.type == "cuda" and rel_rms(out.cpu(), net(x)) <= BOUND
    two = convert(TwoProducts(), IDEAL, example=torch.randn(2, 8)).to("cuda")
    assert isinstance(two.w, MappedWeight) and two.w.device.type == "cuda"
    y = torch.randn(3, 8, generator=gen(141))
    assert rel_rms(two(y.cuda()).cpu(), TwoProducts()(y)) <= BOUND


def test_a_moved_model_keeps_its_weights_on_their_arrays():
    analog = convert(TwoProducts(), IDEAL, example=torch.randn(2, 8)).to("cpu").float()
    assert isinstance(analog.w, MappedWeight) and analog.w.crossbar_products
    y = torch.randn(3, 8, generator=gen(142))
    assert rel_rms(analog(y), TwoProducts()(y)) <= BOUND


def test_code_around_a_converted_layer_reads_its_weight_metadata_and_hyper_parameters():
    class PatchEmbed(nn.Module):
        """As several model libraries write it: the input cast to the weight's dtype, the
        padding computed from the convolution's own stride and kernel size."""

        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Conv2d(3, 8, 4, stride=4, groups=1)
            self.head = nn.Linear(8, 2)

        def forward(self, x):
            x = x.to(self.proj.weight.dtype)
            pad = (self.proj.kernel_size[0] - self.proj.stride[0]) // 2
            h = self.proj(F.pad(x, (pad,) * 4)).mean((2, 3))
            assert self.head.in_features == 8
            return self.head(h)

    net = PatchEmbed().eval()
    x = torch.randn(2, 3, 16, 16, generator=gen(150))
    analog = convert(net, IDEAL)
    assert rel_rms(analog(x), net(x)) <= BOUND
    assert analog.proj.weight.shape == net.proj.weight.shape
    assert torch.equal(analog.proj.weight.plain(), net.proj.weight.detach())
    with pytest.raises(ValueError, match="trace did not see"):  # the float weight is never multiplied
        F.conv2d(x, analog.proj.weight)


def test_a_weight_normalised_conv1d_is_folded():
    conv = nn.Conv1d(4, 6, 5, padding=2, groups=2)
    nn.utils.parametrizations.weight_norm(conv, dim=2)  # as speech models' positional convolutions
    net = nn.Sequential(conv, nn.GELU())
    x = torch.randn(3, 4, 20, generator=gen(151))
    analog = convert(net, IDEAL)
    assert rel_rms(analog(x), net(x)) <= BOUND
    assert set(count_mvms(analog, x).values()) == {20}  # one MVM per output position, on each array
    back = to_float(analog)
    assert parametrize.is_parametrized(back[0]) and rel_rms(back(x), net(x)) < 1e-5
