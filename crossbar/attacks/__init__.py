"""Adversarial attacks and noisy inference as a defence (Qin & Vucinic, Section 4).

* :mod:`~crossbar.attacks.pgd`: FGSM, iterative FGSM / PGD with random
  restarts under an L-infinity bound, EOT gradients; Table 10's presets.
* :mod:`~crossbar.attacks.adversarial`: adversarial training (Madry et al.),
  half natural, half adversarial minibatches.
* :mod:`~crossbar.attacks.transfer`: accuracy under inference noise with its
  uncertainty (Table 11's rows), paired gains.
* :func:`run_attack` (``crossbar-sim attack CONFIG.yaml``): the black-box
  transfer experiment with a white-box EOT check, resumable, with a report.

See docs/attacks.md.
"""

from .adversarial import adversarial_train, madry_batch
from .config import AttackConfig, NetSpec, WhiteboxSpec, attack_params, load_config
from .paper import CITATION, TABLE11
from .pgd import PRESETS, AttackParams, box, cross_entropy, eot_gradient, fgsm, pgd, strength
from .runner import AttackResult, run_attack
from .store import AttackLockedError, PartStore, StalePartError, tensor_digest, weights_digest
from .transfer import eval_seed, evaluate_noisy, paired_gain, transfer_table, wilson

__all__ = [
    "CITATION",
    "PRESETS",
    "TABLE11",
    "AttackConfig",
    "AttackLockedError",
    "AttackParams",
    "AttackResult",
    "NetSpec",
    "PartStore",
    "StalePartError",
    "WhiteboxSpec",
    "adversarial_train",
    "attack_params",
    "box",
    "cross_entropy",
    "eot_gradient",
    "eval_seed",
    "evaluate_noisy",
    "fgsm",
    "load_config",
    "madry_batch",
    "paired_gain",
    "pgd",
    "run_attack",
    "strength",
    "tensor_digest",
    "transfer_table",
    "weights_digest",
    "wilson",
]
