"""The rows two models are scored on, with where each came from.

**The rows.** Every held-out row of a dataset version (its ``eval`` and ``test`` splits, assigned by a
hash of the row id, and never trained on by the champion), plus, when the retrain job can tell, the
rows the champion never saw (scored for the challenger out of fold). Each row has a *source*:

- ``base``: the base labelled set, gold labels, representative of the distribution the base was drawn
  from. Its held-out rows are the *golden* slice.
- ``feedback``: a correction, gold label; the model that served it (``served``) got it wrong.
- ``confirmed``: a reviewed prediction that staff confirmed, gold label equal to the served one.
- ``sampled``: a complaint nobody flagged, labelled by the model that served it.
"""

from __future__ import annotations

from dataclasses import dataclass


SOURCES = ("base", "feedback", "confirmed", "sampled")
GOLD_SOURCES = ("base", "feedback", "confirmed")


@dataclass(frozen=True)
class Rows:
    """Evaluation rows: the label to score against, the served label, the source and a traffic weight."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]  # gold, or the served label for sampled rows
    served: tuple[str | None, ...]  # the label the deployed model gave (None for base rows)
    sources: tuple[str, ...]
    weights: tuple[float, ...]  # how many traffic rows a row stands for (1 for base rows)

    def __post_init__(self) -> None:
        sizes = {len(self.texts), len(self.labels), len(self.served), len(self.sources), len(self.weights)}
        if len(sizes) != 1:
            raise ValueError(f"evaluation columns differ in length: {sorted(sizes)}")
        unknown = set(self.sources) - set(SOURCES)
        if unknown:
            raise ValueError(f"unknown sources {sorted(unknown)}; expected {', '.join(SOURCES)}")

    def __len__(self) -> int:
        return len(self.texts)

    def count(self, source: str) -> int:
        return sum(1 for s in self.sources if s == source)

    def __add__(self, other: Rows) -> Rows:
        return Rows(*(a + b for a, b in zip(self._columns(), other._columns())))

    def _columns(self) -> tuple[tuple, ...]:
        return (self.texts, self.labels, self.served, self.sources, self.weights)

    @classmethod
    def empty(cls) -> Rows:
        return cls((), (), (), (), ())
