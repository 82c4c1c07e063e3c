"""Text and image classification through real models and real backends, with expectations
computed independently (plain word counts, scikit-learn, transformers' own pipeline pieces)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as sk
from sklearn.neighbors import NearestCentroid
from test_tasks_support import (
    WORD,
    ModuleBackend,
    bag_of_words_module,
    make_course,
    nearest_centroid_module,
    save_config,
    save_preprocessor,
    save_tiny_bert,
    save_tiny_vit,
    save_word_tokenizer,
    words_of,
)

from grader.harness.backends.base import LoadSpec
from grader.harness.data import digits_split, load_eval_data
from grader.harness.tasks import TASKS
from grader.harness.tasks.base import EvalData, TaskError
from grader.harness.tasks.image_classification import ImageClassification
from grader.harness.tasks.text_classification import TextClassification

REPO = Path(__file__).resolve().parent.parent
COURSE = make_course(
    {
        "sentiment-en": {"task": "text-classification", "source": {"builtin": "sentiment-en"}},
        "sentiment-ru": {"task": "text-classification", "source": {"builtin": "sentiment-ru"}},
        "digits-test": {"task": "image-classification", "source": {"builtin": "digits-test"}},
    }
)
POSITIVE = {"great", "comfortable", "reliable", "well", "made", "sturdy", "light", "quiet", "beautiful"}
NEGATIVE = {"awful", "uncomfortable", "flimsy", "defective", "noisy", "heavy", "bad", "fragile"}
SENTIMENT = ["negative", "neutral", "positive"]


@pytest.fixture(scope="module")
def sentiment_en() -> EvalData:
    return load_eval_data("sentiment-en", COURSE, REPO)


@pytest.fixture(scope="module")
def digits() -> EvalData:
    return load_eval_data("digits-test", COURSE, REPO)


def expected_bag_of_words(text: str) -> str:
    words = WORD.findall(text.lower())
    logits = [sum(w in NEGATIVE for w in words), 0.5, sum(w in POSITIVE for w in words)]
    return SENTIMENT[int(np.argmax(logits))]


def text_scores(truth: list[str], predicted: list[str]) -> dict[str, float]:
    return {
        "accuracy": sk.accuracy_score(truth, predicted),
        "macro_f1": sk.f1_score(truth, predicted, average="macro", zero_division=0),
        "mcc": sk.matthews_corrcoef(truth, predicted),
    }


def bag_of_words_folder(root: Path, data: EvalData, id2label: dict[int, str]) -> tuple[Path, dict[str, int]]:
    folder = root / "bow"
    vocab = save_word_tokenizer(folder, words_of([item["text"] for item in data.items]))
    save_config(folder, id2label={str(k): v for k, v in id2label.items()})
    return folder, vocab


def test_registry_names_the_classes_and_metrics() -> None:
    text, image = TASKS.load("text-classification"), TASKS.load("image-classification")
    assert text is TextClassification and image is ImageClassification
    assert set(text.metrics) == {"accuracy", "macro_f1", "mcc"} and text.primary == "accuracy"
    assert set(image.metrics) == {"accuracy", "macro_precision", "macro_recall", "macro_f1"}
    assert all(info.direction == "higher" for info in (*text.metrics.values(), *image.metrics.values()))
    assert text.metrics["mcc"].bounded is False  # MCC lies in [-1, 1]


# --- text: a model whose logits are known --------------------------------------------------------


def test_bag_of_words_scores_exactly_as_counted(tmp_path: Path, sentiment_en: EvalData) -> None:
    folder, vocab = bag_of_words_folder(tmp_path, sentiment_en, {0: "NEGATIVE", 1: "Neutral", 2: "positive"})
    task = TextClassification(folder)
    backend = ModuleBackend(
        LoadSpec(folder, "module"),
        bag_of_words_module(vocab, POSITIVE, NEGATIVE),
        ["input_ids", "attention_mask"],
    )
    with backend:
        truth, predicted = task.predict(backend, sentiment_en, batch_size=7)
        scores = task.evaluate(backend, sentiment_en, batch_size=7)
    expected = [expected_bag_of_words(item["text"]) for item in sentiment_en.items]
    assert [SENTIMENT[i] for i in predicted] == expected
    assert [SENTIMENT[i] for i in truth] == [item["label"] for item in sentiment_en.items]
    want = text_scores([item["label"] for item in sentiment_en.items], expected)
    assert scores == pytest.approx(want)
    assert 0.3 < scores["accuracy"] < 0.95  # the negations fool a bag of words: a real, non-trivial score
    # every batch is full (the last one is filled up) and padded to max_length
    assert {call["input_ids"] for call in backend.calls} == {(7, 128)}
    assert set(backend.calls[0]) == {"input_ids", "attention_mask"}


def test_label_order_in_config_is_followed(tmp_path: Path, sentiment_en: EvalData) -> None:
    """The head predicts [positive, negative, neutral]: config.json says so, and the scores match."""
    folder, vocab = bag_of_words_folder(tmp_path, sentiment_en, {0: "positive", 1: "negative", 2: "neutral"})
    module = bag_of_words_module(vocab, POSITIVE, NEGATIVE)
    import torch

    class Permuted(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids, attention_mask)[:, [2, 0, 1]]

    with ModuleBackend(LoadSpec(folder, "module"), Permuted(), ["input_ids", "attention_mask"]) as backend:
        scores = TextClassification(folder).evaluate(backend, sentiment_en, batch_size=16)
    expected = [expected_bag_of_words(item["text"]) for item in sentiment_en.items]
    assert scores == pytest.approx(text_scores([i["label"] for i in sentiment_en.items], expected))


def test_generic_labels_match_by_position_and_named_mismatch_is_an_error(
    tmp_path: Path, sentiment_en: EvalData
) -> None:
    folder, vocab = bag_of_words_folder(tmp_path, sentiment_en, {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    module = bag_of_words_module(vocab, POSITIVE, NEGATIVE)
    with ModuleBackend(LoadSpec(folder, "module"), module, ["input_ids", "attention_mask"]) as backend:
        generic = TextClassification(folder).evaluate(backend, sentiment_en, batch_size=32)
    expected = [expected_bag_of_words(item["text"]) for item in sentiment_en.items]
    assert generic["accuracy"] == pytest.approx(
        sk.accuracy_score([i["label"] for i in sentiment_en.items], expected)
    )

    save_config(folder, id2label={"0": "bad", "1": "meh", "2": "good"})
    backend = ModuleBackend(LoadSpec(folder, "module"), module, ["input_ids", "attention_mask"])
    with backend, pytest.raises(TaskError) as caught:
        TextClassification(folder).evaluate(backend, sentiment_en, batch_size=32)
    finding = caught.value.findings[0]
    assert finding.code == "Q002" and finding.location.field == "id2label"
    assert "negative" in finding.expected and "bad" in finding.found and "id2label" in finding.hint


def test_logits_width_must_match_the_labels(tmp_path: Path, sentiment_en: EvalData) -> None:
    folder, vocab = bag_of_words_folder(
        tmp_path, sentiment_en, {0: "negative", 1: "neutral", 2: "positive", 3: "x"}
    )
    module = bag_of_words_module(vocab, POSITIVE, NEGATIVE)  # 3 logits, config says 4 classes
    backend = ModuleBackend(LoadSpec(folder, "module"), module, ["input_ids", "attention_mask"])
    with backend, pytest.raises(TaskError, match=r"scores 3 classes, but config.json id2label has 4"):
        TextClassification(folder).evaluate(backend, sentiment_en, batch_size=8)


def test_missing_tokenizer_is_a_clear_error(tmp_path: Path) -> None:
    save_config(tmp_path, id2label={"0": "negative"})
    with pytest.raises(TaskError) as caught:
        TextClassification(tmp_path).latency_inputs(1, ["input_ids"])
    finding = caught.value.findings[0]
    assert finding.code == "Q001" and finding.location.file.endswith("tokenizer.json")
    assert "config.json" in finding.found and "save_pretrained" in finding.hint


# --- text: latency inputs ----------------------------------------------------------------------------


def test_text_latency_inputs_are_fixed_length_real_tokens(tmp_path: Path) -> None:
    vocab = save_word_tokenizer(tmp_path, words_of(["доставка пришла на день раньше обещанного"]))
    task = TextClassification(tmp_path)
    inputs = task.latency_inputs(4, ["input_ids", "attention_mask", "token_type_ids"])
    assert set(inputs) == {"input_ids", "attention_mask", "token_type_ids"}
    assert all(a.shape == (4, 128) and a.dtype == np.int64 for a in inputs.values())
    assert (inputs["attention_mask"] == 1).all()  # filled with the sentence, never padded
    assert (inputs["input_ids"] != vocab["[PAD]"]).all()
    assert inputs["input_ids"][0, 0] == vocab["[CLS]"] and inputs["input_ids"][0, -1] == vocab["[SEP]"]
    assert (inputs["input_ids"] == inputs["input_ids"][0]).all()  # every row the same
    again = TextClassification(tmp_path).latency_inputs(4, ["input_ids", "attention_mask", "token_type_ids"])
    assert all((again[k] == inputs[k]).all() for k in inputs)
    only_ids = TextClassification(tmp_path, {"max_length": 32}).latency_inputs(2, ["input_ids"])
    assert set(only_ids) == {"input_ids"} and only_ids["input_ids"].shape == (2, 32)


def test_model_max_length_caps_the_course_length(tmp_path: Path) -> None:
    save_word_tokenizer(tmp_path, ["a"])
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({**config, "model_max_length": 16}))
    inputs = TextClassification(tmp_path).latency_inputs(1, ["input_ids"])
    assert inputs["input_ids"].shape == (1, 16)
    save_config(tmp_path, max_position_embeddings=12)  # the model's position table is shorter still
    assert TextClassification(tmp_path).latency_inputs(1, ["input_ids"])["input_ids"].shape == (1, 12)


def test_model_without_input_ids_is_refused(tmp_path: Path) -> None:
    save_word_tokenizer(tmp_path, ["a"])
    with pytest.raises(TaskError, match="takes no input_ids"):
        TextClassification(tmp_path).latency_inputs(1, ["inputs_embeds"])


def test_text_pairs_get_segment_ids(tmp_path: Path) -> None:
    save_word_tokenizer(tmp_path, ["first", "second", "part"])
    task = TextClassification(tmp_path, {"max_length": 12})
    batch = [{"text": "first part", "text_pair": "second part", "label": "x"}]
    inputs = task.batch_inputs(batch, ["input_ids", "attention_mask", "token_type_ids"])
    # [CLS] first part [SEP] second part [SEP] + 5 pads
    assert inputs["token_type_ids"][0].tolist() == [0, 0, 0, 0, 1, 1, 1] + [0] * 5
    assert inputs["attention_mask"][0].tolist() == [1] * 7 + [0] * 5


def test_pad_token_falls_back_to_tokenizer_vocabulary(tmp_path: Path) -> None:
    vocab = save_word_tokenizer(tmp_path, ["word"], pad_in_config=False)
    inputs = TextClassification(tmp_path, {"max_length": 6}).batch_inputs(
        [{"text": "word", "label": "x"}], ["input_ids", "attention_mask"]
    )
    assert (
        inputs["input_ids"][0].tolist()
        == [vocab["[CLS]"], vocab["word"], vocab["[SEP]"]] + [vocab["[PAD]"]] * 3
    )


# --- text: a real transformers model through the real backend -------------------------------------


def test_tiny_bert_through_the_transformers_backend_matches_transformers_itself(tmp_path: Path) -> None:
    backends = pytest.importorskip("grader.harness.backends.transformers")
    import torch
    from transformers import AutoModelForSequenceClassification, PreTrainedTokenizerFast

    data = load_eval_data("sentiment-ru", COURSE, REPO, limit=60)
    folder = tmp_path / "bert"
    vocab = save_word_tokenizer(folder, words_of([item["text"] for item in data.items]))
    id2label = {0: "positive", 1: "negative", 2: "neutral"}
    save_tiny_bert(folder, len(vocab), id2label, seed=3)

    # independently: transformers' tokenizer and model, padded to the course's max_length
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"), pad_token="[PAD]")
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    texts = [item["text"] for item in data.items]
    encoded = tokenizer(texts, padding="max_length", truncation=True, max_length=128, return_tensors="pt")
    with torch.inference_mode():
        ids = model(**encoded).logits.argmax(-1).tolist()
    expected = [id2label[i] for i in ids]
    assert len(set(expected)) > 1, "the random model must give varied answers for the check to mean something"

    spec = LoadSpec(folder, "safetensors", task="text-classification")
    with backends.TransformersBackend(spec) as backend:
        task = TextClassification(folder)
        _, predicted = task.predict(backend, data, batch_size=8)
        scores = task.evaluate(backend, data, batch_size=8)
    assert [data.labels[i] for i in predicted] == expected
    assert scores == pytest.approx(text_scores([i["label"] for i in data.items], expected))


# --- images --------------------------------------------------------------------------------------------


def digits_folder(root: Path, channels: int = 1) -> Path:
    folder = root / "digits-model"
    save_config(folder, num_channels=channels, image_size=8, id2label={str(i): str(i) for i in range(10)})
    save_preprocessor(folder, size=8, rescale=1 / 16, mean=[0.5] * channels, std=[0.5] * channels)
    return folder


def centroid_expectation(digits: EvalData) -> tuple[np.ndarray, list[str], dict[str, float]]:
    train_x, train_y, test_x, test_y = digits_split(seed=0)
    assert [item["label"] for item in digits.items] == [str(y) for y in test_y]
    # centroids in the model's input space: (x / 16 - 0.5) / 0.5
    centroids = np.stack([((train_x[train_y == k] / 16 - 0.5) / 0.5).mean(axis=0).ravel() for k in range(10)])
    # the nearest centroid is the same in the raw 0..16 space: the map is the same affine one per pixel
    predicted = (
        NearestCentroid()
        .fit(train_x.reshape(len(train_x), -1), train_y)
        .predict(test_x.reshape(len(test_x), -1))
    )
    truth, guess = [str(y) for y in test_y], [str(p) for p in predicted]
    scores = {
        "accuracy": sk.accuracy_score(truth, guess),
        "macro_precision": sk.precision_score(truth, guess, average="macro", zero_division=0),
        "macro_recall": sk.recall_score(truth, guess, average="macro", zero_division=0),
        "macro_f1": sk.f1_score(truth, guess, average="macro", zero_division=0),
    }
    return centroids, guess, scores


@pytest.mark.filterwarnings("ignore:self.within_class_std_dev_")  # constant border pixels: expected
def test_nearest_centroid_digits_score_exactly(tmp_path: Path, digits: EvalData) -> None:
    centroids, expected, want = centroid_expectation(digits)
    folder = digits_folder(tmp_path)
    task = ImageClassification(folder)
    with ModuleBackend(
        LoadSpec(folder, "module"), nearest_centroid_module(centroids), ["pixel_values"]
    ) as backend:
        _, predicted = task.predict(backend, digits, batch_size=16)
        scores = task.evaluate(backend, digits, batch_size=16)
    assert [digits.labels[i] for i in predicted] == expected
    assert scores == pytest.approx(want)
    assert scores["accuracy"] > 0.85  # nearest centroid on digits: about 0.9
    assert {call["pixel_values"] for call in backend.calls} == {(16, 1, 8, 8)}


@pytest.mark.filterwarnings("ignore:self.within_class_std_dev_")
def test_onnx_model_with_a_fixed_batch_through_onnxruntime(tmp_path: Path, digits: EvalData) -> None:
    """An export with batch fixed at 4 runs every batch (the last is filled up) and scores the same."""
    backends = pytest.importorskip("grader.harness.backends.onnxruntime")
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    centroids, expected, want = centroid_expectation(digits)
    folder = digits_folder(tmp_path)
    weight = numpy_helper.from_array(centroids.astype(np.float32), "W")
    bias = numpy_helper.from_array((-0.5 * (centroids**2).sum(axis=1)).astype(np.float32), "B")
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["pixel_values"], ["flat"]),
            helper.make_node("Gemm", ["flat", "W", "B"], ["logits"], transB=1),
        ],
        "nearest_centroid",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, [4, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [4, 10])],
        initializer=[weight, bias],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), folder / "model.onnx")
    assert len(digits.items) % 4 != 0  # the last batch must be filled up for this test to mean something
    with backends.OnnxRuntimeBackend(LoadSpec(folder, "onnx", task="image-classification")) as backend:
        task = ImageClassification(folder)
        _, predicted = task.predict(backend, digits, batch_size=4)
        scores = task.evaluate(backend, digits, batch_size=4)
    assert [digits.labels[i] for i in predicted] == expected
    assert scores == pytest.approx(want)


def test_tiny_vit_through_the_transformers_backend_matches_a_hand_pipeline(tmp_path: Path) -> None:
    backends = pytest.importorskip("grader.harness.backends.transformers")
    import torch
    from transformers import AutoModelForImageClassification

    data = load_eval_data("digits-test", COURSE, REPO, limit=80)
    folder = tmp_path / "vit"
    save_tiny_vit(folder, {i: str(i) for i in range(10)}, seed=1)
    model = AutoModelForImageClassification.from_pretrained(folder).eval()
    pixels = np.stack([(item["image"] / 16 - 0.5) / 0.5 for item in data.items])[:, None].astype(np.float32)
    with torch.inference_mode():
        expected = [str(i) for i in model(pixel_values=torch.from_numpy(pixels)).logits.argmax(-1).tolist()]
    assert len(set(expected)) > 1

    spec = LoadSpec(folder, "safetensors", task="image-classification")
    with backends.TransformersBackend(spec) as backend:
        _, predicted = ImageClassification(folder).predict(backend, data, batch_size=32)
    assert [data.labels[i] for i in predicted] == expected


def test_image_latency_inputs(tmp_path: Path) -> None:
    folder = digits_folder(tmp_path)
    inputs = ImageClassification(folder).latency_inputs(3, ["pixel_values"])
    pixels = inputs["pixel_values"]
    assert pixels.shape == (3, 1, 8, 8) and pixels.dtype == np.float32
    assert (pixels == pixels[0]).all() and pixels.std() > 0.2  # one varied image, repeated
    assert pixels.min() >= -1.0 and pixels.max() <= 1.0  # the range the model was trained on
    again = ImageClassification(folder).latency_inputs(3, ["pixel_values"])["pixel_values"]
    assert (again == pixels).all()
    assert set(ImageClassification(folder).latency_inputs(1, ["input"])) == {"input"}  # an ONNX export's name


def test_missing_preprocessor_config_is_a_clear_error(tmp_path: Path, digits: EvalData) -> None:
    save_config(tmp_path, num_channels=1, id2label={str(i): str(i) for i in range(10)})
    with pytest.raises(TaskError) as caught:
        ImageClassification(tmp_path).latency_inputs(1, ["pixel_values"])
    finding = caught.value.findings[0]
    assert finding.code == "Q003" and finding.location.file.endswith("preprocessor_config.json")


def test_token_type_ids_only_for_models_with_segment_embeddings(tmp_path: Path) -> None:
    """GPT-2's forward accepts token_type_ids but would add a *word* embedding for them: never send."""
    save_word_tokenizer(tmp_path, ["a", "b"])
    names = ["input_ids", "attention_mask", "token_type_ids"]
    save_config(tmp_path, model_type="gpt2", id2label={"0": "x"})
    assert "token_type_ids" not in TextClassification(tmp_path, {"max_length": 8}).latency_inputs(1, names)
    save_config(tmp_path, model_type="bert", type_vocab_size=2, id2label={"0": "x"})
    assert "token_type_ids" in TextClassification(tmp_path, {"max_length": 8}).latency_inputs(1, names)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    config["model_input_names"] = ["input_ids", "attention_mask"]
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    assert "token_type_ids" not in TextClassification(tmp_path, {"max_length": 8}).latency_inputs(1, names)
