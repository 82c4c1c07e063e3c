"""Quality metrics, in numpy and plain Python, so every backend is scored by the same code.

Conventions, chosen to match the reference libraries that students use (the tests cross-check
each function against them):

- Classification (`accuracy`, `precision_recall_f1`, `matthews_corrcoef`) takes integer class
  ids. Macro averages run over the classes that occur in ``y_true`` or ``y_pred`` unless
  ``labels`` names them (scikit-learn's rule). Zero division counts as 0: a class that is never
  predicted has precision 0, a class that never occurs has recall 0, and F1 is 0 when precision
  and recall are both 0 (scikit-learn's ``zero_division=0``). Macro F1 is the mean of the
  per-class F1 scores, not the F1 of macro precision and macro recall.
- Entity F1 (`entity_scores`) follows seqeval's default (CoNLL-2000 ``conlleval``) chunking of
  IOB1/IOB2 tags and micro-averages over entities.
- WER / CER are corpus-level: total edit operations over total reference words (characters),
  after `normalize_transcript` (jiwer computes the same on normalised text).
- BLEU is sacreBLEU's corpus BLEU (mteval-v13a tokenisation, ``exp`` smoothing, 4-grams) and
  chrF its chrF (character 6-grams, β = 2, whitespace ignored), both as fractions in [0, 1]
  rather than sacreBLEU's 0..100, so a claim of `27.3` reads as 27.3 %.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

# --- classification ----------------------------------------------------------------------------


def _as_ids(values: Sequence[int] | np.ndarray) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D sequence of class ids, got shape {array.shape}")
    return array.astype(np.int64, copy=False)


def _checked_pair(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray) -> tuple:
    true, pred = _as_ids(y_true), _as_ids(y_pred)
    if true.shape != pred.shape:
        raise ValueError(f"y_true has {true.size} items but y_pred has {pred.size}")
    if true.size == 0:
        raise ValueError("no items to score")
    return true, pred


def accuracy(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray) -> float:
    """Share of items whose predicted class is the true class."""
    true, pred = _checked_pair(y_true, y_pred)
    return float(np.mean(true == pred))


def confusion_matrix(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    labels: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(matrix, labels): ``matrix[i, j]`` counts items of class ``labels[i]`` predicted as ``labels[j]``.

    Items whose true or predicted class is not in ``labels`` are left out of the matrix.
    """
    true, pred = _checked_pair(y_true, y_pred)
    classes = np.unique(np.concatenate([true, pred])) if labels is None else _as_ids(labels)
    index = {int(c): i for i, c in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for t, p in zip(true.tolist(), pred.tolist(), strict=True):
        if t in index and p in index:
            matrix[index[t], index[p]] += 1
    return matrix, classes


@dataclass(frozen=True)
class PerClass:
    labels: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray  # true items of each class

    @property
    def macro_precision(self) -> float:
        return float(np.mean(self.precision))

    @property
    def macro_recall(self) -> float:
        return float(np.mean(self.recall))

    @property
    def macro_f1(self) -> float:
        return float(np.mean(self.f1))


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, with 0 where the denominator is 0 (the documented zero-division rule)."""
    out = np.zeros(numerator.shape, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def precision_recall_f1(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    labels: Sequence[int] | None = None,
) -> PerClass:
    """Per-class precision, recall and F1 (one-vs-rest), with the zero-division rule above.

    Unlike `confusion_matrix`, a prediction outside ``labels`` still counts as a miss for its
    true class (it lowers that class's recall), as in scikit-learn.
    """
    true, pred = _checked_pair(y_true, y_pred)
    classes = np.unique(np.concatenate([true, pred])) if labels is None else _as_ids(labels)
    tp = np.array([np.sum((true == c) & (pred == c)) for c in classes], dtype=np.float64)
    predicted = np.array([np.sum(pred == c) for c in classes], dtype=np.float64)
    support = np.array([np.sum(true == c) for c in classes], dtype=np.float64)
    precision = _safe_divide(tp, predicted)
    recall = _safe_divide(tp, support)
    # 2·TP / (2·TP + FP + FN) equals 2PR/(P+R) wherever that is defined, and is 0 (not NaN) when
    # the class was neither predicted correctly nor missed.
    f1 = _safe_divide(2 * tp, predicted + support)
    return PerClass(classes, precision, recall, f1, support.astype(np.int64))


def matthews_corrcoef(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray) -> float:
    """Multiclass Matthews correlation (Gorodkin's R_K) over every class seen; 0 when undefined."""
    matrix, _ = confusion_matrix(y_true, y_pred)
    c = matrix.astype(np.float64)
    n = c.sum()
    correct = np.trace(c)
    predicted = c.sum(axis=0)
    actual = c.sum(axis=1)
    covariance = correct * n - predicted @ actual
    denominator = math.sqrt((n * n - predicted @ predicted) * (n * n - actual @ actual))
    return float(covariance / denominator) if denominator > 0 else 0.0


# --- token classification (entities from BIO tags) ---------------------------------------------


def _split_tag(tag: str) -> tuple[str, str]:
    """'B-PER' → ('B', 'PER'); 'O' → ('O', ''); a bare type 'PER' is read as 'I-PER' (conlleval)."""
    if tag in ("O", ""):
        return "O", ""
    prefix, sep, kind = tag.partition("-")
    if sep and prefix in ("B", "I", "E", "S"):
        return prefix, kind
    return "I", tag


def _chunk_ends(prev: tuple[str, str], cur: tuple[str, str]) -> bool:
    (p_pre, p_type), (c_pre, c_type) = prev, cur
    if p_pre in ("E", "S"):
        return True
    if p_pre in ("B", "I"):
        return c_pre in ("B", "S", "O") or p_type != c_type
    return False


def _chunk_starts(prev: tuple[str, str], cur: tuple[str, str]) -> bool:
    (p_pre, p_type), (c_pre, c_type) = prev, cur
    if c_pre in ("B", "S"):
        return True
    if c_pre in ("I", "E"):
        return p_pre in ("E", "S", "O") or p_type != c_type
    return False


def entity_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Entities in one tag sequence as (type, first index, last index), conlleval's chunking.

    An `I-X` that does not continue an `X` chunk starts a new one (IOB1 and sloppy IOB2 alike),
    which is what seqeval does by default.
    """
    spans: list[tuple[str, int, int]] = []
    prev: tuple[str, str] = ("O", "")
    start: int | None = None
    for index, tag in enumerate([*tags, "O"]):
        cur = _split_tag(tag)
        if start is not None and _chunk_ends(prev, cur):
            spans.append((prev[1], start, index - 1))
            start = None
        if _chunk_starts(prev, cur):
            start = index
        prev = cur
    return spans


@dataclass(frozen=True)
class EntityScores:
    precision: float
    recall: float
    f1: float
    true_entities: int
    predicted_entities: int
    correct_entities: int


def entity_scores(true_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]]) -> EntityScores:
    """Micro-averaged entity precision, recall and F1: an entity counts only if type and span match."""
    if len(true_tags) != len(pred_tags):
        raise ValueError(f"{len(true_tags)} true sequences but {len(pred_tags)} predicted")
    true_set: set[tuple[int, str, int, int]] = set()
    pred_set: set[tuple[int, str, int, int]] = set()
    for sentence, (true, pred) in enumerate(zip(true_tags, pred_tags, strict=True)):
        if len(true) != len(pred):
            raise ValueError(f"sequence {sentence}: {len(true)} true tags but {len(pred)} predicted")
        true_set.update((sentence, *span) for span in entity_spans(true))
        pred_set.update((sentence, *span) for span in entity_spans(pred))
    correct = len(true_set & pred_set)
    precision = correct / len(pred_set) if pred_set else 0.0
    recall = correct / len(true_set) if true_set else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return EntityScores(precision, recall, f1, len(true_set), len(pred_set), correct)


# --- language modelling ------------------------------------------------------------------------


def perplexity(nll_sum: float, tokens: int) -> float:
    """exp(total negative log-likelihood in nats / number of predicted tokens)."""
    if tokens <= 0:
        raise ValueError("perplexity needs at least one predicted token")
    return math.exp(nll_sum / tokens)


def log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable log-softmax in float64 (fp16 logits would lose the tail otherwise)."""
    x = logits.astype(np.float64, copy=False)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


# --- speech recognition ------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")


def normalize_transcript(text: str) -> str:
    """The normalisation applied to references and hypotheses before WER / CER.

    NFKC; lower case; `ё` → `е` (Russian text writes both); every character of a Unicode
    punctuation (P*) or symbol (S*) category becomes a space, except an apostrophe or hyphen
    between two letters (`don't`, `кто-то` stay one word); runs of whitespace become one space;
    leading and trailing spaces go.
    """
    text = unicodedata.normalize("NFKC", text).lower().replace("ё", "е")
    out: list[str] = []
    for index, char in enumerate(text):
        category = unicodedata.category(char)
        if category[0] in ("P", "S"):
            inside_word = (
                char in "'’-"
                and 0 < index < len(text) - 1
                and text[index - 1].isalpha()
                and text[index + 1].isalpha()
            )
            out.append("'" if inside_word and char == "’" else char if inside_word else " ")
        else:
            out.append(char)
    return _SPACES.sub(" ", "".join(out)).strip()


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance: substitutions + deletions + insertions turning reference into hypothesis."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_item in enumerate(reference, start=1):
        current = [i] + [0] * len(hypothesis)
        for j, hyp_item in enumerate(hypothesis, start=1):
            current[j] = min(
                previous[j] + 1,  # deletion
                current[j - 1] + 1,  # insertion
                previous[j - 1] + (ref_item != hyp_item),  # substitution or match
            )
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class ErrorRate:
    rate: float  # edits / reference length
    edits: int
    reference_length: int


def _error_rate(pairs: Iterable[tuple[Sequence[str], Sequence[str]]]) -> ErrorRate:
    edits = length = 0
    for reference, hypothesis in pairs:
        edits += edit_distance(reference, hypothesis)
        length += len(reference)
    if length == 0:
        raise ValueError("the references are empty after normalisation; an error rate needs reference text")
    return ErrorRate(edits / length, edits, length)


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> ErrorRate:
    """Corpus WER over normalised text; can exceed 1 when the hypotheses insert words."""
    _same_length(references, hypotheses)
    return _error_rate(
        (normalize_transcript(r).split(), normalize_transcript(h).split())
        for r, h in zip(references, hypotheses, strict=True)
    )


def char_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> ErrorRate:
    """Corpus CER over normalised text, spaces between words included as characters."""
    _same_length(references, hypotheses)
    return _error_rate(
        (list(normalize_transcript(r)), list(normalize_transcript(h)))
        for r, h in zip(references, hypotheses, strict=True)
    )


def _same_length(references: Sequence[str], hypotheses: Sequence[str]) -> None:
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")


# --- translation / generation: BLEU and chrF ---------------------------------------------------

# mteval-v13a tokenisation, as sacreBLEU's default `13a` tokenizer applies it.
_V13A_RULES = [
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),  # ASCII punctuation and symbols
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),  # period or comma unless after a digit
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),  # period or comma unless before a digit
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),  # dash after a digit
]


