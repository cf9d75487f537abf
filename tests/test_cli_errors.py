"""Every failure of the command line is one line naming file, key and value, with a non-zero exit.

Issue 11, items 7, 13 and 16a: these printed tracebacks, a bare "error: 233",
whole files, or failed only after the output folder existed.
"""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import pytest
import torch

from crossbar.cli import main
from crossbar.training import train


def _fails(capsys, argv: list[str]) -> str:
    """Run the CLI; it must fail with one line on stderr and no traceback. Returns that line."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code not in (0, None), err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert len(lines[0]) < 600, lines[0]
    return lines[0]


def _yaml(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("m") / "cnn6.pt"
    train("cnn6", "mnist5k", epochs=1, limit=32, lr=1e-3, checkpoint=path, progress=False, device="cpu")
    return path


# ------------------------------------------------------------------ sweep configs


@pytest.mark.parametrize("text, needle", [
    ("runs: 100000000000000000000000000000\n", "key 'runs': out of range"),
    ("seed: 340282366920938463463374607431768211456\n", "key 'seed': out of range"),
    ("limit_test: 1e400\n", "key 'limit_test': must be an integer"),
    ("torch_device: banana\n", "key 'torch_device'"),
    ("model_kwargs: {bogus: 1}\n", "key 'model_kwargs.bogus': unknown key"),
    ("model_kwargs: " + "{a: " * 2000 + "}" * 2000 + "\n", "nested too deeply"),
    ("sigma_val: [1e300]\n", "key 'sigma_val'"),
    ("profile: BINARY\n", "not a UTF-8 text file"),
])
def test_sweep_config_errors_are_one_line_before_the_output_folder_exists(tmp_path, capsys, text, needle):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(bytes(range(128, 256)) * 4)
    cfg = _yaml(tmp_path / "s.yaml", "sigma_val: [0]\n" if "limit_test" in text
                else "sigma_val: [0]\nlimit_test: 5\n")
    cfg.write_text(cfg.read_text() + text.replace("BINARY", str(binary)))
    out = tmp_path / "out"
    line = _fails(capsys, ["sweep", cfg, "--out", out, "--no-progress"])
    assert needle in line and str(tmp_path) in line, line
    assert not out.exists()


def test_a_config_path_that_is_a_folder_or_missing(tmp_path, capsys):
    assert "is a folder" in _fails(capsys, ["sweep", tmp_path])
    assert "does not exist" in _fails(capsys, ["budget", tmp_path / "nope.yaml"])


def test_an_output_path_that_is_a_file_or_not_writable(tmp_path, capsys):
    cfg = _yaml(tmp_path / "s.yaml", "sigma_val: [0]\nlimit_test: 5\n")
    (tmp_path / "file").write_text("x")
    assert "is a file" in _fails(capsys, ["sweep", cfg, "--out", tmp_path / "file", "--no-progress"])
    line = _fails(capsys, ["sweep", cfg, "--out", tmp_path / "file" / "sub", "--no-progress"])
    assert str(tmp_path / "file") in line
    # /proc refuses new folders even to root
    assert "/proc/" in _fails(capsys, ["sweep", cfg, "--out", "/proc/crossbar-sim-test", "--no-progress"])


def test_an_unreachable_scheduler_times_out_with_one_line(tmp_path, capsys):
    pytest.importorskip("distributed", reason="dask[distributed] not installed")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = _yaml(tmp_path / "s.yaml", "sigma_val: [0]\nlimit_test: 5\n")
    out = tmp_path / "out"
    line = _fails(capsys, ["sweep", cfg, "--out", out, "--scheduler", f"tcp://127.0.0.1:{port}",
                           "--scheduler-timeout", "1", "--no-progress"])
    assert f"cannot reach the Dask scheduler 'tcp://127.0.0.1:{port}' within 1 s" in line
    assert not out.exists()
    assert "cannot reach the Dask scheduler 'banana'" in _fails(
        capsys, ["sweep", cfg, "--out", out, "--scheduler", "banana", "--scheduler-timeout", "1"])


# ------------------------------------------------------------------ budgets and checkpoints


@pytest.mark.parametrize("content", ["EMPTY", "TRUNCATED", "RANDOM", "NAN"])
def test_a_bad_checkpoint_is_one_line_naming_the_file(tmp_path, capsys, checkpoint, content):
    bad = tmp_path / "bad.pt"
    if content == "EMPTY":
        bad.write_bytes(b"")
    elif content == "TRUNCATED":
        bad.write_bytes(checkpoint.read_bytes()[:5000])
    elif content == "RANDOM":
        bad.write_bytes(torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(1),
                                      dtype=torch.uint8).numpy().tobytes())
    else:
        ckpt = torch.load(checkpoint, weights_only=True)
        for v in ckpt["state_dict"].values():
            if v.is_floating_point():
                v.fill_(float("inf"))
        torch.save(ckpt, bad)
    cfg = _yaml(tmp_path / "b.yaml", f"checkpoint: {bad}\ntest_limit: 5\n")
    line = _fails(capsys, ["budget", cfg, "--out", tmp_path / "out", "--no-progress"])
    assert str(bad) in line and ("not a readable crossbar-sim checkpoint" in line or "NaN" in line), line
    assert not (tmp_path / "out").exists()


def test_budget_profile_errors_quote_values_not_files(tmp_path, capsys, checkpoint):
    big = tmp_path / "big.yaml"
    big.write_text("".join(f"line {i}: this is not a profile at all\n" for i in range(300)))
    cfg = _yaml(tmp_path / "b.yaml", f"checkpoint: {checkpoint}\nprofile: {big}\n")
    line = _fails(capsys, ["budget", cfg, "--no-progress"])
    assert str(big) in line and "line 299" not in line
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    cfg = _yaml(tmp_path / "b.yaml", f"checkpoint: {checkpoint}\nprofile: {binary}\n")
    assert f"{binary}: not a UTF-8 text file" in _fails(capsys, ["budget", cfg, "--no-progress"])


def test_budget_out_that_is_foreign_or_a_file(tmp_path, capsys, checkpoint):
    cfg = _yaml(tmp_path / "b.yaml", f"checkpoint: {checkpoint}\ntest_limit: 5\n")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "thesis.tex").write_text("mine")
    assert "holds other files (thesis.tex)" in _fails(capsys, ["budget", cfg, "--out", theirs])
    (tmp_path / "f").write_text("x")
    assert "is a file" in _fails(capsys, ["budget", cfg, "--out", tmp_path / "f"])


# ------------------------------------------------------------------ devices, train, --debug


def test_devices_never_echoes_a_whole_file(tmp_path, capsys):
    secret = tmp_path / "secret.txt"
    secret.write_text("".join(f"user{i}:x:{i}:{i}::/home/user{i}:/bin/sh\n" for i in range(100)))
    line = _fails(capsys, ["devices", secret])
    assert str(secret) in line and "user99" not in line and "user2:" not in line
    assert "unknown device profile" in _fails(capsys, ["devices", "no-such-device"])


@pytest.mark.parametrize("argv, needle", [
    (["train", "--epochs", "1" + "0" * 30], "argument --epochs"),
    (["train", "--batch-size", "-3"], "argument --batch-size"),
    (["train", "--lr", "nan"], "argument --lr"),
    (["train", "--seed", "1.5"], "argument --seed"),
    (["sweep", "x.yaml", "--workers", "0"], "argument --workers"),
    (["demo", "--votes", "1,x"], "argument --votes"),
])
def test_argument_errors_are_one_line(capsys, argv, needle):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and needle in err and len(err.strip().splitlines()) == 1, err


def test_debug_shows_the_traceback_and_interrupts_exit_130(tmp_path, capsys, monkeypatch):
    with pytest.raises(ValueError, match="is a folder"):
        main(["--debug", "sweep", str(tmp_path)])
    with pytest.raises(ValueError, match="is a folder"):
        main(["sweep", str(tmp_path), "--debug"])
    from crossbar.cli import devices as cli_devices

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_devices, "run", interrupted)
    assert main(["devices"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_warnings_are_one_line(capsys):
    import warnings

    from crossbar.cli.errors import one_line_warnings
    from crossbar.experiments import CacheDiscardedWarning

    with one_line_warnings("budget"):
        warnings.warn("cache.json: not a readable cache;\n  discarded", CacheDiscardedWarning, stacklevel=1)
    err = capsys.readouterr().err
    assert err == "crossbar-sim budget: warning: cache.json: not a readable cache; discarded\n"
