"""The default classifier: learns the synthetic data, round-trips through skops, refuses foreign types."""

from __future__ import annotations

from collections import Counter

import pytest
import skops.io as sio
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from orchestrator.jobs import model as jobs_model
from orchestrator.jobs.synthetic import generate
from orchestrator.jobs.text import clean_text


@pytest.fixture(scope="module")
def data():
    train_rows = generate(1500, seed=0)
    test_rows = generate(600, seed=1, start_id=10_001)
    return (
        [g.text for g in train_rows],
        [g.department for g in train_rows],
        [g.text for g in test_rows],
        [g.department for g in test_rows],
    )


@pytest.fixture(scope="module")
def trained(data):
    texts, labels, _, _ = data
    return jobs_model.train(texts, labels, seed=0)


def test_beats_the_majority_baseline_by_a_wide_margin(trained, data):
    _, labels, test_texts, test_labels = data
    majority = Counter(labels).most_common(1)[0][0]
    baseline = f1_score(test_labels, [majority] * len(test_labels), average="macro", zero_division=0)
    score = jobs_model.macro_f1(trained, test_texts, test_labels)
    assert baseline < 0.2
    assert 0.75 <= score < 0.97  # the data is built to be learnable, not trivially so
    assert score >= baseline + 0.5


def test_scores_sum_to_one_and_agree_with_predict(trained, data):
    _, _, test_texts, _ = data
    scores = trained.predict_scores(test_texts[:20])
    predicted = trained.predict(test_texts[:20])
    assert sorted(trained.classes) == sorted(set(data[1]))
    for row, label in zip(scores, predicted):
        assert list(row) == trained.classes
        assert sum(row.values()) == pytest.approx(1.0)
        assert max(row, key=row.get) == label


def test_texts_are_cleaned_at_prediction_as_at_training(trained):
    raw = "<p>अस्पतालमा डाक्टर   उपलब्ध छैनन्</p> https://x.y/z &amp; HOSPITAL मा लामो लाइन"
    assert trained.predict_scores([raw]) == trained.predict_scores([clean_text(raw)])
    assert trained.predict([raw]) == ["Education, Health & Social Welfare"]


def test_macro_f1_averages_the_classes_seen_in_truth_or_predictions(trained, data):
    _, _, test_texts, test_labels = data
    rows = [(t, y) for t, y in zip(test_texts, test_labels) if y == "Security & Law Enforcement"][:30]
    texts, labels = zip(*rows)
    predicted = trained.predict(texts)
    seen = sorted(set(labels) | set(predicted))
    expected = f1_score(labels, predicted, labels=seen, average="macro", zero_division=0)
    assert jobs_model.macro_f1(trained, texts, labels) == pytest.approx(expected)
    with pytest.raises(ValueError, match="at least one row"):
        jobs_model.macro_f1(trained, [], [])


def test_save_load_round_trip_gives_identical_predictions(trained, data, tmp_path):
    _, _, test_texts, _ = data
    path = tmp_path / "models" / "department.skops"
    jobs_model.save(trained, path)
    assert path.read_bytes()[:2] == b"PK"  # a skops zip, not a pickle
    loaded = jobs_model.load(path)
    assert loaded.classes == trained.classes
    assert loaded.predict(test_texts) == trained.predict(test_texts)
    assert loaded.predict_scores(test_texts[:50]) == trained.predict_scores(test_texts[:50])


def _shout(texts):  # a custom function: skops cannot vouch for it
    return [t.upper() for t in texts]


def test_a_file_with_a_foreign_type_is_refused_before_loading(trained, tmp_path):
    path = tmp_path / "evil.skops"
    sio.dump(Pipeline([("shout", FunctionTransformer(_shout)), ("model", trained.pipeline)]), path)
    with pytest.raises(jobs_model.UntrustedModelError, match="not allowed") as caught:
        jobs_model.load(path)
    assert f"{_shout.__module__}._shout" in str(caught.value)


def test_a_file_with_only_trusted_types_but_another_model_is_refused(tmp_path):
    path = tmp_path / "other.skops"
    sio.dump(LogisticRegression().fit([[0.0], [1.0]], ["a", "b"]), path)
    with pytest.raises(jobs_model.UntrustedModelError, match="not hold a pipeline made by orchestrator retrain"):
        jobs_model.load(path)


def test_a_model_deployed_by_an_earlier_version_still_loads_and_predicts(data, tmp_path):
    """Earlier versions deployed character n-grams and a logistic regression; a champion of that shape
    must keep serving, and be compared with, until a challenger beats it."""
    texts, labels, test_texts, _ = data
    old = Pipeline([
        ("tfidf", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=2, lowercase=False)),
        ("clf", LogisticRegression(max_iter=1000, C=4.0)),
    ]).fit([clean_text(t) for t in texts], labels)
    path = tmp_path / "old.skops"
    sio.dump(old, path)
    loaded = jobs_model.load(path)
    assert loaded.predict(test_texts[:30]) == list(old.predict([clean_text(t) for t in test_texts[:30]]))
    assert all(sum(row.values()) == pytest.approx(1.0) for row in loaded.predict_scores(test_texts[:5]))


def test_words_keep_their_vowel_signs_and_viramas():
    import re

    text = clean_text("सडकमा ठूलो खाल्डो, road-construction अधुरो छ। «कृपया» ध्यान दिनुहोस्")
    assert re.findall(jobs_model.WORD_PATTERN, text) == [
        "सडकमा", "ठूलो", "खाल्डो", "road", "construction", "अधुरो", "छ", "कृपया", "ध्यान", "दिनुहोस्"
    ]


def test_row_weights_change_what_the_model_learns(data):
    texts, labels, _, _ = data
    probe = "वडा कार्यालयमा पानीको पाइप फुटेको छ"
    heavy = {"Infrastructure, Utilities & Natural Resources": "Security & Law Enforcement"}
    # the same rows, with labels of one class relabelled: weight 0 leaves them out, weight 1 teaches them
    relabelled = [heavy.get(y, y) for y in labels]
    rows = list(range(len(texts)))
    mixed_texts = [texts[i] for i in rows] * 2
    mixed_labels = [labels[i] for i in rows] + [relabelled[i] for i in rows]
    ignore = jobs_model.train(mixed_texts, mixed_labels, weights=[1.0] * len(rows) + [0.0] * len(rows))
    learn = jobs_model.train(mixed_texts, mixed_labels, weights=[0.01] * len(rows) + [1.0] * len(rows))
    assert ignore.predict([probe]) == ["Infrastructure, Utilities & Natural Resources"]
    assert learn.predict([probe]) == ["Security & Law Enforcement"]


def test_train_validates_its_input():
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        jobs_model.train(["a", "b"], ["x"])
    with pytest.raises(ValueError, match="at least two classes"):
        jobs_model.train(["सडक", "पानी"], ["x", "x"])
    with pytest.raises(ValueError, match="2 texts but 1 weights"):
        jobs_model.train(["a", "b"], ["x", "y"], weights=[1.0])

