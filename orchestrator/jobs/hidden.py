"""How many mistakes nobody reviewed each correction stands for, and how sure that is.

**The traffic, reconstructed.** Corrections alone are the served model's mistakes, not a sample of the
traffic, and an unflagged row's label is only the model's. But together they describe the traffic:
every unflagged row is right, except for the mistakes nobody reviewed, and those look like the
corrections. So each correction stands for ``1 / review_rate`` mistakes: itself, and hidden twins that
the unflagged rows counted as right (they move from the served label's row of the confusion matrix to
the gold label's). Macro-F1 is computed on that weighted confusion matrix. The review rate is a setting
(``jobs.review_rate``); without it, it follows from the champion's error rate ``e`` on rows of the base
distribution it never trained on (the golden slice, corrected by the base training rows scored out of fold by
base-only models when that makes it more precise: :func:`orchestrator.jobs.error_rate.base_error`),
as ``e × traffic`` mistakes of which the
corrections are the ones seen. That rate is uncertain, and the estimated gain moves with it (too few
hidden mistakes reward agreement with the champion), so each bootstrap resample draws its own rate from
the rate's posterior (Jeffreys' prior): the uncertainty is in the gate's risk, not hidden from it. A champion
the gate chose is flattered by the golden rows it was chosen on, so the share of mistakes reviewed (the staff's,
not the model's) is learned while a champion no comparison chose serves, carried in the metadata of the models
kept after it (:func:`share_to_carry`), and used as it is while they serve (:func:`carried_share`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import isfinite
from typing import Any

import numpy as np

from orchestrator.contracts.model_registry import Registry

from .evaluation_rows import Rows


@dataclass(frozen=True)
class ErrorRate:
    """The champion's mistakes among gold rows of the base distribution it never trained on."""

    errors: float
    rows: int
    where: str  # which rows, and how, for the reason

    @property
    def rate(self) -> float:
        return self.errors / self.rows

    @property
    def spread(self) -> float:
        """The rate's standard error, for the reason."""
        return (self.rate * (1 - self.rate) / self.rows) ** 0.5

    def hidden_per_correction(self, traffic: float, corrections: float) -> float:
        """The mistakes nobody reviewed per correction, when ``traffic`` rows hold ``rate × traffic`` mistakes of
        which ``corrections`` were corrected."""
        return max(self.rate * traffic - corrections, 0.0) / corrections


