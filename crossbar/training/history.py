"""The per-epoch record of a training run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["History"]


@dataclass
class History:
    """Per-epoch record of a run (epochs counted from 1)."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)  # nan when there is no test set
    time: list[float] = field(default_factory=list)  # seconds, training + evaluation
    lr: list[float] = field(default_factory=list)

    def append(self, **row: float) -> None:
        for name in self._fields():
            getattr(self, name).append(row[name])

    def __len__(self) -> int:
        return len(self.epoch)

    @property
    def last(self) -> dict[str, float]:
        if not self.epoch:
            raise IndexError("empty history")
        return {name: getattr(self, name)[-1] for name in self._fields()}

    @classmethod
    def _fields(cls) -> tuple[str, ...]:
        return ("epoch", "train_loss", "train_acc", "test_acc", "time", "lr")

    def to_dict(self) -> dict[str, list]:
        return {name: list(getattr(self, name)) for name in self._fields()}

    @classmethod
    def from_dict(cls, data: Mapping[str, list]) -> History:
        return cls(**{name: list(data[name]) for name in cls._fields()})

    def table(self) -> str:
        lines = [f"{'epoch':>5}  {'loss':>8}  {'train acc':>9}  {'test acc':>8}  {'time s':>7}"]
        for e, lo, tr, te, t in zip(
            self.epoch, self.train_loss, self.train_acc, self.test_acc, self.time, strict=True
        ):
            lines.append(f"{e:>5}  {lo:>8.4f}  {tr:>9.2%}  {te:>8.2%}  {t:>7.1f}")
        return "\n".join(lines)
