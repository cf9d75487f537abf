"""Published figures of Qin & Vucinic's Section 4, copied here with their citation.

M. Qin and D. Vucinic, "Noisy Computations during Inference: Harmful or
Helpful?", arXiv:1811.10649 (2018). Table 10 (the attacks) is in
``crossbar.attacks.pgd.PRESETS``; Table 11 is below. They are shown beside
measured numbers in reports; no test compares against them.
"""

from __future__ import annotations

CITATION = (
    'M. Qin and D. Vucinic, "Noisy Computations during Inference: Harmful or Helpful?", '
    "arXiv:1811.10649 (2018)"
)

# Table 11: accuracy (%) of black-box adversarial examples (made on NN_adv,
# both networks adversarially trained with sigma_train = 0) on NN_val with
# multiplicative inference noise sigma_val, averaged over 20 noisy runs.
# MNIST: NN_adv Madry et al.'s 4-layer CNN, NN_val the 6-layer CNN of Table 1,
# 100 epochs each; CIFAR-10: DenseNet-40 / DenseNet-100 (growth 12), 300 epochs.
TABLE11: dict[str, dict[float, float]] = {
    "mnist": {0.0: 97.40, 0.1: 97.79, 0.2: 97.90, 0.3: 97.71, 0.4: 97.00},
    "cifar10": {0.0: 66.52, 0.1: 67.65, 0.2: 67.43, 0.3: 66.57, 0.4: 63.39},
}
