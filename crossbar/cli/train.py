"""`crossbar-sim train`: argument parsing for crossbar.training.train."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from pathlib import Path

from crossbar.nn.noise import NOISE_GENERATORS, NOISE_KINDS, NoiseConfig

from .types import count, finite

DEFAULT_FOLDER = Path("runs") / "train"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from crossbar.data import available as datasets
    from crossbar.models import available

    parser.add_argument("--model", default="cnn6",
                        help=f"one of {', '.join(available())}, or your own network as an import path "
                        "package.module:factory (default cnn6)")
    parser.add_argument("--model-kwargs", default=None, metavar="YAML",
                        help="arguments of the model's factory, a YAML mapping, e.g. '{hidden: 64}'")
    parser.add_argument("--data", default="mnist5k",
                        help=f"one of {', '.join(datasets())}; a path to an .npz file with x_train, "
                        "y_train, x_test, y_test; or package.module:loader (default mnist5k)")
    parser.add_argument("--noise", choices=NOISE_KINDS, default="none", help="noise model")
    parser.add_argument("--sigma-train", type=finite(0.0), default=0.0, help="noise std in training")
    parser.add_argument(
        "--sigma-val", type=finite(0.0), default=0.0, help="noise std for the per-epoch test accuracy"
    )
    parser.add_argument("--noise-generator", choices=NOISE_GENERATORS, default="ziggurat",
                        help="the CPU noise draw's stream: ziggurat (the published records') or the faster "
                        "box-muller (the same distribution, other numbers)")
    parser.add_argument("--hardware", default=None, metavar="PROFILE",
                        help="train against a device: a profile name or YAML path (e.g. pcm); every "
                        "layer convert() maps sees its weights through the profile in each training "
                        "forward (docs/training.md); not with --noise")
    parser.add_argument("--hardware-options", default=None, metavar="YAML",
                        help="options of --hardware, a YAML mapping: effects (programming, drift, read, "
                        "dac, adc), noise_scale, time (s since programming), clip_sigma (null: off), "
                        "overrides (profile fields), e.g. '{time: 3.15e7, clip_sigma: null}'")
    parser.add_argument("--epochs", type=count(1, 100_000), default=1)
    parser.add_argument("--batch-size", type=count(1, 1_000_000), default=None, help="default: model recipe")
    parser.add_argument("--lr", type=finite(0.0, lo_open=True), default=None,
                        help="default: model recipe (the paper's for its networks, 1e-3 for your own)")
    parser.add_argument(
        "--optimizer", choices=("adam", "sgd", "momentum"), default=None, help="default: recipe"
    )
    parser.add_argument("--seed", type=count(0, 2**64 - 1), default=0)
    parser.add_argument("--out", default=None,
                        help=f"checkpoint file, written after every epoch (default: {DEFAULT_FOLDER}/"
                        "<model>-<data>-<noise>-<settings digest>.pt)")
    parser.add_argument(
        "--no-resume",
        dest="resume",
        action="store_false",
        help="start over even if --out exists (overwrites it)",
    )
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--limit", type=count(1), default=None, help="use the first N samples per split")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if any)")
    parser.add_argument("--threads", type=count(1, 1024), default=1,
                        help="CPU threads (default 1: fastest on a small or shared machine, the same "
                        "bits everywhere)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def model_kwargs(text: str | None, option: str = "--model-kwargs", example: str = "'{hidden: 64}'"
                 ) -> dict | None:
    """``--model-kwargs`` (or another YAML ``option``) as a mapping (one clear error if it is not one)."""
    if text is None:
        return None
    from crossbar.checks import CheckError, mapping
    from crossbar.yamlio import parse_yaml

    value = parse_yaml(text, name=option)
    if value is None:
        return None
    try:
        return dict(mapping(None, option, value))
    except CheckError as err:
        raise CheckError(None, option, err.problem, text, f"a YAML mapping such as {example}") from None


def hardware(args: argparse.Namespace) -> dict | None:
    """``--hardware`` with ``--hardware-options`` as the mapping ``train(hardware=...)`` takes."""
    options = model_kwargs(args.hardware_options, "--hardware-options", "'{clip_sigma: 2.0}'")
    if args.hardware is None:
        if options:
            from crossbar.checks import CheckError

            raise CheckError(None, "--hardware-options", "needs --hardware PROFILE", args.hardware_options)
        return None
    return {"profile": args.hardware, **(options or {})}


def default_checkpoint(args: argparse.Namespace, kwargs: dict | None) -> Path:
    """A file under runs/train/ named by the settings that make a run (not its epochs, so
    raising --epochs continues the same file)."""
    from crossbar.atomic import safe_name

    settings = {k: getattr(args, k) for k in ("model", "data", "noise", "sigma_train", "sigma_val",
                                               "batch_size", "lr", "optimizer", "seed", "limit",
                                               "data_root")}
    settings["model_kwargs"] = kwargs or {}
    hw = hardware(args)
    if hw is not None:  # plain and noisy runs keep their names
        settings["hardware"] = hw
    if args.noise_generator != "ziggurat":  # named only where it is not the default, as NoiseConfig does
        settings["noise_generator"] = args.noise_generator
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:8]
    noise = "plain" if args.noise == "none" else f"{args.noise}{args.sigma_train:g}"
    if hw is not None:
        noise = f"hw-{safe_name(Path(str(args.hardware)).stem, 24)}"
    return DEFAULT_FOLDER / f"{safe_name(args.model, 40)}-{safe_name(args.data, 40)}-{noise}-{digest}.pt"


def run(args: argparse.Namespace) -> int:
    from crossbar.training import train

    noise = NoiseConfig(args.noise, args.sigma_train, args.sigma_val, args.noise_generator)
    kwargs = model_kwargs(args.model_kwargs)
    out = Path(args.out) if args.out else default_checkpoint(args, kwargs)
    model, history = train(
        args.model,
        args.data,
        noise=noise,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        seed=args.seed,
        checkpoint=out,
        resume=args.resume,
        device=args.device,
        data_root=args.data_root,
        limit=args.limit,
        progress=not args.quiet,
        model_kwargs=kwargs,
        threads=args.threads,
        hardware=hardware(args),
    )
    trained = (f"hardware-aware on {args.hardware}" if args.hardware else
               f"noise {noise.kind} (sigma_train {noise.sigma_train:g}, sigma_val {noise.sigma_val:g})")
    print(f"model {args.model}, data {args.data}, {trained}")
    print(history.table())
    if len(history):
        last = history.last
        test = "n/a" if math.isnan(last["test_acc"]) else f"{last['test_acc']:.2%}"
        print(
            f"final: train accuracy {last['train_acc']:.2%}, test accuracy {test} "
            f"after {last['epoch']} epoch(s)"
        )
    print(f"checkpoint: {out} (written after every epoch; the same command again resumes it, "
          "a larger --epochs continues it)")
    return 0