@dataclass(frozen=True)
class Hidden:
    """How many unreviewed mistakes each correction stands for, how that was worked out, and how sure it is."""

    per_correction: float  # extra (hidden) mistakes per correction
    how: str
    error_rate: ErrorRate | None = None  # when it rests on an estimated error rate: drawn anew per resample
    traffic: float = 0.0  # the traffic rows' total weight, and the corrections' (for the draws)
    corrections: float = 0.0
    learned: bool = False  # the share reviewed was learned on the champion's own traffic: it can be carried
    carried: bool = False  # the share reviewed was learned on other traffic than these rows' (a model's metadata)
    learned_on: str | None = None  # the model version whose traffic a carried share was learned on

    def share(self, learned_on: str | None) -> dict[str, Any] | None:
        """The share of mistakes staff review that this learned or carries, as the numbers it rests on, to carry in a
        model's metadata (:func:`carried_share` reads it back); None when it has nothing that can be carried."""
        if not (self.learned or self.carried) or self.error_rate is None:
            return None
        e = self.error_rate
        return {"errors": round(e.errors, 4), "rows": e.rows, "where": e.where, "traffic": round(self.traffic, 4),
                "corrections": round(self.corrections, 4), "learned_on": self.learned_on if self.carried else learned_on}

    def draws(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """``per_correction`` in each of ``count`` resamples: the error rate drawn from its posterior (a Beta,
        Jeffreys' prior, shifted to centre on the observed rate that the point estimate uses) when it was
        estimated, else the same value every time. A carried share is drawn too: its corrections were one draw of
        the mistakes of other traffic than these rows', a noise that a share learned on these rows does not have (its
        corrections are the ones seen here, whatever the share)."""
        if self.error_rate is None or not self.corrections:
            return np.full(count, self.per_correction)
        e = self.error_rate
        rates = _centred_beta(rng, e.errors, e.rows, count)
        mistakes = np.maximum(rates * self.traffic, self.corrections)
        if not self.carried:
            return (mistakes - self.corrections) / self.corrections
        # the share's posterior given those mistakes (Jeffreys' prior), never below every traffic row being a mistake
        shares = np.maximum(rng.beta(self.corrections + 0.5, mistakes - self.corrections + 0.5), self.corrections / self.traffic)
        return 1 / shares - 1


def _centred_beta(rng: np.random.Generator, hits: float, trials: float, count: int) -> np.ndarray:
    """Rates drawn from the posterior of ``hits`` in ``trials`` (a Beta with Jeffreys' prior), shifted to centre on
    the observed rate, which the point estimate uses."""
    drawn = rng.beta(hits + 0.5, trials - hits + 0.5, size=count)
    return np.clip(drawn + hits / trials - (hits + 0.5) / (trials + 1), 0.0, 1.0)


def hidden_mistakes(
    rows: Rows, *, review_rate: float | None, champion_errors: ErrorRate | None, served_by_champion: Sequence[bool] | None = None,
    carried: Hidden | None = None,
) -> Hidden:
    """The hidden-twin weight of a correction, from the best source available.

    1. ``review_rate`` given (the share of the model's mistakes that staff correct): ``1/rate − 1``.
    2. Otherwise the share reviewed that the champion carries (``carried``, :func:`champion_share`: in its
       metadata, or in the registry), learned on the traffic of a model that no comparison chose. A champion the
       gate chose is flattered by the golden rows it was chosen on, so its own error rate there is too low, and with
       it the hidden mistakes; the share reviewed belongs to the staff, not to the model, and is kept instead.
    3. Otherwise the champion's error rate ``e`` on base rows it never trained on: the traffic rows the
       champion served (``served_by_champion``: those that arrived since its dataset; all of them when none
       is marked) hold ``e × rows`` mistakes, of which their corrections are the ones seen. Older rows were
       served by earlier models, with other error rates, which is why the share reviewed is learned where
       the champion served, and applied to every correction. ``e`` is uncertain: :meth:`Hidden.draws`
       carries that into the bootstrap.
    4. Otherwise, when staff also confirm right predictions, the error rate among the reviewed rows.
       (Reviews that a mistake in *another* label prompted are not a random sample, which is why the
       base rows come first.)
    """
    corrections = sum(w for s, w in zip(rows.sources, rows.weights) if s == "feedback")
    confirmed = sum(w for s, w in zip(rows.sources, rows.weights) if s == "confirmed")
    traffic = sum(w for s, w in zip(rows.sources, rows.weights) if s != "base")
    if not corrections:
        return Hidden(0.0, "no corrections among the evaluation rows")
    if review_rate is not None:
        return Hidden(1 / review_rate - 1, f"review rate {review_rate:g} (jobs.review_rate)")
    if carried is not None:
        return carried
    if champion_errors is not None and champion_errors.rows:
        e = champion_errors
        mine = [bool(m) for m in served_by_champion] if served_by_champion is not None else [True] * len(rows)
        if len(mine) != len(rows):
            raise ValueError(f"served_by_champion has {len(mine)} entries for {len(rows)} rows")
        own = sum(w for s, w, m in zip(rows.sources, rows.weights, mine) if s == "feedback" and m)
        if served_by_champion is None:
            where = "all the evaluation traffic (which rows it served is not known)"
        elif not own:
            where = "all the evaluation traffic (none on the traffic it served)"
        else:
            where = "all the evaluation traffic" if all(mine) else "the traffic it served"
        if own:  # the reviewed share, learned on the rows the champion served
            traffic = sum(w for s, w, m in zip(rows.sources, rows.weights, mine) if s != "base" and m)
            corrections = own
        return Hidden(
            e.hidden_per_correction(traffic, corrections),
            f"error rate {e.rate:.3f} ± {e.spread:.3f} of the champion on base rows it never trained on "
            f"({e.where}; set jobs.review_rate if known), {corrections:.0f} corrections on {where}",
            error_rate=e,
            traffic=traffic,
            corrections=corrections,
            learned=bool(own) and served_by_champion is not None,
        )
    if confirmed:
        error = corrections / (corrections + confirmed)
        unflagged = traffic - corrections - confirmed
        return Hidden(error * unflagged / corrections, f"error rate {error:.3f} from {corrections + confirmed:.0f} reviewed rows")
    return Hidden(0.0, "no review rate and no golden slice: every unflagged row counted as right")


def carried_share(document: Any) -> Hidden | None:
    """The share of mistakes reviewed that a model's metadata carries (:meth:`Hidden.share`), as the hidden mistakes
    per correction it implies, with the uncertainty of the error rate it was learned from; None when there is none or
    it does not read as one."""
    if not isinstance(document, Mapping):
        return None
    numbers = [document.get(key) for key in ("errors", "rows", "traffic", "corrections")]
    if not all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in numbers):
        return None
    try:
        errors, rows, traffic, corrections = (float(n) for n in numbers)
    except OverflowError:  # an integer too large for a float
        return None
    if not all(isfinite(n) for n in (errors, rows, traffic, corrections)):
        return None
    if not (rows.is_integer() and 1 <= rows <= 1e9 and 0 <= errors <= rows and 0 < corrections <= traffic <= 1e12):
        return None
    where, learned_on = document.get("where"), document.get("learned_on")
    e = ErrorRate(errors, int(rows), where[:300] if isinstance(where, str) and where else "unknown rows")
    learned_on = learned_on[:100] if isinstance(learned_on, str) else None
    per_correction = e.hidden_per_correction(traffic, corrections)
    return Hidden(
        per_correction,
        f"a share {1 / (1 + per_correction):.2f} of mistakes reviewed, learned on the traffic of model version {learned_on or '?'} "
        f"(error rate {e.rate:.3f} ± {e.spread:.3f} on base rows it never trained on, "
        f"{e.where}; {corrections:.0f} corrections on {traffic:.0f} traffic rows; set jobs.review_rate if known)",
        error_rate=e,
        traffic=traffic,
        corrections=corrections,
        carried=True,
        learned_on=learned_on,
    )


