"""Is the default model the best of its cheap neighbours? 5-fold cross-validated macro-F1 of scikit-learn variants.

    python bench/model_variants.py ../shared/data/grievance_tweets.csv       # columns id, text, label
    python bench/model_variants.py --synthetic department                    # or urgency (6,000 rows, half drifted)

Every variant is trained on the default features (word 1-2-grams and character 1-5-grams within words, TF-IDF,
:func:`orchestrator.jobs.model.build_features`), fitted per fold on the training rows only. The variants: the default
linear SVM (C = 0.5) and other C, C chosen by an inner 3-fold search, a ridge classifier, and two score ensembles
(each model's per-class scores standardised per row, then summed). It prints each variant's mean over the folds
with its standard error, and the seconds to fit it (an ensemble: all its parts).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from loop_quality import load, parse, source_arguments
from sklearn.linear_model import RidgeClassifier
from sklearn.metrics import f1_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.naive_bayes import ComplementNB
from sklearn.svm import LinearSVC

from orchestrator.jobs.model import build_classifier, build_features
from orchestrator.jobs.text import clean_text


def standardised(scores: np.ndarray) -> np.ndarray:
    return (scores - scores.mean(axis=1, keepdims=True)) / (scores.std(axis=1, keepdims=True) + 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source_arguments(parser)
    args = parse(parser)
    frame = load(args)
    texts, labels = [clean_text(t) for t in frame.text], np.asarray(frame.label)
    scores: dict[str, list[float]] = {}
    seconds: dict[str, float] = {}

    def record(name: str, predicted: np.ndarray, seconds_: float) -> None:
        scores.setdefault(name, []).append(f1_score(labels[test], predicted, average="macro"))
        seconds[name] = seconds.get(name, 0.0) + seconds_

    def fitted(model):  # the model, fitted, and the seconds it took
        started = time.perf_counter()
        return model.fit(a, y), time.perf_counter() - started

    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(texts, labels):
        features = build_features()
        a, b = features.fit_transform([texts[i] for i in train]), features.transform([texts[i] for i in test])
        y = labels[train]
        for c in (0.1, 0.2, 0.5, 1.0):
            name = "linear SVM, C=0.5 (the default)" if c == 0.5 else f"linear SVM, C={c}"
            model, took = fitted(build_classifier() if c == 0.5 else LinearSVC(C=c, class_weight="balanced"))
            record(name, model.predict(b), took)
        search, took = fitted(GridSearchCV(LinearSVC(class_weight="balanced"), {"C": [0.1, 0.2, 0.5, 1.0]}, scoring="f1_macro", cv=3))
        record("linear SVM, C by inner 3-fold search", search.predict(b), took)
        (svm, svm_took), (ridge, ridge_took) = fitted(build_classifier()), fitted(RidgeClassifier(class_weight="balanced"))
        record("ridge", ridge.predict(b), ridge_took)
        both = standardised(svm.decision_function(b)) + standardised(ridge.decision_function(b))
        record("SVM + ridge", svm.classes_[both.argmax(axis=1)], svm_took + ridge_took)
        nb, nb_took = fitted(ComplementNB(alpha=0.3))
        record("SVM + ridge + complement NB", svm.classes_[(both + standardised(nb.predict_log_proba(b))).argmax(axis=1)],
               svm_took + ridge_took + nb_took)
    source = args.csv.name if args.csv else f"synthetic {args.synthetic}"
    print(f"{source}: {len(texts)} rows, 5-fold cross-validated macro-F1")
    for name, values in scores.items():
        values_ = np.asarray(values)
        print(f"  {name:<38} {values_.mean():.4f} ± {values_.std(ddof=1) / len(values_) ** 0.5:.4f}   "
              f"fit {seconds[name] / len(values_):.1f} s per fold")


if __name__ == "__main__":
    main()
