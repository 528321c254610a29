"""The default classifier: character n-gram TF-IDF and a logistic regression, saved with skops.

Character n-grams within word boundaries (``char_wb``, 2-4) handle Devanagari and mixed Nepali/English
text without a tokeniser. Texts go through :func:`~orchestrator.jobs.text.clean_text` in :class:`Model`,
for training and prediction alike; the pipeline itself holds only scikit-learn types, so that a saved
model loads without trusting any custom code.

Models are stored with skops, never pickle. :func:`load` refuses a file that holds any type outside
:data:`ALLOWED_TYPES`, before anything in it is constructed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import skops.io as sio
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import Pipeline

from .text import clean_text

# Types skops may report as untrusted for this pipeline (depending on the skops version), all of them
# scikit-learn or numpy types that the pipeline below is made of. Anything else is refused.
ALLOWED_TYPES = frozenset(
    {
        "sklearn.pipeline.Pipeline",
        "sklearn.feature_extraction.text.TfidfVectorizer",
        "sklearn.feature_extraction.text.TfidfTransformer",
        "sklearn.linear_model._logistic.LogisticRegression",
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.float64",
        "numpy.int64",
    }
)


class UntrustedModelError(ValueError):
    """A model file holds types outside :data:`ALLOWED_TYPES`, or is not a pipeline made by :func:`train`."""


@dataclass(frozen=True)
class Model:
    """A fitted pipeline that cleans its input texts exactly as they were cleaned for training."""

    pipeline: Pipeline

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.pipeline.classes_]

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [str(label) for label in self.pipeline.predict(_clean(texts))]

    def predict_scores(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Class probabilities per text: ``{class: probability}``, summing to 1."""
        classes = self.classes
        return [dict(zip(classes, map(float, row))) for row in self.pipeline.predict_proba(_clean(texts))]


def build_pipeline(*, seed: int = 0) -> Pipeline:
    """The untrained default pipeline."""
    return Pipeline(
        [
            (
                "tfidf",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(2, 4),
                    sublinear_tf=True,
                    min_df=2,
                    max_features=200_000,
                    lowercase=False,  # clean_text has lower-cased already
                ),
            ),
            ("clf", LogisticRegression(max_iter=1000, C=4.0, random_state=seed)),
        ]
    )


def train(texts: Sequence[str], labels: Sequence[str], *, seed: int = 0) -> Model:
    """Fit the default pipeline on ``texts`` (raw; they are cleaned here) and their labels."""
    if len(texts) != len(labels):
        raise ValueError(f"got {len(texts)} texts but {len(labels)} labels")
    if len(set(labels)) < 2:
        raise ValueError(f"training needs at least two classes, got {sorted(set(labels))}")
    pipeline = build_pipeline(seed=seed)
    pipeline.fit(_clean(texts), list(labels))
    return Model(pipeline)


def macro_f1(model: Model, texts: Sequence[str], labels: Sequence[str]) -> float:
    """Macro-F1 of ``model`` on ``texts``, over the classes seen in ``labels`` or in its predictions."""
    if not texts:
        raise ValueError("macro_f1 needs at least one row")
    return macro_f1_of(labels, model.predict(texts))


def macro_f1_of(labels: Sequence[str], predicted: Sequence[str]) -> float:
    """Macro-F1 of given predictions (a class never seen in either is not averaged)."""
    classes = sorted(set(labels) | set(predicted))
    return float(f1_score(list(labels), list(predicted), labels=classes, average="macro", zero_division=0))


def save(model: Model, path: Path) -> None:
    """Write ``model`` to ``path`` in the skops format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(model.pipeline, path)


def load(path: Path) -> Model:
    """Read a model written by :func:`save`; refuse types outside :data:`ALLOWED_TYPES`."""
    untrusted = sio.get_untrusted_types(file=path)
    unknown = sorted(set(untrusted) - ALLOWED_TYPES)
    if unknown:
        raise UntrustedModelError(f"{path} holds types that are not allowed, refusing to load it: {', '.join(unknown)}")
    pipeline = sio.load(path, trusted=untrusted)
    steps = [type(step) for _, step in pipeline.steps] if isinstance(pipeline, Pipeline) else None
    if steps != [TfidfVectorizer, LogisticRegression]:
        raise UntrustedModelError(f"{path} does not hold a TfidfVectorizer + LogisticRegression pipeline")
    return Model(pipeline)


def _clean(texts: Sequence[str]) -> list[str]:
    return [clean_text(text) for text in texts]
