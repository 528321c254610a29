"""The default classifier: word and character n-gram TF-IDF and a linear SVM, saved with skops.

- **Features.** Word uni- and bigrams plus character n-grams (1-5) within word boundaries. Character
  n-grams handle Devanagari and mixed Nepali/English spelling without a tokeniser; words add the
  phrases. Words are runs of anything but spaces and punctuation (:data:`WORD_PATTERN`), so Devanagari
  vowel signs and viramas stay inside their word (scikit-learn's default ``\\w`` pattern would cut
  "सडकमा" at every vowel sign).
- **Classifier.** A linear SVM with balanced class weights: the rare classes count as much as the
  common ones, which is what macro-F1 measures. Rows can carry a training weight (model-labelled rows
  count less than gold ones, see :mod:`orchestrator.jobs.candidates`).
- **Scores.** ``predict_scores`` gives the softmax of the SVM's margins: they rank the classes and sum
  to 1, but they are not calibrated probabilities.

Texts go through :func:`~orchestrator.jobs.text.clean_text` in :class:`Model`, for training and prediction
alike; the pipeline itself holds only scikit-learn types, so that a saved model loads without trusting
any custom code. Models are stored with skops, never pickle. :func:`load` refuses a file that holds any
type outside :data:`ALLOWED_TYPES`, before anything in it is constructed. Models written by earlier
versions (character n-grams and a logistic regression) still load and predict.
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC

from .text import clean_text


def _punctuation_class() -> str:
    """A regex character class of whitespace and every Unicode punctuation character, as ranges."""
    points = [c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)).startswith("P")]
    ranges: list[tuple[int, int]] = []
    for point in points:
        if ranges and ranges[-1][1] == point - 1:
            ranges[-1] = (ranges[-1][0], point)
        else:
            ranges.append((point, point))
    escape = lambda c: f"\\U{c:08x}" if c > 0xFFFF else f"\\u{c:04x}"  # noqa: E731
    return "\\s" + "".join(escape(a) if a == b else f"{escape(a)}-{escape(b)}" for a, b in ranges)


# A word: a run of characters that are neither whitespace nor punctuation (letters, marks, digits).
WORD_PATTERN = f"[^{_punctuation_class()}]+"

# Types skops may report as untrusted for these pipelines (depending on the skops version), all of them
# scikit-learn or numpy types that the pipelines below are made of. Anything else is refused.
ALLOWED_TYPES = frozenset(
    {
        "sklearn.pipeline.Pipeline",
        "sklearn.pipeline.FeatureUnion",
        "sklearn.feature_extraction.text.TfidfVectorizer",
        "sklearn.feature_extraction.text.TfidfTransformer",
        "sklearn.svm._classes.LinearSVC",
        "sklearn.linear_model._logistic.LogisticRegression",
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.float64",
        "numpy.int64",
        "numpy.int32",
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
        if not texts:
            return []
        return [str(label) for label in self.pipeline.predict(_clean(texts))]

    def predict_scores(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Per text, a score per class: ``{class: score}``, summing to 1, highest for the predicted class."""
        classes = self.classes
        cleaned = _clean(texts)
        if hasattr(self.pipeline, "predict_proba") and isinstance(self.pipeline.steps[-1][1], LogisticRegression):
            rows = self.pipeline.predict_proba(cleaned)
        else:
            margins = np.asarray(self.pipeline.decision_function(cleaned), dtype=float)
            if margins.ndim == 1:  # two classes: one margin, positive for classes[1]
                margins = np.stack([-margins, margins], axis=1)
            shifted = np.exp(margins - margins.max(axis=1, keepdims=True))
            rows = shifted / shifted.sum(axis=1, keepdims=True)
        return [dict(zip(classes, map(float, row))) for row in rows]


def build_features() -> FeatureUnion:
    """The untrained default features: word and character n-gram TF-IDF."""
    return FeatureUnion(
        [
            (
                "words",
                TfidfVectorizer(
                    analyzer="word",
                    token_pattern=WORD_PATTERN,
                    ngram_range=(1, 2),
                    sublinear_tf=True,
                    max_features=200_000,
                    lowercase=False,  # clean_text has lower-cased already
                ),
            ),
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(1, 5),
                    sublinear_tf=True,
                    max_features=300_000,
                    lowercase=False,
                ),
            ),
        ]
    )


def build_classifier(*, seed: int = 0) -> LinearSVC:
    return LinearSVC(C=0.5, class_weight="balanced", random_state=seed)


