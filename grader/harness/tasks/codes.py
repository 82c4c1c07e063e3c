"""Finding codes of the eval data (E, grader.harness.data) and of the quality tasks (Q,
grader.harness.tasks): a dataset the course describes but the grader cannot load, and a model
folder or model output that does not fit its task."""

from __future__ import annotations

from grader.codes import CodeDoc

CODES: list[CodeDoc] = [
    # --- E: eval data -----------------------------------------------------------------------------
    CodeDoc(
        "E001",
        "Unknown eval dataset",
        "tasks:\n  text-classification:\n    dataset: sentiment-rus   # not under datasets:",
        "Use an id defined under `datasets:` in course.yaml, or define it there.",
    ),
    CodeDoc(
        "E002",
        "Eval data file or folder not found",
        "datasets:\n  reviews:\n    source: {path: data/reviws.jsonl}",
        "Fix the path (relative to the course repository) or commit the file; a folder of images needs "
        "labels.csv, labels.jsonl or labels.tsv naming each file.",
    ),
    CodeDoc(
        "E003",
        "Eval data does not match its pinned sha256",
        "source: {path: data/reviews.jsonl, sha256: 9f86d0...}   # the file changed since",
        "If the change is intended, write the new digest: `grader eval-data sha256 data/reviews.jsonl`. "
        "Built-in files are pinned by grader/data/SHA256SUMS: reinstall the grader.",
    ),
    CodeDoc(
        "E004",
        "Eval data file cannot be parsed",
        '{"text": "good", "label": }   # line 17 of a .jsonl file',
        "Fix the line named: one JSON object per line for .jsonl, a header row for .csv, "
        "numeric or string arrays (no Python objects) for .npz, UTF-8 text everywhere.",
    ),
    CodeDoc(
        "E005",
        "A field the task needs has no column",
        'datasets:\n  reviews:\n    source: {path: reviews.jsonl}   # items have "body", not "text"',
        "Map the field to the file's column: `columns: {text: body}`.",
    ),
    CodeDoc(
        "E006",
        "An item's value does not fit its field",
        'labels: [negative, positive]\n# an item: {"text": "ok", "label": "neutral"}',
        "Add the label to `labels:` (or write labels as 0-based indices into it); check that `columns:` "
        "maps text to a text column and image to image files or arrays.",
    ),
    CodeDoc(
        "E007",
        "Hugging Face dataset not in the runner's cache, or no files for the split",
        "source: {hf: someone/reviews, revision: 0123...4567, split: validation}",
        "Pre-fetch it on the runner: `hf download someone/reviews --repo-type dataset --revision <sha>`; "
        "set `split:` (and `config:`) to match the dataset's file names.",
    ),
    CodeDoc(
        "E008",
        "Unsupported eval data format, or its reader is not installed",
        "source: {path: data/reviews.xlsx}",
        "Use .jsonl, .json, .csv, .tsv, .parquet, .txt, .npz or an image folder (or set `format:`); "
        "Parquet needs pyarrow: pip install 'compression-grader[data]'.",
    ),
    CodeDoc(
        "E009",
        "Unknown built-in dataset",
        "source: {builtin: digits}",
        "Use a name the grader ships (grader/data/README.md lists them): digits-test, sentiment-ru/-en, "
        "ner-ru/-en, lm-ru/-en, translation-en-ru, asr-ru/-en, shapes-test.",
    ),
    CodeDoc(
        "E010",
        "Eval dataset is empty",
        "data/reviews.jsonl holds only blank lines",
        "Put the items in the file.",
    ),
    CodeDoc(
        "E011",
        "Eval dataset names an unknown task",
        "datasets:\n  reviews:\n    task: text-clasification",
        "Use a task name the grader knows (the message lists them).",
    ),
    # --- Q: quality tasks -------------------------------------------------------------------------
    CodeDoc(
        "Q001",
        "Model folder has no usable tokenizer.json",
        "model folder: config.json, model.safetensors, vocab.txt   # a slow tokenizer only",
        "Save the fast tokenizer with the model: AutoTokenizer.from_pretrained(...).save_pretrained(folder).",
    ),
    CodeDoc(
        "Q002",
        "Model labels do not match the eval dataset's labels",
        'config.json: "id2label": {"0": "bad", "1": "good"}; dataset labels: [negative, positive]',
        "Name the classes in config.json id2label (and label2id) as the dataset does, in the order the "
        "classifier head predicts them; generic LABEL_0, LABEL_1 names are matched by position.",
    ),
    CodeDoc(
        "Q003",
        "Model folder lacks, or has an unreadable, configuration file",
        "an image model without preprocessor_config.json",
        "Save the processor with the model (save_pretrained writes preprocessor_config.json); give "
        "image_mean and image_std one value per input channel.",
    ),
    CodeDoc(
        "Q004",
        "Model does not take the inputs the task feeds",
        "an ONNX export whose inputs are named input.1 and onnx::Gather_1",
        "Export with the standard names: input_ids, attention_mask (token_type_ids) or pixel_values.",
    ),
    CodeDoc(
        "Q005",
        "Model output is not what the task scores",
        "logits of shape [1, 2] while config.json id2label has 3 classes",
        "Return `logits` of shape [batch, classes] (an ONNX model with one output may name it anything); "
        "keep id2label in step with the head. A detector's first output is a YOLO layout: "
        "[batch, 4 + C, N], [batch, N, 5 + C] or [batch, N, 6].",
    ),
    CodeDoc(
        "Q006",
        "Eval images cannot be prepared for the model",
        'preprocessor_config.json: "do_resize": false, eval images 28×28, model input 8×8',
        "Set do_resize and size in preprocessor_config.json to the model's input size; images must be "
        "1- or 3-channel (alpha is dropped).",
    ),
    CodeDoc(
        "Q007",
        "Eval data too short for the task",
        "a causal-lm dataset whose text is one word",
        "Perplexity needs at least two tokens of text; give the dataset real text.",
    ),
    CodeDoc(
        "Q008",
        "Course's prompt template has no place for the question",
        'tasks:\n  causal-lm:\n    params: {prompts: qa-ru, prompt_template: "Answer briefly:"}',
        'Write `{question}` where the question goes: `prompt_template: "Q: {question}\\nA:"`.',
    ),
]
