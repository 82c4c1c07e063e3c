"""bitsandbytes checkpoints (LLM.int8, NF4, FP4 with double quant), quantized here on CPU and graded.

The test quantizes a tiny random-init BERT classifier with transformers' BitsAndBytesConfig on
CPU and saves it with save_pretrained, as a student would (int8 weights + SCB; uint8-packed 4-bit
weights + absmax / quant_map / quant_state). Then:
- config.json's quantization_config is read as the method, bits and type it says, and a config
  transformers would misread is refused (A015);
- validation accepts it on this machine and, given a machine without bitsandbytes (the capability
  passed in, not a patched import), warns that it is not measurable there (A021);
- the size report's packed bits per weight and bytes are what the test adds up from the tensors;
- `measure_submission` (real zygote children) loads each through transformers' own quantizer, and
  its quality figures equal the ones the test computes by loading the same checkpoint itself.

CI installs bitsandbytes (the `test` extra); test_quantized_checkpoints.py's
`test_ci_installs_the_quant_runtimes` fails CI if it is missing, so nothing here skips silently.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from harness_support import (
    SPECIALS,
    TEXTS,
    WORDS,
    bert_inputs,
    course,
    team_dir,
    validated,
    write_reviews,
    write_tokenizer,
)

from grader.findings import Location, Severity
from grader.harness.backends.quantized import QuantizationInfo, missing_packages
from grader.harness.environment import ThreadPlan
from grader.harness.measure import measure_submission
from grader.harness.models import MeasurementRun, Status
from grader.harness.runner import Runner
from grader.harness.size import analyze_size
from grader.quantization import bitsandbytes_problem, detect_quantization
from grader.validate.contents import bitsandbytes_findings, content_findings

needs_bitsandbytes = pytest.mark.skipif(
    bool(missing_packages(QuantizationInfo(method="bitsandbytes"))),
    reason="bitsandbytes and accelerate (the `quant` extra) are not installed here",
)

# What each folder's BitsAndBytesConfig says; the compute dtype stays fp32 (the checkpoint's).
CONFIGS: dict[str, dict[str, Any]] = {
    "int8": {"load_in_8bit": True},
    "nf4": {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_compute_dtype": "float32"},
    "fp4-dq": {
        "load_in_4bit": True,
        "bnb_4bit_quant_type": "fp4",
        "bnb_4bit_use_double_quant": True,
        "bnb_4bit_compute_dtype": "float32",
    },
}
DESCRIBED = {
    "int8": "bitsandbytes 8-bit LLM.int8",
    "nf4": "bitsandbytes 4-bit NF4, compute float32",
    "fp4-dq": "bitsandbytes 4-bit FP4, double quant, compute float32",
}
# every Linear: 6 per encoder layer, the pooler and the classifier head
LAYERS = {"int8": "14 × Linear8bitLt (bitsandbytes)", "nf4": "14 × Linear4bit (bitsandbytes)"}
LAYERS["fp4-dq"] = LAYERS["nf4"]


def save_dense(folder: Path) -> None:
    """A random BERT classifier whose predictions depend on the text (large random weights)."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(5)
    config = BertConfig(
        vocab_size=len(SPECIALS) + len(WORDS),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=64,
        initializer_range=0.5,
        num_labels=2,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
    )
    BertForSequenceClassification(config).eval().save_pretrained(folder)
    write_tokenizer(folder)


def quantize(dense: Path, folder: Path, settings: dict[str, Any]) -> None:
    """What a student does: load with BitsAndBytesConfig on CPU, save_pretrained."""
    from transformers import BertForSequenceClassification, BitsAndBytesConfig

    model = BertForSequenceClassification.from_pretrained(
        str(dense), quantization_config=BitsAndBytesConfig(**settings), device_map={"": "cpu"}
    )
    model.save_pretrained(folder)
    write_tokenizer(folder)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if missing_packages(QuantizationInfo(method="bitsandbytes")):
        pytest.skip("bitsandbytes and accelerate (the `quant` extra) are not installed here")
    root = tmp_path_factory.mktemp("repo")
    write_reviews(root)
    hw = team_dir(root)
    save_dense(hw / "dense")
    for name, settings in CONFIGS.items():
        quantize(hw / "dense", hw / name, settings)
    return root


def folder(repo: Path, name: str) -> Path:
    return team_dir(repo) / name


def tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


# --- config.json ---------------------------------------------------------------------------------


