"""Finding codes of the GitHub integration (G)."""

from __future__ import annotations

from grader.codes import CodeDoc

CODES: list[CodeDoc] = [
    CodeDoc(
        "G001",
        "GitHub setting missing or malformed",
        "GITHUB_REPOSITORY unset when running `grader gh publish`",
        "In a workflow, pass the variable to the step through `env:`; locally, export it.",
    ),
    CodeDoc(
        "G002",
        "Event file unreadable, or names no pull request",
        "grader gh pr-context --event push.json",
        "Pass the workflow's $GITHUB_EVENT_PATH of a pull_request_target, issue_comment or "
        "workflow_dispatch event, or give --pr N.",
    ),
    CodeDoc(
        "G003",
        "File in the team folder refused (symlink, submodule, unsafe name)",
        "submissions/team/hw-2/model -> /etc/passwd",
        "Commit regular files only; put large models on the Hugging Face Hub or behind a URL with sha256.",
    ),
    CodeDoc(
        "G004",
        "Team folder too large to read from the PR",
        "a 300 MiB model.onnx committed to submissions/team/hw-2/",
        "Publish the model on the Hub (`hf:` + `revision:`) or behind `url:` + `sha256:`.",
    ),
    CodeDoc(
        "G005",
        "File is a Git LFS pointer",
        "model.safetensors committed with git lfs",
        "The grader does not fetch LFS objects: use `hf:` + `revision:` or `url:` + `sha256:`.",
    ),
]
