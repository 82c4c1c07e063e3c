"""GitHubSettings and GitHubClient against a real local HTTP server: pages, retries, rate limits."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from github_fake import FakeFile, FakeGitHub, git_blob_sha
from github_fake.support import HEAD, client_for, settings_for, submission_pull
from pydantic import ValidationError

from grader.errors import InputError
from grader.github.client import MODE_SYMLINK, GitHubError
from grader.github.settings import GitHubSettings, RetryPolicy


@pytest.fixture
def fake():
    with FakeGitHub() as server:
        server.add_pull(submission_pull())
        yield server


# --- settings -------------------------------------------------------------------------------------


def test_settings_from_a_workflow_environment():
    env = {
        "GITHUB_TOKEN": "ghs_actions",
        "GITHUB_REPOSITORY": "aitalents/model-compression-2025",
        "GITHUB_API_URL": "https://ghe.example/api/v3/",
        "GITHUB_SERVER_URL": "https://ghe.example",
        "GITHUB_RUN_ID": "99",
        "GRADER_GITHUB_MAX_WAIT_S": "30",
    }
    settings = GitHubSettings.from_env(env)
    assert settings.repository == "aitalents/model-compression-2025"
    assert settings.api_url == "https://ghe.example/api/v3"
    assert settings.run_url == "https://ghe.example/aitalents/model-compression-2025/actions/runs/99"
    assert settings.retry.max_wait_s == 30
    assert settings.bot_login == "github-actions[bot]"
    assert "ghs_actions" not in repr(settings)  # the token never shows in logs


def test_an_app_token_and_its_bot_login_win_over_the_job_token():
    env = {
        "GITHUB_TOKEN": "ghs_job",
        "GRADER_GITHUB_TOKEN": "ghs_app",
        "GRADER_BOT_LOGIN": "course-grader[bot]",
        "GITHUB_REPOSITORY": "o/r",
    }
    settings = GitHubSettings.from_env(env)
    assert settings.token.get_secret_value() == "ghs_app"
    assert settings.bot_login == "course-grader[bot]"


def test_missing_token_and_bad_repository_are_findings_naming_the_variables():
    with pytest.raises(InputError) as caught:
        GitHubSettings.from_env({"GITHUB_REPOSITORY": "not a repo"})
    by_field = {f.location.field: f for f in caught.value.findings}
    assert {f.code for f in caught.value.findings} == {"G001"}
    assert "GRADER_GITHUB_TOKEN or GITHUB_TOKEN" in by_field
    assert "is not set" in by_field["GRADER_GITHUB_TOKEN or GITHUB_TOKEN"].message
    assert by_field["GITHUB_REPOSITORY"].found == "'not a repo'"


def test_settings_are_frozen():
    settings = GitHubSettings(token="t", repository="o/r")
    with pytest.raises(ValidationError):
        settings.repository = "x/y"


# --- reading -----------------------------------------------------------------------------------


def test_pull_request_reads_every_changed_file_across_pages(fake):
    files = [{"filename": f"submissions/ml_masters/hw-2/f{i:03}.txt", "status": "added"} for i in range(249)]
    files.append(
        {
            "filename": "submissions/ml_masters/hw-2/new.yaml",
            "status": "renamed",
            "previous_filename": "README.md",
        }
    )
    fake.add_pull(submission_pull(8, files=files, labels=["deadline-extension"]))
    with client_for(fake) as client:
        info = client.pull_request(8)
    assert len(info.changed_files) == 250
    assert [r.query.get("page", "1") for r in fake.calls("GET", r"/pulls/8/files$")] == ["1", "2", "3"]
    assert info.touched_paths()[-2:] == ["README.md", "submissions/ml_masters/hw-2/new.yaml"]
    context = info.context()
    assert (context.number, context.head_sha, context.author, context.title) == (
        8,
        HEAD,
        "alice",
        "ml_masters HW-2",
    )
    assert context.labels == ["deadline-extension"]


def test_files_at_a_commit_are_bytes_from_the_tree_and_blobs(fake):
    weights = bytes(range(256)) * 5000  # 1.28 MB: over the contents API's inline limit
    fake.add_commit(
        HEAD,
        {
            "submissions/ml_masters/hw-2/model.onnx": weights,
            "submissions/ml_masters/hw-2/link": FakeFile(b"/etc/passwd", mode=MODE_SYMLINK),
        },
    )
    with client_for(fake) as client:
        entries = {e.path: e for e in client.tree(HEAD)}
        assert entries["submissions/ml_masters/hw-2/link"].mode == MODE_SYMLINK
        assert entries["submissions/ml_masters/hw-2"].type == "tree"
        onnx = entries["submissions/ml_masters/hw-2/model.onnx"]
        assert onnx.sha == git_blob_sha(weights) and onnx.size == len(weights)
        assert client.blob(onnx.sha) == weights
        assert client.read_file("submissions/ml_masters/hw-2/model.onnx", HEAD) == weights
        assert client.read_file("submissions/ml_masters/hw-2/absent.yaml", HEAD) is None
    assert fake.calls("GET", r"/git/blobs/")  # the >1 MB file came through the blob API


# --- retries ------------------------------------------------------------------------------------


def test_a_502_is_retried_and_then_succeeds(fake):
    fake.fail("GET", r"/pulls/7$", 502)
    with client_for(fake) as client:
        assert client.pull_request(7, with_files=False).head_sha == HEAD
    assert [r.status for r in fake.calls("GET", r"/pulls/7$")] == [502, 200]


def test_an_edit_is_retried_too(fake):
    """PATCH is not in urllib3's retried methods; every comment and check-run edit is a PATCH."""
    comment = fake.add_comment(7, "github-actions[bot]", "old")
    fake.fail("PATCH", rf"/issues/comments/{comment.id}$", 503)
    with client_for(fake) as client:
        client.edit_comment(7, comment.id, "new")
    assert fake.comments_on(7)[0].body == "new"
    assert [r.status for r in fake.calls("PATCH")] == [503, 200]


