"""Tests for the TF-IDF + logistic regression baseline: it learns a planted keyword, picks C by validation AUROC,
writes the predictions contract, and survives a save/load round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from helpers import baselines as bl
from helpers.evaluation import PREDICTION_COLUMNS

FILLER = np.array(
    "patient admitted with chest pain shortness of breath history of hypertension diabetes discharged home "
    "stable follow up with primary care medications reviewed no acute distress vitals normal labs unremarkable".split()
)


def _notes(n, seed, keyword_rate=0.9, start_id=0):
    """Notes of 40 filler words; readmitted notes (25 %) contain 'frailty' with probability ``keyword_rate``,
    the others with probability 0.05 -- the planted signal."""
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < 0.25).astype(int)
    has_keyword = np.where(label == 1, rng.random(n) < keyword_rate, rng.random(n) < 0.05)
    texts = []
    for row in range(n):
        words = list(rng.choice(FILLER, 40))
        if has_keyword[row]:
            words.insert(int(rng.integers(0, 40)), "frailty")
        texts.append(" ".join(words))
    ids = np.arange(start_id, start_id + n)
    return pd.DataFrame(
        {
            "admission_id": ids,
            "patient_id": ids // 2,
            "hospital": rng.choice(["A", "B"], n),
            "note_text": texts,
            "readmitted_30d": label,
        }
    )


@pytest.fixture(scope="module")
def data():
    return _notes(600, 0), _notes(300, 1, start_id=10_000), _notes(400, 2, start_id=20_000)


@pytest.fixture(scope="module")
def fitted(data):
    train, validation, _ = data
    return bl.fit_tfidf_lr(train, validation, C_grid=(0.001, 0.1, 10.0))


def test_learns_planted_keyword(data, fitted):
    _, _, test = data
    scores = bl.predict_tfidf_lr(fitted, test)
    assert roc_auc_score(test["readmitted_30d"], scores) > 0.9
    keyword_weight = fitted.classifier.coef_[0][fitted.vectorizer.vocabulary_["frailty"]]
    assert keyword_weight == fitted.classifier.coef_[0].max()


def test_c_chosen_by_validation_auroc(data, fitted):
    train, validation, _ = data
    # independent refit of every C with scikit-learn: the recorded validation AUROCs and the choice must agree
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, dtype=np.float32)
    x_train = vectorizer.fit_transform(train["note_text"])
    x_val = vectorizer.transform(validation["note_text"])
    expected = {}
    for c in (0.001, 0.1, 10.0):
        model = LogisticRegression(C=c, solver="liblinear", max_iter=1000).fit(x_train, train["readmitted_30d"])
        expected[c] = roc_auc_score(validation["readmitted_30d"], model.predict_proba(x_val)[:, 1])
    assert fitted.validation_auroc == pytest.approx(expected, abs=1e-9)
    assert fitted.C == max(expected, key=lambda c: (expected[c], -c))
    assert fitted.classifier.C == fitted.C
    table = fitted.selection_table()
    assert table.index[table["chosen"] == "chosen"].tolist() == [fitted.C]
    assert table["validation AUROC"].tolist() == [round(expected[c], 3) for c in table.index]


def test_validation_decides_against_training_fit():
    # Training notes carry the keyword with the label; validation notes carry the *opposite* association, so the
    # C that fits training best (the weakest regularisation) must lose on validation.
    train = _notes(400, 3)
    validation = _notes(300, 4)
    flipped = validation["readmitted_30d"] == 0
    validation.loc[flipped, "note_text"] = validation.loc[flipped, "note_text"] + " frailty"
    validation.loc[~flipped, "note_text"] = validation.loc[~flipped, "note_text"].str.replace("frailty", "")
    model = bl.fit_tfidf_lr(train, validation, C_grid=(0.0001, 100.0))
    assert model.validation_auroc[100.0] < 0.5
    assert model.C == 0.0001


def test_predictions_table_follows_contract(data, fitted):
    _, validation, test = data
    table = bl.tfidf_predictions(fitted, {"validation": validation, "temporal_test": test})
    assert list(table.columns) == PREDICTION_COLUMNS
    assert len(table) == len(validation) + len(test)
    assert set(table["model"]) == {"tfidf_lr"}
    part = table[table["split"] == "temporal_test"]
    np.testing.assert_array_equal(part["admission_id"], test["admission_id"])
    np.testing.assert_allclose(part["y_score"], bl.predict_tfidf_lr(fitted, test))
    with pytest.raises(ValueError, match="not a split name"):
        bl.tfidf_predictions(fitted, {"test": test})


def test_save_load_round_trip(tmp_path, data, fitted):
    _, _, test = data
    path = bl.save_tfidf(fitted, tmp_path / "models" / "tfidf.joblib")
    loaded = bl.load_tfidf(path)
    np.testing.assert_array_equal(bl.predict_tfidf_lr(loaded, test), bl.predict_tfidf_lr(fitted, test))
    assert loaded.C == fitted.C
    assert sorted(p.name for p in path.parent.iterdir()) == ["tfidf.joblib"]
    with pytest.raises(FileNotFoundError, match="No TF-IDF baseline"):
        bl.load_tfidf(tmp_path / "absent.joblib")


def test_bad_inputs_are_named(data):
    train, validation, _ = data
    with pytest.raises(ValueError, match=r"train is missing column\(s\) \['note_text'\]"):
        bl.fit_tfidf_lr(train.drop(columns="note_text"), validation)
    with pytest.raises(ValueError, match="validation column 'readmitted_30d' has a single class"):
        bl.fit_tfidf_lr(train, validation.assign(readmitted_30d=0))
    with pytest.raises(ValueError, match="must hold only 0 or 1"):
        bl.fit_tfidf_lr(train.assign(readmitted_30d=2), validation)
    missing_note = train.copy()
    missing_note.loc[missing_note.index[3], "note_text"] = None
    with pytest.raises(ValueError, match="train column 'note_text' has 1 missing note"):
        bl.fit_tfidf_lr(missing_note, validation)
    with pytest.raises(ValueError, match="C_grid must hold positive numbers"):
        bl.fit_tfidf_lr(train, validation, C_grid=(0.0, 1.0))


def test_oracle_predictions_follow_the_contract_and_refuse_a_foreign_oracle():
    from helpers.baselines import oracle_predictions

    data = pd.DataFrame({
        "admission_id": ["a", "b", "c"], "patient_id": ["p", "p", "q"], "hospital": ["H1"] * 3,
        "split": ["train", "random_test", "temporal_test"], "readmitted_30d": [0, 1, 0],
    })
    oracle = pd.DataFrame({"admission_id": ["a", "b", "c"], "true_probability": [0.1, 0.7, 0.2]})
    table = oracle_predictions(oracle, data)
    assert list(table["admission_id"]) == ["b", "c"]  # training admissions are not predicted
    assert list(table["y_score"]) == [0.7, 0.2] and list(table["y_true"]) == [1, 0]
    assert set(table["model"]) == {"oracle"}
    with pytest.raises(ValueError, match="another run"):
        oracle_predictions(oracle[oracle["admission_id"] != "c"], data)
    with pytest.raises(ValueError, match="true_probability"):
        oracle_predictions(oracle.rename(columns={"true_probability": "p"}), data)


def _study_notes(n, *, filler_words, seed, negative_word):
    """A study frame of noise notes whose label shows only in a last word ("sepsis"), spread over the four splits."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = int(rng.random() < 0.3)
        filler = " ".join(rng.choice(["pain", "fever", "cough", "rest", "walk"], size=filler_words))
        last = " sepsis" if label else (f" {negative_word}" if negative_word else "")
        rows.append({"admission_id": f"A{i}", "patient_id": f"P{i}", "hospital": "H1", "note_text": filler + last,
                     "readmitted_30d": label,
                     "split": ["train", "train", "train", "validation", "random_test", "temporal_test"][i % 6]})
    return pd.DataFrame(rows)


