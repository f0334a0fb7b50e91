"""What every training executor returns, and the interface they share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from tools.evaluation import Arch, Evaluation
from tools.training import TrainConfig

# The function an executor runs for one evaluation; ``train_and_evaluate`` unless a caller substitutes
# another with the same signature (tests, or a custom trainer). It must be importable by the workers.
TrainTask = Callable[[str, Arch, TrainConfig], Evaluation]


@dataclass(frozen=True)
class RemoteResult:
    """An evaluation and how it was obtained.

    ``attempts`` lists, in order, why each earlier attempt of this evaluation failed (a worker that
    died, a lost node); it is empty when the first attempt succeeded. ``worker`` names the process
    that computed the result (``host:pid``). Workers only compute: the caller logs this.
    """

    evaluation: Evaluation
    attempts: tuple[str, ...] = ()
    worker: str | None = None

    @property
    def attempt_count(self) -> int:
        return len(self.attempts) + 1

    def to_json(self) -> dict[str, Any]:
        return {"evaluation": self.evaluation.to_json(), "attempts": list(self.attempts), "worker": self.worker}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RemoteResult:
        return cls(Evaluation.from_json(data["evaluation"]), tuple(data.get("attempts", ())), data.get("worker"))


class Executor(Protocol):
    """Runs trainings; ``submit`` may be awaited many times concurrently."""

    async def submit(self, family: str, arch: Arch, config: TrainConfig) -> RemoteResult:
        """Train ``arch`` of ``family`` under ``config``; errors of the training itself propagate."""
        ...

    async def close(self) -> None:
        """Release workers / the cluster connection this executor opened."""
        ...
