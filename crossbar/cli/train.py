"""`crossbar-sim train`: argument parsing for crossbar.training.train."""

from __future__ import annotations

import argparse
import math

from crossbar.nn.noise import NOISE_KINDS, NoiseConfig

from .types import count, finite


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from crossbar.models import available

    parser.add_argument("--model", default="cnn6", help=f"one of {', '.join(available())}")
    parser.add_argument("--data", default="mnist5k", help="crossbar.data dataset name")
    parser.add_argument("--noise", choices=NOISE_KINDS, default="none", help="noise model")
    parser.add_argument("--sigma-train", type=finite(0.0), default=0.0, help="noise std in training")
    parser.add_argument(
        "--sigma-val", type=finite(0.0), default=0.0, help="noise std for the per-epoch test accuracy"
    )
    parser.add_argument("--epochs", type=count(1, 100_000), default=1)
    parser.add_argument("--batch-size", type=count(1, 1_000_000), default=None, help="default: model recipe")
    parser.add_argument("--lr", type=finite(0.0, lo_open=True), default=None, help="default: model recipe")
    parser.add_argument(
        "--optimizer", choices=("adam", "sgd", "momentum"), default=None, help="default: recipe"
    )
    parser.add_argument("--seed", type=count(0, 2**64 - 1), default=0)
    parser.add_argument("--out", default=None, help="checkpoint file, written after every epoch")
    parser.add_argument(
        "--no-resume",
        dest="resume",
        action="store_false",
        help="start over even if --out exists (overwrites it)",
    )
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--limit", type=count(1), default=None, help="use the first N samples per split")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if any)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from crossbar.training import train

    noise = NoiseConfig(args.noise, args.sigma_train, args.sigma_val)
    model, history = train(
        args.model,
        args.data,
        noise=noise,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        seed=args.seed,
        checkpoint=args.out,
        resume=args.resume,
        device=args.device,
        data_root=args.data_root,
        limit=args.limit,
        progress=not args.quiet,
    )
    print(
        f"model {args.model}, data {args.data}, noise {noise.kind} "
        f"(sigma_train {noise.sigma_train:g}, sigma_val {noise.sigma_val:g})"
    )
    print(history.table())
    if len(history):
        last = history.last
        test = "n/a" if math.isnan(last["test_acc"]) else f"{last['test_acc']:.2%}"
        print(
            f"final: train accuracy {last['train_acc']:.2%}, test accuracy {test} "
            f"after {last['epoch']} epoch(s)"
        )
    if args.out:
        print(f"checkpoint: {args.out}")
    return 0
