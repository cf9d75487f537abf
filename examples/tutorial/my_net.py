"""Your own network, as crossbar-sim takes it: a plain torch module in your own file.

Nothing here knows about crossbar-sim: no noise layers, no seeds. crossbar-sim
builds it from the config's ``model: my_net:SmallCNN``, draws its weights from
the run's seed and puts the paper's noise after every product (or after the
batch norm that follows one).
"""

import torch
from torch import nn


class SmallCNN(nn.Module):
    """Two 3x3 convolutions with batch norm and pooling, then two fully connected layers (28 x 28 input)."""

    def __init__(self, channels: int = 16, hidden: int = 64, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3)  # 28 -> 26, pooled to 13
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3)  # 13 -> 11, pooled to 5
        self.bn2 = nn.BatchNorm2d(channels)
        self.fc1 = nn.Linear(channels * 5 * 5, hidden)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        x = torch.max_pool2d(torch.relu(self.bn2(self.conv2(x))), 2)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))