def metadata_details(metadata: Mapping[str, Any]) -> Mapping[str, Any]:
    """A model metadata document's ``details`` (empty when it has none, or they are not a mapping)."""
    details = metadata.get("details")
    return details if isinstance(details, Mapping) else {}


def was_replaced(registry: Registry, name: str | None) -> bool:
    """Whether version ``name`` was ever replaced by another deployed version (a rollback to it may have followed)."""
    return name is not None and any(p.previous == name for p in registry.promotions)


def champion_share(
    registry: Registry, champion: str | None, champion_meta: Mapping[str, Any], *, learns: bool = True,
) -> Hidden | None:
    """The share of mistakes reviewed that the decisions made while ``champion`` serves use as it is: the one its
    metadata carries, or a fuller one learned on the same model's traffic (a challenger refused early and promoted by
    hand carries a thinner one); else the fullest one learned on its own traffic (:func:`share_learned_on`) when it was
    replaced once and has been rolled back to, or when this decision cannot learn one (``learns``: which rows it
    served is unknown); else None, and the decision learns it anew on the champion's traffic, which grows each round
    while a first model serves."""
    own = carried_share(metadata_details(champion_meta).get("review_share"))
    if own is not None:
        return _fullest(own, share_learned_on(registry, own.learned_on))
    if was_replaced(registry, champion) or not learns:
        return share_learned_on(registry, champion)
    return None


def share_learned_on(registry: Registry, name: str | None) -> Hidden | None:
    """The fullest share of mistakes reviewed that kept versions learned on the traffic of version ``name`` (read as
    :func:`carried_share` reads it): the one on the most traffic, which is the last it learned before it was replaced
    (later ones are copies, and earlier ones rest on part of that traffic); None when none did."""
    if name is None:
        return None
    found = []
    for entry in registry.versions:
        share = entry.details.get("review_share") if isinstance(entry.details, Mapping) else None
        if isinstance(share, Mapping) and share.get("learned_on") == name:
            found.append(carried_share(share))
    return _fullest(*reversed(found))  # the newest of equally full ones


def _fullest(*shares: Hidden | None) -> Hidden | None:
    """Of the shares given, the one that rests on the most traffic (the first of equally full ones); None if none."""
    return max((s for s in shares if s is not None), key=lambda s: s.traffic, default=None)


def share_to_carry(
    registry: Registry, champion: str | None, champion_meta: Mapping[str, Any], carried: Hidden | None, hidden: Hidden,
) -> dict[str, Any] | None:
    """The share of mistakes reviewed that a new model carries in its metadata, for the decisions made while it
    serves: the champion's, when it carries one (``carried``); else what this decision learned on the champion's own
    traffic (``hidden``), when no comparison chose the champion (a first model, or one deployed outside the
    orchestrator: its error rate on the golden slice is not flattered by having been chosen on it) and it has served
    since its dataset without a break (after a rollback to it, the rows its dataset lacks were partly served by the
    model it replaced), or the fullest one learned on its traffic before, when that rests on more of it (a round that
    could not tell which rows it served learns none); else none. ``registry`` is the label's model registry,
    ``champion`` the champion's version."""
    if carried is not None:
        return carried.share(None)  # as it was read: the numbers checked, the text cut to length
    if champion_meta.get("champion") is not None:  # a comparison chose it, on the golden rows among others
        return None
    if was_replaced(registry, champion):
        return None  # it was replaced once: not every row its dataset lacks was served by it
    learned = hidden if hidden.share(champion) is not None else None
    fullest = _fullest(learned, share_learned_on(registry, champion))  # this round's, unless an earlier one is fuller
    return fullest.share(champion) if fullest is not None else None