def test_tfidf_stage_is_reused_when_inputs_match_and_refit_when_they_change(tmp_path):
    from helpers.baselines import run_tfidf_stage

    data = _study_notes(240, filler_words=20, seed=0, negative_word="")
    model, predictions, reused = run_tfidf_stage(data, tmp_path, seed=0, C_grid=(1.0,))
    assert not reused and set(predictions["split"]) == {"validation", "random_test", "temporal_test"}
    _, again, reused_again = run_tfidf_stage(data, tmp_path, seed=0, C_grid=(1.0,))
    assert reused_again
    assert np.allclose(again["y_score"], predictions["y_score"])
    changed = data.copy()
    changed.loc[0, "note_text"] += " extra"
    _, _, reused_changed = run_tfidf_stage(changed, tmp_path, seed=0, C_grid=(1.0,))
    assert not reused_changed


def test_cached_stage_builds_once_records_its_key_and_rebuilds_on_a_new_key(tmp_path):
    # The one cache rule shared by the TF-IDF stage and ClinicLLM's stages (helpers.artifacts.cached_stage).
    from helpers.artifacts import cached_stage, write_json

    built = []

    def build(path):
        built.append(path.name)
        write_json({"n": len(built)}, path)

    load = lambda path: json.loads(path.read_text())["n"]  # noqa: E731
    first, reused = cached_stage(tmp_path / "stage.json", "k1", build, load)
    assert (first, reused) == (1, False) and (tmp_path / "stage.json.key").read_text().strip() == "k1"
    again, reused = cached_stage(tmp_path / "stage.json", "k1", build, load)
    assert (again, reused, len(built)) == (1, True, 1)
    changed, reused = cached_stage(tmp_path / "stage.json", "k2", build, load)
    assert (changed, reused, len(built)) == (2, False, 2)
    # An output whose name carries its key is its own record (ClinicLLM's finetune-<key>/ folders).
    named, reused = cached_stage(tmp_path / "finetune-k3", "k3", lambda p: p.mkdir(), lambda p: p.is_dir())
    assert named and not reused and not (tmp_path / "finetune-k3.key").exists()
    assert cached_stage(tmp_path / "finetune-k3", "k3", build, lambda p: "loaded") == ("loaded", True)
    # An interrupted build leaves no key, so the next call builds again.
    with pytest.raises(RuntimeError):
        cached_stage(tmp_path / "broken.json", "k4", lambda p: (_ for _ in ()).throw(RuntimeError("stop")), load)
    assert not (tmp_path / "broken.json.key").exists()


def test_chapter_predictions_stack_the_experiments():
    from helpers.baselines import chapter_predictions

    rows = pd.DataFrame({"admission_id": [1, 2], "patient_id": [1, 2], "hospital": "H1", "split": "temporal_test",
                         "model": "m", "y_true": [0, 1], "y_score": [0.1, 0.9]})
    table = chapter_predictions(rows, rows.assign(model="tfidf_lr"), None, rows)
    assert table["experiment"].tolist() == ["global", "global", "tfidf_lr", "tfidf_lr"]