def tokenize_v13a(line: str) -> list[str]:
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    line = f" {line} "
    for pattern, replacement in _V13A_RULES:
        line = pattern.sub(replacement, line)
    return line.split()


def _ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


@dataclass(frozen=True)
class BleuScore:
    score: float  # in [0, 1]
    precisions: tuple[float, ...]
    brevity_penalty: float
    hypothesis_length: int
    reference_length: int


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str], max_order: int = 4) -> BleuScore:
    """Corpus BLEU with one reference per segment, sacreBLEU's defaults (13a, exp smoothing)."""
    _same_length(references, hypotheses)
    correct = [0] * max_order
    total = [0] * max_order
    hyp_len = ref_len = 0
    for hypothesis, reference in zip(hypotheses, references, strict=True):
        hyp_tokens = tokenize_v13a(hypothesis.rstrip())
        ref_tokens = tokenize_v13a(reference.rstrip())
        hyp_len += len(hyp_tokens)
        ref_len += len(ref_tokens)
        for n in range(1, max_order + 1):
            hyp_counts = _ngrams(hyp_tokens, n)
            ref_counts = _ngrams(ref_tokens, n)
            correct[n - 1] += sum(min(count, ref_counts[gram]) for gram, count in hyp_counts.items())
            total[n - 1] += max(len(hyp_tokens) - n + 1, 0)
    penalty = 1.0 if hyp_len >= ref_len else (math.exp(1 - ref_len / hyp_len) if hyp_len > 0 else 0.0)
    precisions = _smoothed_precisions(correct, total)
    if not any(correct) or min(precisions) == 0.0:
        return BleuScore(0.0, tuple(precisions), penalty, hyp_len, ref_len)
    score = penalty * math.exp(sum(math.log(p) for p in precisions) / max_order)
    return BleuScore(score, tuple(precisions), penalty, hyp_len, ref_len)