def write_config(path: Path, quant: dict[str, Any]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    config = {"model_type": "bert", "quantization_config": {"quant_method": "bitsandbytes", **quant}}
    (path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return path


def test_the_config_says_method_bits_and_type(tmp_path: Path) -> None:
    for name, settings in CONFIGS.items():
        info = detect_quantization(write_config(tmp_path / name, settings))
        assert info is not None and info.supported
        assert info.describe() == DESCRIBED[name]
        assert info.bits == (8 if name == "int8" else 4)
    fp4 = detect_quantization(tmp_path / "fp4-dq")
    assert fp4 is not None and (fp4.quant_type, fp4.double_quant) == ("fp4", True)


@pytest.mark.parametrize(
    ("quant", "words"),
    [
        ({"load_in_8bit": True, "load_in_4bit": True}, "sets both of"),
        ({}, "sets neither of"),  # transformers would read it as 8-bit, whatever the weights are
        ({"load_in_4bit": True, "bnb_4bit_quant_type": "int3"}, "'int3'"),
    ],
    ids=["both", "neither", "bad-type"],
)
def test_a_config_transformers_would_misread_is_refused(tmp_path: Path, quant: dict, words: str) -> None:
    path = write_config(tmp_path, quant)
    with pytest.raises(ValueError, match=words):
        detect_quantization(path)
    files = {"config.json": (path / "config.json").stat().st_size}
    findings = content_findings(path, files, "safetensors", Location(file="submission.yaml"), set())
    assert [(f.code, f.is_error) for f in findings] == [("A015", True)]
    assert words in findings[0].message


# --- validation: measurable here, or said why not ------------------------------------------------


@needs_bitsandbytes
def test_validation_accepts_it_where_bitsandbytes_runs(repo: Path) -> None:
    for name in CONFIGS:
        path = folder(repo, name)
        files = {p.name: p.stat().st_size for p in path.iterdir()}
        findings = content_findings(path, files, "safetensors", Location(file="submission.yaml"), set())
        assert findings == [], [f.message for f in findings]


def test_a_machine_without_bitsandbytes_is_told_before_measuring(tmp_path: Path) -> None:
    info = detect_quantization(write_config(tmp_path, CONFIGS["nf4"]))
    assert info is not None
    where = Location(file="submissions/team/hw-2/submission.yaml", line=7, field="models[0].artifact.path")
    (missing,) = bitsandbytes_findings(info, where, version=None)
    assert missing.code == "A021" and missing.severity is Severity.WARNING
    assert missing.location == where
    assert "not measurable here" in missing.message and "not installed" in missing.message
    assert "bitsandbytes 4-bit NF4" in missing.found and "[quant]" in missing.hint
    (old,) = bitsandbytes_findings(info, where, version="0.45.5")
    assert "0.45.5 is older than 0.46.1" in old.message
    assert bitsandbytes_findings(info, where, version="0.46.1") == []
    assert bitsandbytes_problem(info, "0.50.2") is None


# --- size: the packed bytes, counted from the tensors ----------------------------------------------


@needs_bitsandbytes
@pytest.mark.parametrize("name", ["nf4", "fp4-dq"])
def test_size_of_4bit_weights_and_their_side_tensors(repo: Path, name: str) -> None:
    dense = tensors(folder(repo, "dense"))
    packed = tensors(folder(repo, name))
    # A packed weight is the uint8 `<layer>.weight` with a quant_state beside it; its side tensors
    # (absmax, quant_map, nested_*, quant_state) are every tensor named `<layer>.weight.*`.
    weights = [k for k in packed if any(s.startswith(f"{k}.quant_state.") for s in packed)]
    assert len(weights) == 14 and all(packed[k].dtype == torch.uint8 for k in weights)
    logical = sum(dense[k].numel() for k in weights)
    side = [s for s in packed if any(s.startswith(f"{k}.") for k in weights)]
    packed_bytes = sum(packed[k].numel() for k in weights)
    side_bytes = sum(packed[s].numel() * packed[s].element_size() for s in side)
    assert packed_bytes * 2 == logical  # two 4-bit values per byte

    report = analyze_size(folder(repo, name), "safetensors")
    label = f"{'NF4' if name == 'nf4' else 'FP4'} (packed in U8)"
    assert (report.dtypes[label].params, report.dtypes[label].bytes) == (logical, packed_bytes)
    assert report.params == sum(t.numel() for t in dense.values())  # the same weights, packed
    assert report.packed_bits_per_weight == pytest.approx((packed_bytes + side_bytes) * 8 / logical)
    assert report.packed_bits_per_weight > 4  # scales cost bits (much, in layers this small)
    weights_bytes = (folder(repo, name) / "model.safetensors").stat().st_size
    assert report.effective_bits_per_weight == pytest.approx(weights_bytes * 8 / report.params)
    assert report.quantization == ["bitsandbytes"]


@needs_bitsandbytes
def test_size_of_int8_weights_and_their_row_scales(repo: Path) -> None:
    dense = tensors(folder(repo, "dense"))
    int8 = tensors(folder(repo, "int8"))
    weights = [k for k, t in int8.items() if t.dtype == torch.int8]
    assert len(weights) == 14 and all(k.removesuffix(".weight") + ".SCB" in int8 for k in weights)
    meta = [k for k in int8 if k.endswith((".SCB", ".weight_format"))]
    report = analyze_size(folder(repo, "int8"), "safetensors")
    assert report.dtypes["I8"].params == sum(int8[k].numel() for k in weights)
    assert report.dtypes["I8"].bytes == sum(int8[k].numel() for k in weights)
    meta_bytes = sum(int8[k].numel() * int8[k].element_size() for k in meta)
    assert sum(s.bytes for d, s in report.dtypes.items() if "metadata" in d) == meta_bytes
    assert report.params == sum(t.numel() for t in dense.values())
    assert report.quantization == ["bitsandbytes"]


# --- measured through the harness --------------------------------------------------------------------

# Measured in real children: NF4, the common choice and the one with the CPU-layout quirk. Each
# child imports bitsandbytes (2-5 s: it pulls in torch._dynamo), so LLM.int8 and FP4 with double
# quant are loaded in this process through the same backend instead.
MEASURED = ("nf4",)


@pytest.fixture(scope="module")
def run(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeasurementRun]:
    settings = course()
    plan = ThreadPlan.from_course(settings.runner.threads)
    entries = [(name, {"method": "quantization"}) for name in MEASURED]
    with Runner(tmp_path_factory.mktemp("work"), plan.env()) as runner:
        submission = validated(repo, "text-classification", entries)
        yield measure_submission(submission, settings, repo, cache_dir=repo / ".cache", runner=runner)


def load_here(path: Path) -> Any:
    """The checkpoint loaded by transformers as a student would, ready for inference on CPU."""
    import bitsandbytes as bnb
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        str(path), device_map={"": "cpu"}, dtype="auto", use_safetensors=True
    ).eval()
    # On an AVX512-BF16 CPU bitsandbytes repacks 4-bit weights for a kernel that needs
    # out_features % 32 == 0; the 2-class head stays on its PyTorch path (as the grader does).
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit) and module.out_features % 32:
            module.support_avx512bf16_for_cpu = False
    return model


