"""The time one Lambda invocation may still spend, so it never runs into the function timeout.

The handler builds a ``Budget`` from ``context.get_remaining_time_in_millis()`` minus a reserve:
the longest the work that follows a last check can take (an AWS call after a delivery, the
release of a lease), computed from the AWS client timeouts in ``aws``. Work is started only
while the budget lasts; a record not reached is a batch item failure, retried by SQS, never lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import BudgetExhaustedError


@dataclass(frozen=True)
class Budget:
    """A deadline on ``clock`` (monotonic seconds)."""

    deadline: float
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    @classmethod
    def from_remaining(
        cls, remaining_seconds: float, reserve_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> Budget:
        return cls(clock() + remaining_seconds - reserve_seconds, clock)

    @classmethod
    def unlimited(cls) -> Budget:
        return cls(float("inf"))

    def remaining(self) -> float:
        return self.deadline - self.clock()

    def check(self, what: str) -> None:
        """Raise BudgetExhaustedError when there is no time left to start ``what``."""
        if self.remaining() <= 0:
            raise BudgetExhaustedError(f"no time left in this invocation to start {what}; SQS retries the record")

    def deadline_for(self, seconds: float) -> float:
        """The deadline of a step that may take ``seconds``, cut short by the budget."""
        return min(self.clock() + seconds, self.deadline)