@dataclass(frozen=True)
class Features:
    """Fitted features and the matrix of the texts they were fitted on: several classifiers (other row
    weights, other subsets of the rows) can then be trained without vectorising the texts again. The
    vocabulary and IDF use no labels, so fitting them on all training texts leaks nothing."""

    union: FeatureUnion
    matrix: Any

    @classmethod
    def fit(cls, texts: Sequence[str]) -> Features:
        union = build_features()
        matrix = union.fit_transform(_clean(texts))
        for _, vectorizer in union.transformer_list:
            # numpy ints would be stored by skops as one array each: seconds per thousand terms
            vectorizer.vocabulary_ = {term: int(index) for term, index in vectorizer.vocabulary_.items()}
        return cls(union, matrix)

    def classifier(
        self, labels: Sequence[str], *, rows: Sequence[int] | None = None, weights: Sequence[float] | None = None, seed: int = 0
    ) -> Model:
        """A model on these features, trained on ``rows`` (default: all) with their ``weights``."""
        rows = list(range(self.matrix.shape[0])) if rows is None else list(rows)
        chosen = [labels[i] for i in rows]
        if len(set(chosen)) < 2:
            raise ValueError(f"training needs at least two classes, got {sorted(set(chosen))}")
        clf = build_classifier(seed=seed)
        clf.fit(self.matrix[rows], chosen, sample_weight=None if weights is None else np.asarray(weights, dtype=float))
        return Model(Pipeline([("features", self.union), ("clf", clf)]))

    @cached_property
    def _by_row(self) -> tuple[Any, np.ndarray]:
        """The matrix by rows, and in how many rows each n-gram occurs (TF-IDF stores no zeros: an entry is an n-gram
        the row has)."""
        matrix = sparse.csr_matrix(self.matrix)
        return matrix, np.bincount(matrix.indices, minlength=matrix.shape[1])

    def predict_left_out(self, model: Model, rows: Sequence[int]) -> list[str]:
        """``model`` (trained here, without ``rows``) on ``rows`` of the fitted texts, as it would predict them had
        the features been fitted without them too, as a deployed model's were for the texts it is asked about.

        Fitted on every text, the vocabulary holds the n-grams that only ``rows`` have. ``model`` learned no weight
        for them, yet they take a share of each row's norm and shrink the n-grams it knows, which pulls the row
        towards the classes' intercepts: on the tweets, the challenger's gain on the rows its fold models left out
        came out 0.02 below its gain on rows it never saw (``bench/out_of_fold.py``). So those n-grams are dropped
        and each block of features normalised again, as a vectoriser that never saw them would have done. Two things
        a refit would change are left as they are: the left-out rows' share of the other n-grams' document
        frequencies (IDF), which changed nothing measurable, and ``max_features``, which a refit could fill with
        other n-grams once the vocabulary is larger than it (the tweets fill about a fifth of it). Rows are scored
        in the order given."""
        if model.pipeline.named_steps.get("features") is not self.union:
            raise ValueError("predict_left_out needs a model trained on these features (Features.classifier)")
        rows = list(rows)
        if not rows:
            return []
        matrix, counts = self._by_row
        elsewhere = counts - np.bincount(matrix[sorted(set(rows))].indices, minlength=matrix.shape[1]) > 0
        kept = matrix[rows].multiply(elsewhere[np.newaxis, :]).tocsr()
        blocks, start = [], 0
        for _, vectorizer in self.union.transformer_list:
            end = start + len(vectorizer.vocabulary_)
            blocks.append(normalize(kept[:, start:end]))
            start = end
        return [str(label) for label in model.pipeline.named_steps["clf"].predict(sparse.hstack(blocks).tocsr())]


def train(
    texts: Sequence[str], labels: Sequence[str], *, weights: Sequence[float] | None = None, seed: int = 0
) -> Model:
    """Fit the default pipeline on ``texts`` (raw; they are cleaned here), their labels and, optionally,
    a training weight per row (1 for a gold label)."""
    if len(texts) != len(labels):
        raise ValueError(f"got {len(texts)} texts but {len(labels)} labels")
    if weights is not None and len(weights) != len(texts):
        raise ValueError(f"got {len(texts)} texts but {len(weights)} weights")
    if len(set(labels)) < 2:
        raise ValueError(f"training needs at least two classes, got {sorted(set(labels))}")
    return Features.fit(texts).classifier(list(labels), weights=weights, seed=seed)


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


# The pipeline shapes load() accepts: today's, and the one earlier versions deployed.
_SHAPES = (
    [FeatureUnion, LinearSVC],
    [TfidfVectorizer, LogisticRegression],
)


def load(path: Path) -> Model:
    """Read a model written by :func:`save`; refuse types outside :data:`ALLOWED_TYPES`."""
    untrusted = sio.get_untrusted_types(file=path)
    unknown = sorted(set(untrusted) - ALLOWED_TYPES)
    if unknown:
        raise UntrustedModelError(f"{path} holds types that are not allowed, refusing to load it: {', '.join(unknown)}")
    pipeline = sio.load(path, trusted=untrusted)
    steps = [type(step) for _, step in pipeline.steps] if isinstance(pipeline, Pipeline) else None
    if steps not in _SHAPES:
        raise UntrustedModelError(
            f"{path} does not hold a pipeline made by orchestrator retrain "
            "(TfidfVectorizer features and a LinearSVC or LogisticRegression)"
        )
    if steps[0] is FeatureUnion and not all(isinstance(t, TfidfVectorizer) for _, t in pipeline.steps[0][1].transformer_list):
        raise UntrustedModelError(f"{path}: its features are not TfidfVectorizers")
    return Model(pipeline)


def _clean(texts: Sequence[str]) -> list[str]:
    return [clean_text(text) for text in texts]
