"""Training with noise injection, per-epoch checkpoints and exact resume.

``train(model, data, noise=..., epochs=...)`` trains one of the papers'
networks (or any ``nn.Module``) on a dataset from ``crossbar.data`` (or any
object with ``.x`` / ``.y`` tensors), evaluates the test split after every
epoch, and, given ``checkpoint=path``, writes one checkpoint file atomically
after every epoch. Running the same call again resumes at the next epoch and
ends with the same weights as an uninterrupted run (same device, same
thread count); a checkpoint written by a different run configuration is
refused, never overwritten. A run whose loss or weights become NaN or infinite
stops with :class:`TrainingDivergedError` and saves nothing of that epoch.

Randomness: weights are drawn from ``seed`` (``crossbar.models.build(...,
seed=seed)`` gives the same initial weights), mini-batch order and noise
from two generators derived from ``seed``. Torch's global RNG is never used.

Modules: ``loop`` (``train``, ``evaluate``), ``checkpoint`` (file format,
``load_checkpoint``), ``history`` (``History``), ``recipe`` (optimizer and
learning-rate schedule), ``inputs`` (datasets and device).
"""

from .checkpoint import TrainingDivergedError, load_checkpoint, model_digest
from .history import History
from .loop import evaluate, train

__all__ = ["History", "TrainingDivergedError", "evaluate", "load_checkpoint", "model_digest", "train"]