def _smoothed_precisions(correct: list[int], total: list[int]) -> list[float]:
    """NIST `exp` smoothing: the k-th order with no match counts as 1 / (2^k · total)."""
    precisions = [0.0] * len(correct)
    factor = 1.0
    for n, (hits, count) in enumerate(zip(correct, total, strict=True)):
        if count == 0:
            break  # the hypotheses are shorter than n tokens: higher orders stay 0 and BLEU is 0
        if hits == 0:
            factor *= 2
            precisions[n] = 1.0 / (factor * count)
        else:
            precisions[n] = hits / count
    return precisions


def corpus_chrf(
    hypotheses: Sequence[str], references: Sequence[str], char_order: int = 6, beta: float = 2.0
) -> float:
    """chrF (Popović 2015) in [0, 1]: character n-gram F-beta over the corpus, whitespace removed.

    Precision and recall are averaged over the n-gram orders that both sides have, then combined.
    """
    _same_length(references, hypotheses)
    stats = np.zeros((char_order, 3), dtype=np.int64)  # per order: hypothesis, reference, matching
    for hypothesis, reference in zip(hypotheses, references, strict=True):
        hyp = "".join(hypothesis.split())
        ref = "".join(reference.split())
        for n in range(1, char_order + 1):
            hyp_counts = Counter(hyp[i : i + n] for i in range(len(hyp) - n + 1))
            ref_counts = Counter(ref[i : i + n] for i in range(len(ref) - n + 1))
            # A segment whose reference is too short for order n does not count its hypothesis
            # n-grams either (sacreBLEU's rule), so short references do not punish precision.
            stats[n - 1] += (
                sum(hyp_counts.values()) if ref_counts else 0,
                sum(ref_counts.values()),
                sum((hyp_counts & ref_counts).values()),
            )
    used = [(m / h, m / r) for h, r, m in stats.tolist() if h > 0 and r > 0]
    if not used:
        return 0.0
    precision = sum(p for p, _ in used) / len(used)
    recall = sum(r for _, r in used) / len(used)
    factor = beta**2
    if precision + recall == 0:
        return 0.0
    return (1 + factor) * precision * recall / (factor * precision + recall)
