"""The exact read's variance product: torch's bfloat16 kernel against the float32 route of
``crossbar.read.variance`` (the same bits), in one process, interleaved.

Prints, for the exact PCM reads of bench_mvm.py (784x256 and 1024x1024, batch 1000, 256 x 256
tiles, a fresh key per read), the median time of the float32 BLAS bound, of the read with the
float32 route, of the same read with every variance product torch's bfloat16 one, and of the
variance product alone both ways (the read's own shapes); each as a multiple of the bound, and
whether both reads gave the same bits; first which oneDNN kernel the bfloat16 product gets here
(from the CPU flags: AMX, else AVX512-BF16) and whether the route's probe agreed with it.
With ``--grid``: instead, the variance product alone, the float32 route's time over the bfloat16
kernel's for inner sizes 64-256 and 32-1,024 columns (3 bands of 4,000 rows, 1,000 from 512
columns), the caches flushed before each call as a read's other passes do: where the route pays
(``crossbar.read.variance``'s MIN_INNER and MIN_COLS).
Run: ``python benchmarks/bench_variance.py [--threads 1 2] [--clock cpu] [--repeats N] [--grid]``.
"""

from __future__ import annotations

import crossbar  # noqa: F401 - imported before torch, as the CLI does (crossbar.SPIN_NOTE)

# isort: split

import numpy as np
import torch
from bench_mvm import interleaved_medians, read_options, side_by_side, start

from crossbar import CrossbarArray, devices
from crossbar.read import variance
from crossbar.read.cpu import scratch
from crossbar.seeds import Stream, derive


def bench_shape(n_in: int, n_out: int, batch: int, repeats: int, pcm, rng, clock) -> dict[str, float]:
    """Print each case's median time and multiple of the bound; returns the multiples."""
    W = rng.normal(0, 0.1, size=(n_in, n_out)).astype(np.float32)
    x = rng.random((batch, n_in)).astype(np.float32)
    xt, Wt = torch.from_numpy(x), torch.from_numpy(W)
    exact = CrossbarArray.program(W, pcm, seed=1)
    exact.calibrate(x[:256], key=derive(3, Stream.CALIBRATION_READ))
    reads = iter(range(10**9))

    def key() -> int:
        return derive(3, Stream.READ, next(reads))

    def bf16_read():
        with variance.bfloat16_only():
            return exact.mvm(xt, key=key())

    full = n_in // 256  # the read's batched product of its full-height bands
    levels = torch.from_numpy(rng.integers(0, 64, size=(full, batch, 256)).astype(np.float32)) / 63
    u2, cells = (levels * levels).to(torch.bfloat16), exact.variance[:full].contiguous()
    out = torch.empty(full, batch, n_out, dtype=torch.bfloat16)
    cases = {
        "bound: float32 BLAS x @ W": lambda: torch.matmul(xt, Wt),
        "exact read, float32 route": lambda: exact.mvm(xt, key=key()),
        "exact read, bfloat16 kernel": bf16_read,
        "variance product, float32 route": lambda: variance.product(u2, cells, out, scratch),
        "variance product, bfloat16": lambda: torch.matmul(u2, cells, out=out),
    }
    medians = interleaved_medians(cases, repeats, clock)
    bound = medians["bound: float32 BLAS x @ W"]
    for name, t in medians.items():
        print(f"{n_in}x{n_out:<5} {name:<34} {t * 1e3:10.2f} {t / bound:8.2f}")
    check = derive(3, Stream.READ, 10**9)  # one key read both ways
    routed = exact.mvm(xt, key=check)
    with variance.bfloat16_only():
        same = torch.equal(routed, exact.mvm(xt, key=check))
    print(f"{n_in}x{n_out:<5} both reads the same bits: {same}")
    return {name: t / bound for name, t in medians.items() if not name.startswith("bound")}


def grid(repeats: int, clock) -> None:
    """Print the route's time over the bfloat16 kernel's per inner size and column count."""
    gen = torch.Generator().manual_seed(0)
    flush = torch.empty(8 << 20)  # 32 MiB written before each call: the operands leave the caches

    def timed(fn) -> float:
        fn()
        times = []
        for _ in range(repeats):
            flush.fill_(1.0)
            t0 = clock()
            fn()
            times.append(clock() - t0)
        return float(np.median(times))

    def ratio(inner: int, cols: int) -> float:
        rows = 4000 if cols <= 256 else 1000
        levels = torch.randint(0, 64, (3, rows, inner), generator=gen).float() / 63
        u2 = (levels * levels).to(torch.bfloat16)
        cells = (torch.rand(3, inner, cols, generator=gen) ** 4 * 1e-3).to(torch.bfloat16)
        out = torch.empty(3, rows, cols, dtype=torch.bfloat16)
        with variance.routing():
            operand = variance.product(u2, cells, out, scratch)
            route = timed(lambda: variance.product(u2, cells, out, scratch, operand))
        return route / timed(lambda: torch.matmul(u2, cells, out=out))

    columns = (32, 64, 128, 256, 512, 1024)
    print("float32 route / bfloat16 kernel, the product alone\ninner" + "".join(f"{c:>8}" for c in columns))
    for inner in (64, 128, 200, 256):
        print(f"{inner:5d}" + "".join(f"{ratio(inner, cols):8.2f}" for cols in columns))


def main() -> None:
    parser = read_options(__doc__.splitlines()[0], repeats=11)
    parser.add_argument("--grid", action="store_true", help="where the route pays, the product alone")
    args = parser.parse_args()
    pcm = devices.load("pcm", tile_rows=256, tile_cols=256)
    print(f"bfloat16 kernel: {variance.bfloat16_kernel()}; float32 route agrees: {variance.agrees()}")
    counts = args.threads or [torch.get_num_threads()]
    if args.grid:
        for threads in counts:
            grid(args.repeats, start(threads, args.clock))
        return
    side_by_side(counts, args.clock, 34, lambda n_in, n_out, rng, clock: bench_shape(
        n_in, n_out, args.batch, args.repeats, pcm, rng, clock))


if __name__ == "__main__":
    main()
