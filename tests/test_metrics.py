"""Metric functions against hand-computed cases and against the reference libraries."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as sk

from grader.harness import metrics as m

# --- classification ----------------------------------------------------------------------------


def test_hand_computed_binary_case() -> None:
    y_true = [0, 0, 1, 1]
    y_pred = [0, 1, 1, 1]
    assert m.accuracy(y_true, y_pred) == 0.75
    scores = m.precision_recall_f1(y_true, y_pred)
    assert scores.precision.tolist() == pytest.approx([1.0, 2 / 3])
    assert scores.recall.tolist() == pytest.approx([0.5, 1.0])
    assert scores.f1.tolist() == pytest.approx([2 / 3, 0.8])
    assert scores.macro_f1 == pytest.approx((2 / 3 + 0.8) / 2)
    # TP=2, TN=1, FP=1, FN=0 for class 1: (2·1 − 1·0) / sqrt(3·2·1·2)
    assert m.matthews_corrcoef(y_true, y_pred) == pytest.approx(2 / math.sqrt(12))


def test_zero_division_counts_as_zero() -> None:
    # class 2 is never predicted (precision 0/0), class 3 never occurs (recall 0/0)
    y_true = [0, 1, 2, 2]
    y_pred = [0, 1, 3, 3]
    scores = m.precision_recall_f1(y_true, y_pred)
    assert scores.labels.tolist() == [0, 1, 2, 3]
    assert scores.precision.tolist() == [1.0, 1.0, 0.0, 0.0]
    assert scores.recall.tolist() == [1.0, 1.0, 0.0, 0.0]
    assert scores.f1.tolist() == [1.0, 1.0, 0.0, 0.0]
    assert not np.isnan(scores.f1).any()


def test_mcc_extremes() -> None:
    assert m.matthews_corrcoef([0, 1, 2, 1], [0, 1, 2, 1]) == pytest.approx(1.0)
    assert m.matthews_corrcoef([0, 1, 0, 1], [1, 0, 1, 0]) == pytest.approx(-1.0)
    assert m.matthews_corrcoef([0, 1, 2, 1], [1, 1, 1, 1]) == 0.0  # constant prediction: undefined → 0


@pytest.mark.parametrize("seed", range(8))
def test_classification_matches_scikit_learn_on_random_labels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_classes = int(rng.integers(2, 7))
    n = int(rng.integers(5, 200))
    y_true = rng.integers(0, n_classes, n)
    # mostly right, some noise, and sometimes a class the truth never has
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, n_classes + 1, n))
    assert m.accuracy(y_true, y_pred) == pytest.approx(sk.accuracy_score(y_true, y_pred))
    ours = m.precision_recall_f1(y_true, y_pred)
    kw = {"average": "macro", "zero_division": 0}
    assert ours.macro_precision == pytest.approx(sk.precision_score(y_true, y_pred, **kw))
    assert ours.macro_recall == pytest.approx(sk.recall_score(y_true, y_pred, **kw))
    assert ours.macro_f1 == pytest.approx(sk.f1_score(y_true, y_pred, **kw))
    assert m.matthews_corrcoef(y_true, y_pred) == pytest.approx(sk.matthews_corrcoef(y_true, y_pred))
    matrix, labels = m.confusion_matrix(y_true, y_pred)
    assert (matrix == sk.confusion_matrix(y_true, y_pred, labels=labels)).all()


def test_explicit_labels_match_scikit_learn() -> None:
    y_true = [0, 1, 2, 2, 1, 0]
    y_pred = [0, 2, 2, -1, 1, -1]  # -1: a prediction outside the label set
    labels = [0, 1, 2]
    ours = m.precision_recall_f1(y_true, y_pred, labels=labels)
    kw = {"labels": labels, "average": "macro", "zero_division": 0}
    assert ours.macro_precision == pytest.approx(sk.precision_score(y_true, y_pred, **kw))
    assert ours.macro_recall == pytest.approx(sk.recall_score(y_true, y_pred, **kw))
    assert ours.macro_f1 == pytest.approx(sk.f1_score(y_true, y_pred, **kw))


def test_mismatched_or_empty_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="3 items but y_pred has 2"):
        m.accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="no items"):
        m.accuracy([], [])


# --- entities ----------------------------------------------------------------------------------


def test_entity_spans_iob2_and_sloppy_tags() -> None:
    tags = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-ORG", "I-ORG", "O", "I-PER"]
    assert m.entity_spans(tags) == [("PER", 0, 1), ("LOC", 3, 3), ("LOC", 4, 4), ("ORG", 5, 6), ("PER", 8, 8)]


def test_entity_scores_hand_computed() -> None:
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "O"]]  # PER span cut short: wrong entity
    scores = m.entity_scores(true, pred)
    assert (scores.true_entities, scores.predicted_entities, scores.correct_entities) == (3, 3, 2)
    assert scores.precision == pytest.approx(2 / 3)
    assert scores.recall == pytest.approx(2 / 3)
    assert scores.f1 == pytest.approx(2 / 3)


def test_entity_scores_without_entities_is_zero_not_nan() -> None:
    scores = m.entity_scores([["O", "O"]], [["O", "O"]])
    assert (scores.precision, scores.recall, scores.f1) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("seed", range(6))
def test_entity_scores_match_seqeval(seed: int) -> None:
    seqeval = pytest.importorskip("seqeval.metrics")
    rng = np.random.default_rng(seed)
    tagset = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    true, pred = [], []
    for _ in range(40):
        length = int(rng.integers(1, 12))
        t = [tagset[i] for i in rng.integers(0, len(tagset), length)]
        p = [tag if rng.random() < 0.7 else tagset[int(rng.integers(0, len(tagset)))] for tag in t]
        true.append(t)
        pred.append(p)
    ours = m.entity_scores(true, pred)
    assert ours.precision == pytest.approx(seqeval.precision_score(true, pred))
    assert ours.recall == pytest.approx(seqeval.recall_score(true, pred))
    assert ours.f1 == pytest.approx(seqeval.f1_score(true, pred))


# --- language modelling ------------------------------------------------------------------------


def test_perplexity_and_log_softmax() -> None:
    assert m.perplexity(0.0, 10) == 1.0
    assert m.perplexity(10 * math.log(4), 10) == pytest.approx(4.0)
    with pytest.raises(ValueError):
        m.perplexity(1.0, 0)
    logits = np.array([[1000.0, 1000.0, 1000.0, 1000.0]], dtype=np.float32)  # would overflow naively
    assert np.allclose(m.log_softmax(logits), np.log(0.25))


# --- speech ------------------------------------------------------------------------------------


def test_normalize_transcript() -> None:
    assert m.normalize_transcript("  Ёлка, ЗЕЛЁНАЯ!  ") == "елка зеленая"
    assert m.normalize_transcript("Don’t stop — it's кто-то…") == "don't stop it's кто-то"
    assert m.normalize_transcript("a - b") == "a b"


def test_wer_and_cer_hand_computed() -> None:
    # one substitution, one deletion over 5 reference words
    result = m.word_error_rate(["the cat sat on mats"], ["The cat sit on"])
    assert (result.edits, result.reference_length) == (2, 5)
    assert result.rate == pytest.approx(0.4)
    assert m.word_error_rate(["a"], ["a b c"]).rate == pytest.approx(2.0)  # insertions: above 1
    assert m.char_error_rate(["abc"], ["abd"]).rate == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="empty after normalisation"):
        m.word_error_rate(["!!"], ["a"])


def test_wer_matches_jiwer_on_normalised_text() -> None:
    jiwer = pytest.importorskip("jiwer")
    rng = np.random.default_rng(3)
    words = ["мама", "мыла", "раму", "кот", "сидит", "на", "окне", "the", "quick", "brown", "fox"]
    refs = [" ".join(rng.choice(words, int(rng.integers(1, 9)))) for _ in range(30)]
    hyps = [" ".join(rng.choice(words, int(rng.integers(0, 9)))) for _ in range(30)]
    hyps = [h if h else "мама" for h in hyps]  # jiwer refuses empty hypotheses
    assert m.word_error_rate(refs, hyps).rate == pytest.approx(jiwer.wer(refs, hyps))
    assert m.char_error_rate(refs, hyps).rate == pytest.approx(jiwer.cer(refs, hyps))


# --- BLEU / chrF -------------------------------------------------------------------------------

SENTENCES = [
    ("The cat sat on the mat.", "The cat is sitting on the mat."),
    ("It costs 3,500.50 dollars, (roughly).", "It costs about 3,500.50 dollars."),
    ("Мама мыла раму, а кот спал.", "Мама мыла раму, кот спал."),
    ("Hello world", "Hello, world!"),
    ("a b c d e f", "a b c d e f"),
    ("&quot;quoted&quot; text - with dash 1-2", '"quoted" text -- with dash 1-2'),
]


def test_bleu_and_chrf_match_sacrebleu_on_sentences() -> None:
    sacrebleu = pytest.importorskip("sacrebleu")
    hyps = [h for h, _ in SENTENCES]
    refs = [r for _, r in SENTENCES]
    assert m.corpus_bleu(hyps, refs).score * 100 == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
    assert m.corpus_chrf(hyps, refs) * 100 == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score)


@pytest.mark.parametrize("seed", range(6))
def test_bleu_and_chrf_match_sacrebleu_on_random_corpora(seed: int) -> None:
    sacrebleu = pytest.importorskip("sacrebleu")
    rng = np.random.default_rng(seed)
    vocab = [
        "the",
        "a",
        "cat",
        "dog",
        "sat",
        "ran",
        "on",
        "under",
        "mat",
        ",",
        ".",
        "!",
        "кот",
        "сидел",
        "на",
        "ковре",
        "42",
        "3.5",
    ]
    refs = [" ".join(rng.choice(vocab, int(rng.integers(1, 15)))) for _ in range(20)]
    hyps = [
        " ".join(
            w if rng.random() < 0.7 else str(rng.choice(vocab)) for w in r.split()[: int(rng.integers(1, 16))]
        )
        for r in refs
    ]
    bleu = m.corpus_bleu(hyps, refs)
    assert bleu.score * 100 == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score, abs=1e-9)
    assert m.corpus_chrf(hyps, refs) * 100 == pytest.approx(
        sacrebleu.corpus_chrf(hyps, [refs]).score, abs=1e-9
    )


def test_bleu_edge_cases() -> None:
    assert m.corpus_bleu(["a b c d"], ["a b c d"]).score == pytest.approx(1.0)
    assert m.corpus_bleu(["x y z w"], ["a b c d"]).score == 0.0
    assert m.corpus_bleu(["a b"], ["a b c d"]).score == 0.0  # no 3-grams at all
    short = m.corpus_bleu(["a b c d"], ["a b c d e f g h"])
    assert short.brevity_penalty == pytest.approx(math.exp(1 - 8 / 4))
    assert m.tokenize_v13a("Hi, (you) 3.5-4!") == ["Hi", ",", "(", "you", ")", "3.5", "-", "4", "!"]
    assert m.corpus_chrf(["abc"], ["abc"]) == pytest.approx(1.0)
    assert m.corpus_chrf([""], ["abc"]) == 0.0
