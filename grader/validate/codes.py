"""Finding codes of validation and of the foundation it stands on: Y (YAML), S (schema), U (units),
M (manifest against the course), A (artifacts), P (pull request), C (course), D (stage documents).
"""

from __future__ import annotations

from grader.codes import CodeDoc

CODES: list[CodeDoc] = [
    # --- Y: YAML (grader.yamlio) ---------------------------------------------------------------
    CodeDoc(
        "Y001",
        "YAML syntax error",
        "models:\n  - name: int8\n   format: onnx   # indented one space too few",
        "Fix the line shown (and the one before it): indent with spaces, consistently; quote values "
        "that contain `: ` or start with `*`, `&`, `!`, `%` or `@`.",
    ),
    CodeDoc(
        "Y002",
        "Duplicate key",
        "claims:\n  size: 455 MB\n  size: 120 MB",
        "YAML silently keeps only the last value. Delete one of them, or merge them.",
    ),
    CodeDoc(
        "Y003",
        "File cannot be read, is empty, or is a symbolic link",
        "grader validate submissions/team/hw-2/submision.yaml   # misspelt path",
        "Check the path; save the file as UTF-8 text; commit the file itself, not a link to it; "
        "an empty file has nothing to check.",
    ),
    CodeDoc(
        "Y004",
        "YAML file too large",
        "a 2 MB submission.yaml (notes pasted in, or thousands of generated entries)",
        "A manifest is a few kilobytes: it names files and claims. Keep long notes in a README beside "
        "it and publish models with `path:`, `hf:` or `url:`.",
    ),
    CodeDoc(
        "Y005",
        "YAML nested too deeply",
        "claims: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        "A manifest needs a few levels (models → claims → quality); remove the extra brackets or "
        "indentation.",
    ),
    CodeDoc(
        "Y006",
        "YAML aliases expand too far, or an alias is inside its own anchor",
        'a: &a ["lol", "lol", "lol"]\nb: &b [*a, *a, *a]\nc: &c [*b, *b, *b]   # ... nine levels',
        "Aliases (`*name`) copy the anchored value (`&name`) wherever they appear; write the values out, "
        "or use an alias for a small shared mapping only.",
    ),
    # --- S: schema (grader.schema_errors) -------------------------------------------------------
    CodeDoc(
        "S001",
        "Required field missing",
        "models:\n  - name: int8\n    format: onnx        # no `artifact:`",
        "Add the field. submissions/README.md and submissions/schema.json list the required fields.",
    ),
    CodeDoc(
        "S002",
        "Unknown field",
        "models:\n  - name: int8\n    claim:             # should be `claims:`\n      size: 120 MB",
        "Use the name in the hint (`did you mean ...`), or remove the field.",
    ),
    CodeDoc(
        "S003",
        "Value is not one of the allowed values",
        "format: onxx",
        "Use one of the values listed under `expected` (the hint suggests the closest one).",
    ),
    CodeDoc(
        "S004",
        "Wrong type",
        "homework: [2]\nclaims:\n  size: [455, MB]",
        "Write the kind of value named under `expected`: a number, text, a mapping of `key: value` "
        "lines, or a list of `- ` lines.",
    ),
    CodeDoc(
        "S005",
        "Value out of the allowed form or range",
        "artifact:\n  hf: team/model\n  revision: main        # must be a 40-hex commit id",
        "Write the value in the documented form: a team name in lower case, a 40-hex commit, "
        "a 64-hex sha256, an https URL, at least one model.",
    ),
    CodeDoc(
        "S006",
        "Invalid combination of fields",
        "artifact:\n  path: model/\n  hf: team/model        # give exactly one of path, hf, url",
        "Read the message: it says which fields go together (`hf` needs `revision`, `url` needs "
        "`sha256`, `transform` needs a safetensors checkpoint).",
    ),
    # --- U: units (grader.units) -------------------------------------------------------------------
    CodeDoc(
        "U001",
        "Not a number",
        "latency_cpu: fast",
        "Start the value with the number, then the unit: `19.6 ms`.",
    ),
    CodeDoc(
        "U002",
        "Ambiguous size unit (bits or bytes?)",
        "size: 120 Mb",
        "`Mb`, `Gb`, `Kb` are bits by SI and bytes by habit; the grader never guesses. Write `MB` "
        "(megabytes) or `MiB` (mebibytes).",
    ),
    CodeDoc(
        "U003",
        "Unknown unit",
        "size: 120 megs",
        "Use a unit from the examples: sizes `MB GB MiB GiB`, times `ms s µs` (optionally `/text`, "
        "`/token`, or a throughput `texts/s`), ratios `x`, scores `%`.",
    ),
    CodeDoc(
        "U004",
        "Number without a unit",
        "size: 455",
        "Add the unit: `455 MB`. A bare number cannot be checked.",
    ),
    CodeDoc(
        "U005",
        "Ambiguous decimal separator",
        "size: 1,330 MB",
        "Write the number with a dot as the decimal separator and no thousands separator: "
        "`1.33 GB` or `1330 MB`.",
    ),
    CodeDoc(
        "U006",
        "Bare number read as percent (warning)",
        "quality:\n  accuracy: 82.8",
        "The metric lies between 0 and 1, so 82.8 was read as 82.8 %. Write `82.8%` or `0.828`.",
    ),
    CodeDoc(
        "U007",
        "Value out of range",
        "quality:\n  accuracy: 182%\nsize: -5 MB",
        "Sizes, times and ratios are positive; bounded metrics lie between 0 and 1 (0 % and 100 %).",
    ),
    # --- M: the manifest against the course (grader.validate.rules, grader.validate.claims) --------
    CodeDoc(
        "M001",
        "Team not on the course roster",
        "team: ml-masters      # course.yaml says ml_masters",
        "Write your team's name exactly as course.yaml spells it. A new team asks the instructors.",
    ),
    CodeDoc(
        "M002",
        "No such homework",
        "homework: 9",
        "Write the number of an existing homework (the message lists them).",
    ),
    CodeDoc(
        "M003",
        "Method not allowed for this homework",
        "homework: 2\nmodels:\n  - name: student\n    method: distillation",
        "Use the methods the homework is about (listed under `expected`). A model without `method:` "
        "counts as baseline. The `baseline:` entry's method is always baseline.",
    ),
    CodeDoc(
        "M004",
        "Unknown task, or a task the course does not grade",
        "task: text-clasification",
        "Use one of the tasks listed (they are configured under `tasks:` in course.yaml).",
    ),
    CodeDoc(
        "M005",
        "Unknown eval dataset, or one for another task",
        "task: text-classification\neval: digits-test",
        "Remove `eval:` to use the task's default dataset, or name a dataset of the same task.",
    ),
    CodeDoc(
        "M006",
        "Task parameter not allowed, or of the wrong kind",
        "params:\n  max_length: 32",
        "Teams may set only the parameters the course lists in `allowed_overrides`; everyone else is "
        "measured with the course's settings. Remove the parameter.",
    ),
    CodeDoc(
        "M007",
        "Baseline missing",
        "homework: 2\nmodels: [...]          # no baseline:",
        "Add `baseline:` with your uncompressed model: compression and speed-up are measured against it.",
    ),
    CodeDoc(
        "M008",
        "Required metric not claimed (warning)",
        "homework: 2\nclaims:\n  size: 120 MB           # no latency_cpu, ram, quality",
        "The grader measures it anyway. Claim what you measured so that it can be verified. A model "
        "with no `claims:` at all gets this warning too: with nothing to verify, its grade is `incomplete`.",
    ),
    CodeDoc(
        "M009",
        "Two models with the same name",
        "models:\n  - name: int8\n  - name: INT8",
        "Give each model its own name: each is one row of the results table.",
    ),
    CodeDoc(
        "M010",
        "Format that carries code, without permission",
        "format: torchscript",
        "Export to ONNX or save a safetensors checkpoint. If the homework needs TorchScript, an "
        "instructor adds the `allow-torchscript` label to the PR.",
    ),
    CodeDoc(
        "M011",
        "Quality metric the task does not have",
        "task: text-classification\nquality:\n  f1_macro: 0.81      # the task calls it macro_f1",
        "Use the task's metric names (the message lists them).",
    ),
    CodeDoc(
        "M012",
        "Latency per token for a task that is not measured per token",
        "task: text-classification\nlatency_cpu: 2 ms/token",
        "Give the time of one input at the course's batch size: `19.6 ms` or `0.0196 s/text`.",
    ),
    CodeDoc(
        "M013",
        "Latency per batch at batch size 1 (warning)",
        "latency_cpu: 19.6 ms/batch",
        "With a batch of one input, per batch is per input; write the time without `/batch`.",
    ),
    CodeDoc(
        "M014",
        "Manifest in the wrong place",
        "submissions/ml_masters/hw2/manifest.yaml",
        "Put it at submissions/<team>/hw-<n>/submission.yaml, with <team> and <n> as in the manifest.",
    ),
    CodeDoc(
        "M015",
        "Ratio claim that cannot be checked (warning)",
        "baseline:\n  claims:\n    speedup_cpu: 1.0x",
        "Speed-up and compression are measured against the manifest's baseline: claim them on the "
        "compressed models of a manifest that has a `baseline:`.",
    ),
    CodeDoc(
        "M016",
        "Too many models in one submission",
        "models:\n  - name: int8-0001\n  # ... 10 000 generated entries",
        "Submit the models the homework asks about (course.yaml `runner.limits.max_models` is the cap); "
        "each model is measured in every phase on the GPU runner.",
    ),
    CodeDoc(
        "M017",
        "Format the grader cannot measure yet (warning)",
        "format: torch-export",
        'Only the size of its files is measured; its latency, memory and quality claims read "not '
        'measurable here". Export to ONNX or save a safetensors checkpoint to have them verified.',
    ),
    CodeDoc(
        "M018",
        "Quality metric the course's settings do not measure",
        "task: causal-lm\nquality:\n  bleu: 0.21      # the course's causal-lm names no prompt set",
        "BLEU and chrF of causal-lm are measured on a prompt set that course.yaml names "
        "(`tasks.causal-lm.params.prompts`, e.g. qa-ru). Remove the claim, or set `params: {prompts: "
        "qa-en}` in the manifest where the course allows it.",
    ),
    CodeDoc(
        "M019",
        "`inputs:` mapping the grader cannot use",
        "format: onnx\ninputs: {features: audio_feature}   # the role is audio_features",
        "Map each graph input the grader cannot guess to one of the task's roles (submissions/README.md "
        "lists them); `inputs:` applies to `format: onnx` and `format: openvino` models, and each role "
        "goes to one input.",
    ),
    # --- A: artifacts (grader.validate.artifacts) -----------------------------------------------
    CodeDoc(
        "A001",
        "Artifact path not allowed",
        "artifact:\n  path: ../../other_team/hw-2/model",
        "Write a path relative to the manifest's folder that stays inside your team's folder.",
    ),
    CodeDoc(
        "A002",
        "Artifact path does not exist",
        "artifact:\n  path: modle/",
        "Fix the path (the hint lists what the folder holds) and check that the files are committed.",
    ),
    CodeDoc(
        "A003",
        "Symbolic link (or special file) in the artifact",
        "model/model.safetensors -> /home/me/checkpoints/model.safetensors",
        "Replace each link with the file itself (`cp --dereference`). The grader never follows links.",
    ),
    CodeDoc(
        "A004",
        "Pickle-based file",
        "model/pytorch_model.bin, model/training_args.bin",
        "Loading a pickle can run code. Save with `model.save_pretrained(folder, "
        "safe_serialization=True)` and remove leftovers such as training_args.bin.",
    ),
    CodeDoc(
        "A005",
        "Files do not fit the format",
        "format: safetensors\nartifact:\n  path: model.onnx",
        "safetensors: a folder with config.json and *.safetensors; onnx and tensorrt: an .onnx file "
        "or a folder with one (onnx also Optimum's split encoder-decoder folder, A022); openvino: "
        "model.xml with model.bin beside it; torchscript: one .pt file.",
    ),
    CodeDoc(
        "A006",
        "Prebuilt TensorRT engine",
        "artifact:\n  path: model.engine",
        "Submit the ONNX export with `format: tensorrt`; the runner builds the engine for its own GPU.",
    ),
    CodeDoc(
        "A007",
        "Artifact too large",
        "a 30 GB checkpoint committed in the team folder",
        "Publish it on the Hugging Face Hub and use `hf:` with `revision:`.",
    ),
    CodeDoc(
        "A008",
        "Malformed Hugging Face reference",
        "hf: https://huggingface.co/team/model",
        "Write `hf: owner/name` and, if needed, `subfolder:` as a relative folder.",
    ),
    CodeDoc(
        "A009",
        "URL the grader does not download from",
        "url: https://user:token@10.0.0.5:8443/model.zip",
        "Use a public https URL with a host name, no login and no port (a GitHub release, the Hub).",
    ),
    CodeDoc(
        "A010",
        "Git LFS pointer instead of the file",
        "model.safetensors: version https://git-lfs.github.com/spec/v1 ...",
        "The grader reads the committed files. Publish large files with `hf:` + `revision:` or "
        "`url:` + `sha256:`.",
    ),
    CodeDoc(
        "A011",
        "ONNX operators from a custom domain",
        "a node in domain com.example.customops",
        "The grader never loads custom operator libraries. Export with standard operators.",
    ),
    CodeDoc(
        "A012",
        "ONNX external data missing or outside the model's folder",
        "initializer location: ../weights.data",
        "Export with `save_as_external_data=True` and a relative location, and commit the data file "
        "in the model's folder.",
    ),
    CodeDoc(
        "A013",
        "A JSON file of the checkpoint cannot be used",
        'config.json: {"model_type": "bert",   # cut short; or 200 000 nested [ ]; or bad tokenizer.json',
        "Save the model and its tokenizer again with `save_pretrained(folder)`; do not edit config.json "
        "or tokenizer.json by hand (JSON files are read up to 64 MiB and 64 levels deep).",
    ),
    CodeDoc(
        "A014",
        "Code in the artifact (.py, .so, extensions.json, or `auto_map`)",
        'model/modeling_custom.py\nmodel/config.json: {"auto_map": {"AutoModel": "modeling_custom.Model"}}',
        "The grader never runs submitted code: remove code files and `auto_map`, and save a model of an "
        "architecture transformers ships (or export to ONNX with standard operators).",
    ),
    CodeDoc(
        "A015",
        "Quantization the grader does not load",
        'config.json: {"quantization_config": {"quant_method": "hqq", "nbits": 4}}',
        "Quantize with GPTQ or AWQ (gptqmodel), compressed-tensors or bitsandbytes (`load_in_8bit` / "
        "`load_in_4bit`, then `save_pretrained`), or submit an ONNX or OpenVINO export. A bitsandbytes "
        "config that sets both or neither of load_in_8bit and load_in_4bit is refused too.",
    ),
    CodeDoc(
        "A016",
        "Exported model without the side file its task needs",
        "format: onnx\nartifact: {path: onnx/model.onnx}   # text-classification, no onnx/tokenizer.json",
        "Save the tokenizer (text tasks), preprocessor_config.json (images, audio) or vocab.json (CTC "
        "speech models) into the export's folder: `tokenizer.save_pretrained(folder)`, "
        "`processor.save_pretrained(folder)`. `optimum-cli export onnx` writes them for you.",
    ),
    CodeDoc(
        "A017",
        "Exported classifier without id2label (warning)",
        "format: onnx\nartifact: {path: onnx/}   # no config.json with id2label in onnx/",
        "Copy the checkpoint's config.json beside the export (`model.config.save_pretrained(folder)`): "
        "its id2label names the classes; without it they are matched to the dataset's labels by position.",
    ),
    CodeDoc(
        "A018",
        "ONNX loop that never ends",
        "Loop with trip count 9223372036854775807 whose body returns its condition unchanged",
        "Export with tracing (torch.onnx.export unrolls Python loops), or give the Loop its real trip "
        "count (at most 100 000).",
    ),
    CodeDoc(
        "A019",
        "ONNX inputs the task cannot feed",
        "task: speech-recognition\n# model.onnx inputs: features, feature_lengths (no `inputs:` mapping)",
        "Say in the model's entry which role each input takes: `inputs: {features: audio_features, "
        "feature_lengths: audio_lengths}` (submissions/README.md lists each task's roles), with names the "
        "graph really has; or export with the standard input names (optimum-cli export onnx, or "
        "torch.onnx.export with input_names=[...]): text models take input_ids (attention_mask, "
        "token_type_ids, position_ids), image models pixel_values, speech models input_features or "
        "input_values, a detector one image batch [batch, 3, S, S].",
    ),
    CodeDoc(
        "A020",
        "ONNX detector output is not a YOLO layout",
        "task: object-detection\n# config.json id2label: 3 classes; model.onnx output0: [1, 5, 8400]",
        "Export with ultralytics (format='onnx', optionally nms=True) or YOLOv5's export.py: the first "
        "output must be [batch, 4 + C, N], [batch, N, 5 + C] or [batch, N, 6], with C the classes of "
        "config.json's id2label.",
    ),
    CodeDoc(
        "A021",
        "bitsandbytes checkpoint not measurable on this machine (warning)",
        'config.json: {"quantization_config": {"quant_method": "bitsandbytes", "load_in_4bit": true}}\n'
        "# and bitsandbytes is not installed (or older than 0.46.1) where `grader validate` ran",
        "Install bitsandbytes >= 0.46.1 where the model is measured (`pip install "
        "'compression-grader[quant]'`): it runs LLM.int8 and NF4/FP4 on CPU and CUDA. Without it only "
        'the size is measured; latency, memory and quality claims read "not measurable here".',
    ),
    CodeDoc(
        "A022",
        "Split encoder-decoder ONNX export with a graph missing",
        "format: onnx\nartifact: {path: onnx/}   # onnx/ holds decoder_model.onnx and "
        "decoder_with_past_model.onnx, no encoder_model.onnx",
        "Submit the whole folder `optimum-cli export onnx` writes: encoder_model.onnx with "
        "decoder_model.onnx (and decoder_with_past_model.onnx, for decoding from past key values) or "
        "with decoder_model_merged.onnx, their external data and the side files; `path:` names the "
        "folder, not one of its graphs.",
    ),
    CodeDoc(
        "A023",
        "Architecture that needs a library the grader does not install",
        'config.json: {"model_type": "timm_wrapper", "architecture": "efficientvit_b0"}   # timm',
        "Export the model to ONNX and submit `format: onnx` with a config.json (id2label, "
        "num_channels) and a preprocessor_config.json beside the .onnx: the grader runs the graph with "
        "its own pre-processing, no timm needed.",
    ),
    # --- P: pull request (grader.validate.pr_rules) ------------------------------------------------
    CodeDoc(
        "P001",
        "PR title not of the form `<team> HW-<n>`",
        "Homework 2 done!",
        "Edit the title: `ml_masters HW-2` (case and spacing are forgiven, `ДЗ-2` works too).",
    ),
    CodeDoc(
        "P002",
        "Team in the PR title not on the roster",
        "ml-masterz HW-2",
        "Use the team's name as course.yaml spells it.",
    ),
    CodeDoc(
        "P003",
        "PR author not in the team",
        "a PR for ml_masters opened by someone outside it",
        "A member of the team opens the PR (instructors may open PRs for any team).",
    ),
    CodeDoc(
        "P004",
        "PR changes files outside the team's folder",
        "README.md changed in a submission PR",
        "Move those changes to another PR: a submission touches only submissions/<team>/.",
    ),
    CodeDoc(
        "P005",
        "Not exactly one manifest in the PR",
        "hw-2/submission.yaml and hw-3/submission.yaml in one PR",
        "One PR per homework, with one submission.yaml.",
    ),
    CodeDoc(
        "P006",
        "No such homework in the PR title",
        "ml_masters HW-9",
        "Fix the homework number in the title.",
    ),
    CodeDoc(
        "P007",
        "Homework closed",
        "a PR for a homework with `open: false`",
        "Ask an instructor: the `deadline-extension` label lifts it for one PR.",
    ),
    CodeDoc(
        "P008",
        "Past the deadline",
        "a push after the homework's deadline",
        "Ask an instructor: the `deadline-extension` label lifts it for one PR.",
    ),
    CodeDoc(
        "P009",
        "Manifest and PR title disagree",
        "title `ml_masters HW-2`, manifest `homework: 3`",
        "Make the title and the manifest name the same team and homework.",
    ),
    CodeDoc(
        "P010",
        "PR targets another branch than the homework's (warning)",
        "a HW-2 PR into main instead of lesson-2-quantization",
        "Change the PR's base branch to the homework's branch (course.yaml `branch:`).",
    ),
    # --- C: course configuration (grader.cli, grader.validate.course_checks) ------------------------
    CodeDoc(
        "C001",
        "No course.yaml found",
        "grader validate submission.yaml   # outside the course repository",
        "Run inside the course repository, or pass `--course path/to/course.yaml`.",
    ),
    CodeDoc(
        "C002",
        "Course configures a task the grader does not have",
        "tasks:\n  text-clasification: {...}",
        "Fix the name (the hint suggests one); a new task is a module in grader/harness/tasks/.",
    ),
    CodeDoc(
        "C003",
        "Dataset and task do not match",
        "tasks:\n  text-classification: {dataset: digits-test}",
        "Give each task a default dataset whose `task:` is that task.",
    ),
    CodeDoc(
        "C004",
        "Login in more than one team (warning)",
        "teams:\n  a: {members: [alice]}\n  b: {members: [alice]}",
        "Keep each student in one team unless that is intended.",
    ),
    CodeDoc(
        "C005",
        "Dataset file missing",
        "source: {path: data/eval.jsonl, sha256: ...}   # file not committed",
        "Commit the file, or fix the path (relative to course.yaml).",
    ),
    CodeDoc(
        "C006",
        "Deadline without a time zone (warning)",
        "deadline: 2025-10-01T23:59:00",
        "Add the offset: `2025-10-01T23:59:00+03:00`; without it the deadline is read as UTC.",
    ),
    CodeDoc(
        "C007",
        "Task parameter the task does not know (warning)",
        "tasks:\n  text-classification: {params: {max_lenght: 128}}",
        "Fix the name (the hint suggests one) or remove it; an unknown parameter is ignored.",
    ),
    # --- D: stage documents (grader.documents) -----------------------------------------------------
    CodeDoc(
        "D001",
        "Stage document cannot be read",
        "grader verify out/measurement.json   # missing, or not JSON",
        "Produce the file with the command named in the hint; do not edit stage files by hand.",
    ),
    CodeDoc(
        "D002",
        "Wrong kind of stage document",
        "grader verify out/validated.json   # a validated-submission, not a measurement-run",
        "Pass the file the command expects (the message names its kind).",
    ),
    CodeDoc(
        "D003",
        "Unsupported schema version of a stage document",
        '{"kind": "grade", "schema_version": 7, ...}',
        "Produce the file again with this version of the grader.",
    ),
    CodeDoc(
        "D004",
        "Stage document does not match its schema",
        '{"kind": "measurement-run", "schema_version": 1, "models": "?"}',
        "Produce the file again with the command named in the hint; do not edit it by hand.",
    ),
    CodeDoc(
        "D005",
        "Fetched files changed or gone since `grader fetch`",
        "grader measure fetched.json   # model.safetensors changed since it was fetched",
        "Run `grader fetch` again and measure the fetched.json it writes: only files that were fetched "
        "and checked are measured.",
    ),
]
