"""crossbar.identity: what a result is keyed by is content, not names or paths."""

from __future__ import annotations

import numpy as np
import torch

from crossbar import devices, identity


def test_profile_digest_follows_values_not_name_or_citations():
    p = devices.load("reram")
    assert identity.profile_digest(p) == identity.profile_digest(p.with_overrides(name="renamed"))
    assert identity.profile_digest(p) != identity.profile_digest(p.with_overrides(adc_bits=4))
    assert identity.profile_digest(p) != identity.profile_digest(p.with_overrides(noise_scale=1.5))
    assert identity.profile_digest(p) != identity.profile_digest(devices.load("pcm"))


def test_tensor_digest_sees_values_dtype_and_shape():
    x = torch.arange(6, dtype=torch.float32)
    d = identity.tensor_digest(x)
    assert d == identity.tensor_digest(x.clone()) == identity.tensor_digest(x.numpy())
    assert d != identity.tensor_digest(x.double())
    assert d != identity.tensor_digest(x.view(2, 3))
    y = x.clone()
    y[5] = float(np.nextafter(np.float32(5), np.float32(6)))  # one ulp
    assert d != identity.tensor_digest(y)


def test_state_digest_is_order_free_and_exact():
    a = {"w": torch.ones(2), "b": torch.zeros(1)}
    assert identity.state_digest(a) == identity.state_digest(dict(reversed(list(a.items()))))
    assert identity.state_digest(a) != identity.state_digest({**a, "w": torch.ones(2) * 2})


def test_code_identity_covers_the_sources_that_compute_results(tmp_path, monkeypatch):
    files = {p.relative_to(p.parents[1]).as_posix() for p in identity._source_files()}
    assert {"read/kernels.py", "read/array.py", "devices/profile.py", "models/cnn6.py",
            "experiments/cells.py"} <= files | {f.split("/", 1)[1] for f in files}
    assert not any(f.startswith(("cli/", "report/")) or "/cli/" in f or "/report/" in f for f in files)
    code = identity.code_identity()
    assert code["version"] and code["source"] and code["torch"] == torch.__version__
    # the digest follows the files' contents
    src = tmp_path / "mod.py"
    src.write_text("x = 1\n")
    monkeypatch.setattr(identity, "_source_files", lambda: [src])
    identity.source_digest.cache_clear()
    try:
        first = identity.source_digest()
        src.write_text("x = 2\n")
        identity.source_digest.cache_clear()
        assert identity.source_digest() != first
    finally:
        identity.source_digest.cache_clear()