def test_a_secondary_rate_limit_waits_what_retry_after_says(fake):
    waits: list[float] = []
    fake.fail(
        "GET",
        r"/pulls/7$",
        403,
        headers={"Retry-After": "7"},
        message="You have exceeded a secondary rate limit",
    )
    with client_for(fake, sleep=waits.append) as client:
        assert client.pull_request(7, with_files=False).number == 7
    assert waits == [7.0]
    assert [r.status for r in fake.calls("GET", r"/pulls/7$")] == [403, 200]


def test_retry_after_is_really_waited(fake):
    fake.fail(
        "GET",
        r"/pulls/7$",
        403,
        headers={"Retry-After": "1"},
        message="You have exceeded a secondary rate limit",
    )
    with client_for(fake) as client:
        client.pull_request(7, with_files=False)
    first, second = fake.calls("GET", r"/pulls/7$")
    assert second.at - first.at >= 0.95


def test_a_bare_429_waits_the_secondary_rate_wait_from_settings(fake):
    fake.fail("GET", r"/pulls/7$", 429, message="too many requests")
    retry = RetryPolicy(total=3, backoff_factor_s=0.0, secondary_rate_wait_s=0.2)
    with client_for(fake, retry=retry) as client:
        client.pull_request(7, with_files=False)
    first, second = fake.calls("GET", r"/pulls/7$")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.19


def test_a_429_on_the_primary_limit_waits_until_the_reset(fake):
    waits: list[float] = []
    reset = int(datetime.now(UTC).timestamp()) + 30
    fake.fail(
        "GET",
        r"/pulls/7$",
        429,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
        message="API rate limit exceeded",
    )
    with client_for(fake, sleep=waits.append, retry=RetryPolicy(total=3, max_wait_s=120)) as client:
        client.pull_request(7, with_files=False)
    assert len(waits) == 1 and 28 <= waits[0] <= 32


def test_a_wait_longer_than_allowed_fails_at_once(fake):
    waits: list[float] = []
    fake.fail(
        "GET",
        r"/pulls/7$",
        403,
        headers={"Retry-After": "3600"},
        message="You have exceeded a secondary rate limit",
    )
    started = time.monotonic()
    with (
        client_for(fake, sleep=waits.append, retry=RetryPolicy(max_wait_s=60)) as client,
        pytest.raises(GitHubError) as caught,
    ):
        client.pull_request(7, with_files=False)
    assert time.monotonic() - started < 5 and waits == []
    assert caught.value.status == 403 and "3600" in str(caught.value)
    assert len(fake.calls("GET", r"/pulls/7$")) == 1


def test_a_persistent_5xx_gives_up_after_the_retries_with_the_status(fake):
    waits: list[float] = []
    fake.fail("GET", r"/pulls/7$", 503, times=10, message="Service Unavailable")
    policy = RetryPolicy(total=3, backoff_factor_s=0.5, backoff_max_s=10)
    with client_for(fake, sleep=waits.append, retry=policy) as client, pytest.raises(GitHubError) as caught:
        client.pull_request(7, with_files=False)
    assert caught.value.status == 503
    assert "read pull request #7" in str(caught.value) and "Service Unavailable" in str(caught.value)
    assert len(fake.calls("GET", r"/pulls/7$")) == 4  # one try and three retries
    assert waits == [1.0, 2.0]  # exponential backoff (urllib3 does not wait before the first retry)


def test_a_plain_403_is_not_retried(fake):
    fake.fail("POST", r"/issues/7/comments$", 403, message="Resource not accessible by integration")
    with client_for(fake) as client, pytest.raises(GitHubError) as caught:
        client.create_comment(7, "hello")
    assert caught.value.status == 403 and "not accessible" in caught.value.detail
    assert len(fake.calls("POST")) == 1


def test_a_wrong_token_is_a_clear_error(fake):
    with client_for(fake, token="wrong") as client, pytest.raises(GitHubError) as caught:
        client.pull_request(7)
    assert caught.value.status == 401 and "Bad credentials" in str(caught.value)


def test_settings_for_the_fake_are_what_a_step_would_build(fake):
    """The helper used everywhere here builds the same settings as from_env would."""
    env = {
        "GITHUB_TOKEN": fake.token,
        "GITHUB_REPOSITORY": fake.repo.full_name,
        "GITHUB_API_URL": fake.url,
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_RUN_ID": "4242",
        "GRADER_GITHUB_WRITE_INTERVAL_S": "0",
    }
    from_env = GitHubSettings.from_env(env)
    helper = settings_for(fake)
    assert from_env.model_dump(exclude={"retry", "token"}) == helper.model_dump(exclude={"retry", "token"})