def reference_quality(path: Path) -> dict[str, float]:
    """Accuracy, macro F1 and MCC of the checkpoint loaded here, one review at a time."""
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef
    from transformers import PreTrainedTokenizerFast

    model = load_here(path)
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(path / "tokenizer.json"), pad_token="[PAD]")
    predicted = []
    for text, _ in TEXTS:
        encoded = tokenizer(text, padding="max_length", truncation=True, max_length=16, return_tensors="pt")
        with torch.inference_mode():
            predicted.append(int(model(**encoded).logits.argmax(-1)))
    truth = [0 if label == "negative" else 1 for _, label in TEXTS]
    assert len(set(predicted)) == 2, predicted  # the figures below can tell one model from another
    return {
        "accuracy": accuracy_score(truth, predicted),
        "macro_f1": f1_score(truth, predicted, average="macro", labels=[0, 1]),
        "mcc": matthews_corrcoef(truth, predicted),
    }


@needs_bitsandbytes
@pytest.mark.slow
@pytest.mark.parametrize("name", MEASURED)
def test_measured_through_transformers_quantizer(run: MeasurementRun, repo: Path, name: str) -> None:
    model = next(m for m in run.models if m.name == f"m{MEASURED.index(name)}")
    assert model.status is Status.OK, (model.reason, [(p.phase, p.reason) for p in model.phases])
    cpu = model.devices["cpu"]
    assert cpu.status is Status.OK and cpu.load is not None
    assert f"{DESCRIBED[name]}; runs {LAYERS[name]}" in cpu.load.notes
    # latency and memory really came, from children that ran the packed layers
    assert cpu.latency is not None and cpu.latency.median is not None and cpu.latency.median.estimate > 0
    assert cpu.memory is not None and cpu.memory.peak_above_interpreter_bytes > 0
    # the bytes the model holds as it runs: packed weights and their scales, below the dense fp32
    dense_bytes = sum(t.numel() * 4 for t in tensors(folder(repo, "dense")).values())
    assert cpu.load.as_run_bytes is not None and cpu.load.as_run_bytes < dense_bytes
    assert model.quality is not None
    reference = reference_quality(folder(repo, name))
    assert model.quality.metrics == pytest.approx(reference, abs=1e-12), reference
    assert model.size is not None and model.size.quantization == ["bitsandbytes"]


@needs_bitsandbytes
@pytest.mark.parametrize("name", ["int8", "fp4-dq"])
def test_the_backend_runs_it_as_transformers_runs_it(repo: Path, name: str) -> None:
    from grader.harness.backends.base import LoadSpec
    from grader.harness.backends.transformers import TransformersBackend

    path = folder(repo, name)
    spec = LoadSpec(path, "safetensors", task="text-classification")
    with TransformersBackend(spec) as backend:
        info = backend.load()
        assert f"{DESCRIBED[name]}; runs {LAYERS[name]}" in info.notes
        inputs = bert_inputs()
        logits = backend.to_numpy(backend.run(backend.prepare(inputs)))["logits"]
    with torch.inference_mode():
        want = load_here(path)(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits.numpy()
    assert logits.shape == want.shape == (1, 2)
    assert abs(logits - want).max() < 1e-6
