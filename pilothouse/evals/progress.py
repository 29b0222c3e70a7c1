"""A rich progress bar for eval runs: done / total, how many came from cache, sent, failed, and time."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from pilothouse.evals.runner import Outcome


class RichProgress:
    """Implements ``runner.Progress``. On a terminal it redraws in place; in CI logs (no terminal)
    rich prints the final state once when the bar stops."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "cached {task.fields[cached]} · sent {task.fields[sent]} · errors {task.fields[errors]}"
            ),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None
        self.counts: dict[Outcome, int] = {"cached": 0, "sent": 0, "error": 0}

    def start(self, total: int, completed: int, description: str) -> None:
        self._progress.start()
        self._task = self._progress.add_task(
            description, total=total, completed=completed, cached=0, sent=0, errors=0
        )

    def advance(self, outcome: Outcome) -> None:
        self.counts[outcome] += 1
        if self._task is not None:
            self._progress.update(
                self._task,
                advance=1,
                cached=self.counts["cached"],
                sent=self.counts["sent"],
                errors=self.counts["error"],
            )

    def stop(self) -> None:
        self._progress.stop()
