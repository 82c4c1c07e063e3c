"""The one class that talks to GitHub.

Everything else in the grader receives a :class:`GitHubClient` and gets plain, frozen values back
(PullRequestInfo, Comment, ...), never PyGithub objects, so no other module depends on PyGithub
or on the network. Only PyGithub's public API is used.

Every failure comes out as :class:`GitHubError` with what was being done and what GitHub said,
after the retries of grader.github.retry.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from grader.github.retry import GraderRetry, Sleep
from grader.github.settings import GitHubSettings
from grader.validate.document import PullRequestContext

log = logging.getLogger("grader.github")

# Git file modes as the trees API reports them.
MODE_SYMLINK = "120000"
MODE_SUBMODULE = "160000"


class GitHubError(RuntimeError):
    """A GitHub call failed for good (after retries). ``status`` is the HTTP status, if any."""

    def __init__(self, action: str, detail: str, status: int | None = None) -> None:
        self.action = action
        self.detail = detail
        self.status = status
        prefix = f"{status} " if status is not None else ""
        super().__init__(f"could not {action}: {prefix}{detail}")


@dataclass(frozen=True)
class ChangedFile:
    path: str
    status: str  # added, modified, removed, renamed, copied, changed, unchanged
    previous_path: str | None = None


@dataclass(frozen=True)
class PullRequestInfo:
    number: int
    head_sha: str
    author: str
    title: str
    base_ref: str
    head_repo: str | None  # owner/name of the fork; None when the fork was deleted
    state: str  # open, closed
    merged: bool
    labels: tuple[str, ...]
    changed_files: tuple[ChangedFile, ...]

    def touched_paths(self) -> list[str]:
        """Every path the PR changes, including where renamed files came from."""
        paths: list[str] = []
        for item in self.changed_files:
            if item.previous_path and item.previous_path not in paths:
                paths.append(item.previous_path)
            if item.path not in paths:
                paths.append(item.path)
        return paths

    def context(self) -> PullRequestContext:
        return PullRequestContext(
            number=self.number,
            head_sha=self.head_sha,
            author=self.author,
            title=self.title,
            base_ref=self.base_ref,
            changed_files=self.touched_paths(),
            labels=list(self.labels),
        )


@dataclass(frozen=True)
class Comment:
    id: int
    author: str  # login; "ghost" when the account is gone
    body: str
    created_at: datetime


@dataclass(frozen=True)
class TreeEntry:
    path: str
    mode: str
    type: str  # blob, tree, commit (a submodule)
    sha: str
    size: int | None


@dataclass(frozen=True)
class CheckRunInfo:
    id: int
    name: str
    head_sha: str
    status: str
    conclusion: str | None
    started_at: datetime | None = None


@dataclass(frozen=True)
class WorkflowRunInfo:
    id: int
    path: str  # .github/workflows/grade.yml
    event: str  # pull_request_target, issue_comment, workflow_dispatch, pull_request, ...
    status: str
    conclusion: str | None
    head_branch: str | None
    html_url: str


@dataclass(frozen=True)
class ArtifactInfo:
    id: int
    name: str
    size_in_bytes: int
    expired: bool
    run_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class LabelSpec:
    name: str
    color: str  # 6 hex digits, no '#'
    description: str


class GitHubClient:
    """Wraps every GitHub call the grader makes. Inject it; build it once per process."""

    def __init__(self, settings: GitHubSettings, *, sleep: Sleep = time.sleep) -> None:
        from github import Auth, Github

        self.settings = settings
        self._sleep = sleep
        self._github = Github(
            auth=Auth.Token(settings.token.get_secret_value()),
            base_url=settings.api_url,
            timeout=settings.timeout_s,
            user_agent="compression-grader",
            per_page=settings.per_page,
            retry=GraderRetry.from_policy(settings.retry, sleep=sleep),
            seconds_between_requests=settings.seconds_between_requests,
            seconds_between_writes=settings.seconds_between_writes,
            # Lazy objects fetch nothing until read: editing comment 42 is one PATCH, not GET+PATCH.
            lazy=True,
        )
        self._repo = self._github.get_repo(settings.repository)

    def close(self) -> None:
        self._github.close()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- pull requests -------------------------------------------------------------------------

    def pull_request(self, number: int, *, with_files: bool = True) -> PullRequestInfo:
        """The PR as GitHub has it now; with every changed file (all pages) unless told not to."""
        with self._calling(f"read pull request #{number}"):
            pr = self._repo.get_pull(number)
            head_repo = pr.head.repo
            files = tuple(
                ChangedFile(path=f.filename, status=f.status, previous_path=f.previous_filename)
                for f in (pr.get_files() if with_files else ())
            )
            return PullRequestInfo(
                number=pr.number,
                head_sha=pr.head.sha,
                author=pr.user.login if pr.user else "ghost",
                title=pr.title or "",
                base_ref=pr.base.ref,
                head_repo=head_repo.full_name if head_repo is not None else None,
                state=pr.state,
                merged=bool(pr.merged),
                labels=tuple(label.name for label in pr.labels),
                changed_files=files,
            )

    def pull_commits(self, number: int) -> list[str]:
        """The SHAs of the PR's commits, oldest first, as GitHub lists them (up to its 250)."""
        with self._calling(f"list the commits of pull request #{number}"):
            return [commit.sha for commit in self._repo.get_pull(number).get_commits()]

    # --- files at a commit, as data ----------------------------------------------------------

    def tree(self, sha: str) -> list[TreeEntry]:
        """Every entry of the commit's tree (recursive). Refuses a truncated answer."""
        with self._calling(f"list the files of commit {sha[:12]}"):
            tree = self._repo.get_git_tree(sha, recursive=True)
            data = tree.raw_data
            if data.get("truncated"):
                raise GitHubError(
                    f"list the files of commit {sha[:12]}",
                    "GitHub truncated the file list (the repository is too large for one listing)",
                )
            return [
                TreeEntry(path=e.path, mode=e.mode, type=e.type, sha=e.sha, size=e.size) for e in tree.tree
            ]

    def blob(self, sha: str) -> bytes:
        """A file's bytes by its git blob SHA (works up to GitHub's 100 MB blob limit)."""
        with self._calling(f"read blob {sha[:12]}"):
            blob = self._repo.get_git_blob(sha)
            if blob.encoding != "base64":
                return blob.content.encode("utf-8")
            return base64.b64decode(blob.content)

    def read_file(self, path: str, ref: str) -> bytes | None:
        """A file's bytes at ``ref``, or None when there is no such file."""
        with self._calling(f"read {path} at {ref[:12]}", missing_ok=True):
            content = self._repo.get_contents(path, ref=ref)
            if isinstance(content, list) or content.type != "file":
                return None
            if content.encoding == "base64":
                return content.decoded_content
            return self.blob(content.sha)  # over 1 MB the contents API sends no content
        return None  # 404: no such file at that commit

    # --- issue comments ----------------------------------------------------------------------

    def comments(self, number: int) -> list[Comment]:
        """Every comment on the PR's conversation, oldest first, across all pages."""
        with self._calling(f"list the comments of pull request #{number}"):
            return [_comment(c) for c in self._repo.get_issue(number).get_comments()]

    def create_comment(self, number: int, body: str) -> Comment:
        with self._calling(f"comment on pull request #{number}"):
            return _comment(self._repo.get_issue(number).create_comment(body))

    def edit_comment(self, number: int, comment_id: int, body: str) -> None:
        with self._calling(f"edit comment {comment_id}"):
            self._repo.get_issue(number).get_comment(comment_id).edit(body)

    def delete_comment(self, number: int, comment_id: int) -> None:
        """Delete; a comment someone else deleted first counts as deleted."""
        with self._calling(f"delete comment {comment_id}", missing_ok=True):
            self._repo.get_issue(number).get_comment(comment_id).delete()

    # --- check runs ----------------------------------------------------------------------------

    def check_runs(self, head_sha: str, name: str) -> list[CheckRunInfo]:
        """The check runs called ``name`` on ``head_sha``, oldest first."""
        with self._calling(f"list check runs of {head_sha[:12]}"):
            runs = [
                _check_run_info(run)
                for run in self._repo.get_commit(head_sha).get_check_runs(check_name=name)
                if run.name == name
            ]
        return sorted(runs, key=lambda run: run.id)

    def find_check_run(self, head_sha: str, name: str) -> CheckRunInfo | None:
        """The newest check run called ``name`` on ``head_sha``, if any."""
        runs = self.check_runs(head_sha, name)
        return runs[-1] if runs else None

    def create_check_run(
        self,
        head_sha: str,
        name: str,
        status: str,
        *,
        output: dict[str, Any] | None = None,
        details_url: str | None = None,
        started_at: datetime | None = None,
    ) -> CheckRunInfo:
        fields = _given(output=output, details_url=details_url, started_at=started_at)
        with self._calling(f"create check run {name!r} on {head_sha[:12]}"):
            run = self._repo.create_check_run(name=name, head_sha=head_sha, status=status, **fields)
            return _check_run_info(run)

    def update_check_run(
        self,
        check_run_id: int,
        *,
        status: str | None = None,
        conclusion: str | None = None,
        output: dict[str, Any] | None = None,
        details_url: str | None = None,
        started_at: datetime | None = None,
        completed_at: datetime | None = None,
    ) -> None:
        """PATCH the run; GitHub appends the output's annotations to those it already has."""
        fields = _given(
            status=status,
            conclusion=conclusion,
            output=output,
            details_url=details_url,
            started_at=started_at,
            completed_at=completed_at,
        )
        with self._calling(f"update check run {check_run_id}"):
            self._repo.get_check_run(check_run_id).edit(**fields)

    # --- labels ----------------------------------------------------------------------------------

    def repository_labels(self) -> dict[str, LabelSpec]:
        with self._calling("list the repository's labels"):
            return {
                label.name: LabelSpec(label.name, label.color, label.description or "")
                for label in self._repo.get_labels()
            }

    def create_label(self, spec: LabelSpec) -> None:
        """Create; a label that appeared meanwhile (422 already_exists) is fine."""
        try:
            with self._calling(f"create label {spec.name!r}"):
                self._repo.create_label(spec.name, spec.color, spec.description)
        except GitHubError as error:
            if error.status != 422:
                raise
            log.info("label %r already exists", spec.name)

    def add_labels(self, number: int, names: list[str]) -> None:
        if names:
            with self._calling(f"label pull request #{number}"):
                self._repo.get_issue(number).add_to_labels(*names)

    def remove_label(self, number: int, name: str) -> None:
        with self._calling(f"remove label {name!r} from pull request #{number}", missing_ok=True):
            self._repo.get_issue(number).remove_from_labels(name)

    # --- workflow runs and artifacts -------------------------------------------------------

    def artifacts(self, name: str) -> list[ArtifactInfo]:
        """The repository's artifacts called ``name``, from every workflow run, newest first."""
        with self._calling(f"list artifacts named {name!r}"):
            found = []
            for artifact in self._repo.get_artifacts(name=name):
                origin = artifact.raw_data.get("workflow_run") or {}
                found.append(
                    ArtifactInfo(
                        id=artifact.id,
                        name=artifact.name,
                        size_in_bytes=artifact.size_in_bytes,
                        expired=bool(artifact.expired),
                        run_id=origin.get("id"),
                        created_at=artifact.created_at,
                    )
                )
        return sorted(found, key=lambda a: (a.created_at, a.id), reverse=True)

    def download_artifact(self, artifact_id: int, *, max_bytes: int) -> bytes:
        """The artifact's zip archive, refused past ``max_bytes``.

        GitHub answers with a redirect to a short-lived signed URL on its storage host, which
        PyGithub does not follow for hosts outside its own domains; so the two requests are made
        here, with the same retries, and the token goes only to the API, never to the storage host.
        """
        import requests
        from requests.adapters import HTTPAdapter

        root = f"{self.settings.api_url.rstrip('/')}/repos/{self.settings.repository}"
        action = f"download artifact {artifact_id}"
        agent = {"User-Agent": "compression-grader"}
        token = self.settings.token.get_secret_value()
        with self._calling(action), requests.Session() as session:
            retry = GraderRetry.from_policy(self.settings.retry, sleep=self._sleep)
            for scheme in ("https://", "http://"):
                session.mount(scheme, HTTPAdapter(max_retries=retry))
            answer = session.get(
                f"{root}/actions/artifacts/{artifact_id}/zip",
                headers={
                    **agent,
                    "Authorization": f"Bearer {token}",
                    "Accept": "application/vnd.github+json",
                },
                allow_redirects=False,
                timeout=self.settings.timeout_s,
            )
            if answer.is_redirect and "Location" in answer.headers:
                location = answer.headers["Location"]
                answer.close()
                answer = session.get(location, headers=agent, stream=True, timeout=self.settings.timeout_s)
            with answer:
                if answer.status_code >= 400:
                    raise GitHubError(action, answer.reason or "download refused", answer.status_code)
                data = bytearray()
                for chunk in answer.iter_content(chunk_size=64 * 1024):
                    data += chunk
                    if len(data) > max_bytes:
                        raise GitHubError(action, f"the archive is larger than {max_bytes} bytes")
                return bytes(data)

    def workflow_run(self, run_id: int) -> WorkflowRunInfo:
        with self._calling(f"read workflow run {run_id}"):
            run = self._repo.get_workflow_run(run_id)
            return WorkflowRunInfo(
                id=run.id,
                path=run.path,
                event=run.event,
                status=run.status,
                conclusion=run.conclusion,
                head_branch=run.head_branch,
                html_url=run.html_url,
            )

    # --- plumbing --------------------------------------------------------------------------

    @contextmanager
    def _calling(self, action: str, *, missing_ok: bool = False) -> Iterator[None]:
        """Turn PyGithub/requests failures into GitHubError; with ``missing_ok`` a 404 is
        swallowed and the code after the ``with`` block runs."""
        from github.GithubException import GithubException
        from requests.exceptions import RequestException

        try:
            yield
        except GitHubError:
            raise
        except GithubException as error:
            if missing_ok and error.status == 404:
                return
            raise GitHubError(action, _message(error), error.status) from None
        except RequestException as error:
            raise GitHubError(action, f"{type(error).__name__}: {error}") from None


def _given(**fields: Any) -> dict[str, Any]:
    """PyGithub marks "not given" with its own NotSet; leaving the key out does the same."""
    return {key: value for key, value in fields.items() if value is not None}


def _comment(c: Any) -> Comment:
    return Comment(
        id=c.id, author=c.user.login if c.user else "ghost", body=c.body or "", created_at=c.created_at
    )


def _check_run_info(run: Any) -> CheckRunInfo:
    return CheckRunInfo(
        id=run.id,
        name=run.name,
        head_sha=run.head_sha,
        status=run.status,
        conclusion=run.conclusion,
        started_at=run.started_at,
    )


def _message(error: Any) -> str:
    data = error.data
    if isinstance(data, dict):
        message = str(data.get("message") or "")
        details = [str(e.get("message") or e.get("code") or e) for e in data.get("errors") or [] if e]
        return "; ".join([message, *details]) if details else message or str(error)
    return str(data or error)
