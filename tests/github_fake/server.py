"""A local GitHub REST API for tests: real sockets, real HTTP, state, pagination, GitHub's
validation rules, and fault injection.

It implements the endpoints the grader's adapter calls, answering with the shapes GitHub uses
(the fields PyGithub reads), ``Link`` headers for pages, and 422s where GitHub refuses (a comment
over 65,536 characters, more than 50 annotations in one request, a completed check run without a
conclusion). Faults are queued per (method, path pattern): a 502 once, a 403 secondary rate limit
with ``Retry-After``, a 429. Hooks run after a matching request, to stage races (a duplicate
comment appears, the PR's head moves).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from .state import (
    Clock,
    FakeArtifact,
    FakeCheckRun,
    FakeComment,
    FakeFile,
    FakePull,
    FakeRun,
    Ids,
    RepoState,
    git_blob_sha,
    iso,
)

COMMENT_LIMIT = 65536
OUTPUT_LIMIT = 65535
ANNOTATIONS_PER_REQUEST = 50
CONTENTS_INLINE_LIMIT = 1024 * 1024  # the contents API inlines files up to 1 MB
BLOB_PREFIX = "/_blobs/artifacts/"  # the artifact storage GitHub redirects downloads to


class HttpError(Exception):
    def __init__(self, status: int, message: str, errors: list[dict] | None = None, headers=None) -> None:
        self.status = status
        self.payload: dict[str, Any] = {"message": message}
        if errors:
            self.payload["errors"] = errors
        self.headers = headers or {}
        super().__init__(message)


def unprocessable(resource: str, field_name: str, message: str, code: str = "custom") -> HttpError:
    return HttpError(
        422,
        "Validation Failed",
        [{"resource": resource, "code": code, "field": field_name, "message": message}],
    )


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    at: float  # time.monotonic() when the request arrived
    status: int = 0
    authorized: bool = False  # it carried an Authorization header


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    headers: dict[str, str]
    body: dict[str, Any]
    times: int
    landed: bool  # serve the request (its effect happens), then answer with the fault anyway


@dataclass
class Hook:
    method: str
    pattern: re.Pattern[str]
    action: Callable[[FakeGitHub], None]
    times: int


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[..., tuple[int, Any]]


@dataclass
class Request:
    query: dict[str, str]
    body: Any
    login: str
    params: dict[str, str] = field(default_factory=dict)


class FakeGitHub:
    """One fake repository behind a real HTTP server on 127.0.0.1."""

    def __init__(
        self,
        repository: str = "course/compression",
        *,
        token: str = "test-token",
        token_login: str = "github-actions[bot]",
    ) -> None:
        self.repo = RepoState(full_name=repository)
        self.tokens = {token: token_login}
        self.token = token
        self.requests: list[Recorded] = []
        self._faults: list[Fault] = []
        self._hooks: list[Hook] = []
        self._lock = threading.RLock()
        self._clock = Clock()
        self._ids = Ids()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes = self._build_routes()

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeGitHub:
        fake = self

        class Handler(_Handler):
            github = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-github", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- seeding ---------------------------------------------------------------------------

    def add_pull(self, pull: FakePull) -> FakePull:
        with self._lock:
            self.repo.pulls[pull.number] = pull
            return pull

    def add_commit(self, sha: str, files: dict[str, bytes | FakeFile]) -> None:
        with self._lock:
            tree = {}
            for path, item in files.items():
                entry = item if isinstance(item, FakeFile) else FakeFile(item)
                tree[path] = entry
                self.repo.blobs[git_blob_sha(entry.content)] = entry.content
            self.repo.commits[sha] = tree

    def add_comment(self, number: int, author: str, body: str) -> FakeComment:
        with self._lock:
            moment = self._clock.tick()
            comment = FakeComment(self._ids.take(), number, author, body, moment, moment)
            self.repo.comments[comment.id] = comment
            return comment

    def add_label(self, name: str, color: str = "ededed", description: str = "") -> None:
        with self._lock:
            self.repo.labels[name] = {"name": name, "color": color, "description": description}

    def add_run(
        self, workflow: str, *, head_sha: str = "b" * 40, artifacts: tuple[str, ...] = (), **fields: Any
    ) -> FakeRun:
        """A finished workflow run of ``.github/workflows/<workflow>`` with named artifacts."""
        with self._lock:
            run = FakeRun(
                id=self._ids.take(),
                workflow=workflow,
                head_sha=head_sha,
                created_at=self._clock.tick(),
                **fields,
            )
            run.artifacts = [FakeArtifact(self._ids.take(), name) for name in artifacts]
            self.repo.runs[run.id] = run
            return run

    # --- faults and hooks ------------------------------------------------------------------

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        message: str = "Server Error",
        times: int = 1,
        landed: bool = False,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` instead of serving them; with
        ``landed`` the request is served first (a 502 from a proxy after the write happened)."""
        with self._lock:
            self._faults.append(
                Fault(method, re.compile(path), status, headers or {}, {"message": message}, times, landed)
            )

    def after(self, method: str, path: str, action: Callable[[FakeGitHub], None], *, times: int = 1) -> None:
        """Run ``action(fake)`` after the next ``times`` matching requests were served."""
        with self._lock:
            self._hooks.append(Hook(method, re.compile(path), action, times))

    # --- inspection ------------------------------------------------------------------------

    def calls(self, method: str, path: str = "") -> list[Recorded]:
        pattern = re.compile(path)
        with self._lock:
            return [r for r in self.requests if r.method == method and pattern.search(r.path)]

    def comments_on(self, number: int) -> list[FakeComment]:
        with self._lock:
            return sorted((c for c in self.repo.comments.values() if c.number == number), key=lambda c: c.id)

    # --- HTTP dispatch (called from the server threads) ------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes) -> tuple:
        parts = urlsplit(raw_path)
        path = unquote(parts.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        try:
            body = json.loads(raw_body) if raw_body else None
        except json.JSONDecodeError:
            body = raw_body.decode("utf-8", "replace")
        record = Recorded(method, path, query, body, time.monotonic(), authorized="authorization" in headers)
        with self._lock:
            self.requests.append(record)
            fault = self._take(self._faults, method, path)
        if fault is None and method == "GET" and path.startswith(BLOB_PREFIX):
            record.status, data = self.blob_download(path)
            return record.status, data, {"Content-Type": "application/zip"}
        if fault is not None and not fault.landed:
            record.status = fault.status
            return fault.status, fault.body, fault.headers
        try:
            login = self._authenticate(headers)
            status, payload, extra = self._route(method, path, Request(query, body, login))
        except HttpError as error:
            status, payload, extra = error.status, error.payload, error.headers
        if fault is not None:  # landed: the effect happened, the client hears a failure
            status, payload, extra = fault.status, fault.body, fault.headers
        record.status = status
        with self._lock:
            hook = self._take(self._hooks, method, path)
        if hook is not None:
            hook.action(self)
        return status, payload, extra

    def _take(self, items: list, method: str, path: str) -> Any:
        for item in items:
            if item.method == method and item.pattern.search(path) and item.times > 0:
                item.times -= 1
                return item
        return None

    def _authenticate(self, headers: dict[str, str]) -> str:
        value = headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() not in ("token", "bearer") or token not in self.tokens:
            raise HttpError(401, "Bad credentials")
        return self.tokens[token]

    def _route(self, method: str, path: str, request: Request) -> tuple[int, Any, dict[str, str]]:
        prefix = f"/repos/{self.repo.full_name}"
        if not path.startswith(prefix):
            raise HttpError(404, "Not Found")
        rest = path[len(prefix) :] or "/"
        for route in self._routes:
            if route.method != method:
                continue
            match = route.pattern.fullmatch(rest)
            if match:
                request.params = match.groupdict()
                with self._lock:
                    result = route.handler(request)
                status, payload = result[0], result[1]
                extra = result[2] if len(result) > 2 else {}
                return status, payload, extra
        raise HttpError(404, "Not Found")

    def _build_routes(self) -> list[Route]:
        table = [
            ("GET", r"/", self._get_repo),
            ("GET", r"/pulls/(?P<n>\d+)", self._get_pull),
            ("GET", r"/pulls/(?P<n>\d+)/files", self._list_pull_files),
            ("GET", r"/pulls/(?P<n>\d+)/commits", self._list_pull_commits),
            ("GET", r"/issues/(?P<n>\d+)/comments", self._list_comments),
            ("POST", r"/issues/(?P<n>\d+)/comments", self._create_comment),
            ("GET", r"/issues/comments/(?P<id>\d+)", self._get_comment),
            ("PATCH", r"/issues/comments/(?P<id>\d+)", self._edit_comment),
            ("DELETE", r"/issues/comments/(?P<id>\d+)", self._delete_comment),
            ("GET", r"/labels", self._list_labels),
            ("POST", r"/labels", self._create_label),
            ("GET", r"/issues/(?P<n>\d+)/labels", self._list_issue_labels),
            ("POST", r"/issues/(?P<n>\d+)/labels", self._add_issue_labels),
            ("DELETE", r"/issues/(?P<n>\d+)/labels/(?P<name>[^/]+)", self._remove_issue_label),
            ("POST", r"/check-runs", self._create_check_run),
            ("GET", r"/check-runs/(?P<id>\d+)", self._get_check_run),
            ("PATCH", r"/check-runs/(?P<id>\d+)", self._update_check_run),
            ("GET", r"/commits/(?P<ref>[^/]+)/check-runs", self._list_check_runs),
            ("GET", r"/git/trees/(?P<sha>[^/]+)", self._get_tree),
            ("GET", r"/git/blobs/(?P<sha>[0-9a-f]{40})", self._get_blob),
            ("GET", r"/contents/(?P<path>.+)", self._get_contents),
            ("GET", r"/actions/artifacts", self._list_artifacts),
            ("GET", r"/actions/artifacts/(?P<id>\d+)/zip", self._download_artifact),
            ("GET", r"/actions/runs/(?P<id>\d+)", self._get_run),
        ]
        return [Route(method, re.compile(pattern), handler) for method, pattern, handler in table]

    # --- JSON shapes -----------------------------------------------------------------------

    def _api(self, rest: str) -> str:
        return f"{self.url}/repos/{self.repo.full_name}{rest}"

    def _user(self, login: str) -> dict[str, Any]:
        return {
            "login": login,
            "id": abs(hash(login)) % 10**8,
            "type": "Bot" if login.endswith("[bot]") else "User",
            "url": f"{self.url}/users/{quote(login)}",
        }

    def _label_json(self, name: str) -> dict[str, Any]:
        label = self.repo.labels.get(name, {"name": name, "color": "ededed", "description": ""})
        return {**label, "url": self._api(f"/labels/{quote(name)}"), "default": False}

    def _pull_json(self, pull: FakePull) -> dict[str, Any]:
        data = json.loads(json.dumps(pull.template)) if pull.template else {}
        head_repo = (
            {"full_name": pull.head_repo, "name": pull.head_repo.split("/")[1]} if pull.head_repo else None
        )
        data.update(
            {
                "url": self._api(f"/pulls/{pull.number}"),
                "issue_url": self._api(f"/issues/{pull.number}"),
                "number": pull.number,
                "title": pull.title,
                "state": pull.state,
                "merged": pull.merged,
                "user": self._user(pull.author),
                "labels": [self._label_json(name) for name in pull.labels],
                "head": {"sha": pull.head_sha, "ref": pull.head_ref, "repo": head_repo},
                "base": {
                    "sha": "0" * 40,
                    "ref": pull.base_ref,
                    "repo": {"full_name": self.repo.full_name, "name": self.repo.full_name.split("/")[1]},
                },
            }
        )
        return data

    def _comment_json(self, comment: FakeComment) -> dict[str, Any]:
        return {
            "id": comment.id,
            "url": self._api(f"/issues/comments/{comment.id}"),
            "issue_url": self._api(f"/issues/{comment.number}"),
            "body": comment.body,
            "user": self._user(comment.author),
            "created_at": iso(comment.created_at),
            "updated_at": iso(comment.updated_at),
            "author_association": "NONE",
        }

    def _check_run_json(self, run: FakeCheckRun) -> dict[str, Any]:
        return {
            "id": run.id,
            "url": self._api(f"/check-runs/{run.id}"),
            "name": run.name,
            "head_sha": run.head_sha,
            "status": run.status,
            "conclusion": run.conclusion,
            "started_at": run.started_at,
            "completed_at": run.completed_at,
            "output": {**run.output, "annotations_count": len(run.annotations)},
        }

    def _run_json(self, run: FakeRun) -> dict[str, Any]:
        return {
            "id": run.id,
            "url": self._api(f"/actions/runs/{run.id}"),
            "artifacts_url": self._api(f"/actions/runs/{run.id}/artifacts"),
            "html_url": f"{self.url}/{self.repo.full_name}/actions/runs/{run.id}",
            "head_sha": run.head_sha,
            "event": run.event,
            "status": run.status,
            "conclusion": run.conclusion,
            "created_at": iso(run.created_at),
            "path": f".github/workflows/{run.workflow}",
            "head_branch": run.head_branch,
        }

    def _artifact_json(self, artifact: FakeArtifact, run: FakeRun) -> dict[str, Any]:
        return {
            "id": artifact.id,
            "name": artifact.name,
            "size_in_bytes": artifact.size_in_bytes,
            "expired": artifact.expired,
            "created_at": iso(run.created_at),
            "url": self._api(f"/actions/artifacts/{artifact.id}"),
            "archive_download_url": self._api(f"/actions/artifacts/{artifact.id}/zip"),
            # A run's head_sha is the commit its workflow ran on: for pull_request_target that is
            # the base branch, not the PR. That is why grade artifacts carry the PR's SHA in their name.
            "workflow_run": {"id": run.id, "head_sha": run.head_sha, "head_branch": run.head_branch},
        }

    def _page(self, request: Request, items: list[Any], rest: str, key: str | None = None) -> tuple:
        """GitHub pagination: ?per_page (≤100, default 30) & ?page, with a Link header."""
        per_page = min(int(request.query.get("per_page", 30)), 100)
        page = max(int(request.query.get("page", 1)), 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        base = {k: v for k, v in request.query.items() if k not in ("page", "per_page")}
        links = []

        def link(number: int, rel: str) -> str:
            params = "&".join([*(f"{k}={quote(v)}" for k, v in base.items()), f"per_page={per_page}"])
            return f'<{self._api(rest)}?{params}&page={number}>; rel="{rel}"'

        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        headers = {"Link": ", ".join(links)} if links else {}
        payload: Any = {"total_count": len(items), key: chunk} if key else chunk
        return 200, payload, headers

    # --- handlers --------------------------------------------------------------------------

    def _pull(self, request: Request) -> FakePull:
        pull = self.repo.pulls.get(int(request.params["n"]))
        if pull is None:
            raise HttpError(404, "Not Found")
        return pull

    def _get_repo(self, request: Request) -> tuple:
        name = self.repo.full_name.split("/")[1]
        return 200, {
            "full_name": self.repo.full_name,
            "name": name,
            "default_branch": self.repo.default_branch,
        }

    def _get_pull(self, request: Request) -> tuple:
        return 200, self._pull_json(self._pull(request))

    def _list_pull_files(self, request: Request) -> tuple:
        pull = self._pull(request)
        files = [
            {"sha": "0" * 40, "additions": 1, "deletions": 0, "changes": 1, **item} for item in pull.files
        ]
        return self._page(request, files, f"/pulls/{pull.number}/files")

    def _list_pull_commits(self, request: Request) -> tuple:
        pull = self._pull(request)
        shas = pull.commits or [pull.head_sha]
        items = [
            {"sha": sha, "url": self._api(f"/commits/{sha}"), "commit": {"message": f"commit {sha[:7]}"}}
            for sha in shas
        ]
        return self._page(request, items, f"/pulls/{pull.number}/commits")

    def _list_comments(self, request: Request) -> tuple:
        number = int(request.params["n"])
        self._pull(request)
        items = [self._comment_json(c) for c in self.comments_on(number)]
        return self._page(request, items, f"/issues/{number}/comments")

    def _comment_body(self, request: Request) -> str:
        body = (request.body or {}).get("body") if isinstance(request.body, dict) else None
        if not isinstance(body, str) or not body:
            raise unprocessable("IssueComment", "body", "Body cannot be blank", "missing_field")
        if len(body) > COMMENT_LIMIT:
            raise unprocessable("IssueComment", "data", "Body is too long (maximum is 65536 characters)")
        return body

    def _create_comment(self, request: Request) -> tuple:
        self._pull(request)
        comment = self.add_comment(int(request.params["n"]), request.login, self._comment_body(request))
        return 201, self._comment_json(comment)

    def _comment(self, request: Request) -> FakeComment:
        comment = self.repo.comments.get(int(request.params["id"]))
        if comment is None:
            raise HttpError(404, "Not Found")
        return comment

    def _get_comment(self, request: Request) -> tuple:
        return 200, self._comment_json(self._comment(request))

    def _edit_comment(self, request: Request) -> tuple:
        # Like GitHub for a token with write access: anyone's comment can be edited. The bot must
        # choose which ones it touches; the fake does not protect students from it.
        comment = self._comment(request)
        comment.body = self._comment_body(request)
        comment.updated_at = self._clock.tick()
        return 200, self._comment_json(comment)

    def _delete_comment(self, request: Request) -> tuple:
        comment = self._comment(request)
        del self.repo.comments[comment.id]
        return 204, None

    def _list_labels(self, request: Request) -> tuple:
        return self._page(request, [self._label_json(n) for n in self.repo.labels], "/labels")

    def _create_label(self, request: Request) -> tuple:
        body = request.body if isinstance(request.body, dict) else {}
        name = body.get("name")
        if not name:
            raise unprocessable("Label", "name", "name is missing", "missing_field")
        if name in self.repo.labels:
            raise unprocessable("Label", "name", "already_exists", "already_exists")
        color = str(body.get("color", "ededed"))
        if not re.fullmatch(r"[0-9a-fA-F]{6}", color):
            raise unprocessable("Label", "color", "color is invalid", "invalid")
        self.add_label(name, color, body.get("description") or "")
        return 201, self._label_json(name)

    def _list_issue_labels(self, request: Request) -> tuple:
        pull = self._pull(request)
        return self._page(
            request, [self._label_json(n) for n in pull.labels], f"/issues/{pull.number}/labels"
        )

    def _add_issue_labels(self, request: Request) -> tuple:
        pull = self._pull(request)
        names = request.body.get("labels") if isinstance(request.body, dict) else request.body
        for name in names or []:
            if name not in self.repo.labels:  # GitHub creates unknown labels, grey, undescribed
                self.add_label(name)
            if name not in pull.labels:
                pull.labels.append(name)
        return 200, [self._label_json(n) for n in pull.labels]

    def _remove_issue_label(self, request: Request) -> tuple:
        pull = self._pull(request)
        name = request.params["name"]
        if name not in pull.labels:
            raise HttpError(404, "Label does not exist")
        pull.labels.remove(name)
        return 200, [self._label_json(n) for n in pull.labels]

    def _validate_check_output(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        output = body.get("output")
        if output is None:
            return []
        if not output.get("title") or not output.get("summary"):
            raise unprocessable("CheckRun", "output", "title and summary are required", "missing_field")
        for key in ("summary", "text"):
            if len(output.get(key) or "") > OUTPUT_LIMIT:
                raise unprocessable("CheckRun", f"output.{key}", f"{key} is too long (maximum is 65535)")
        annotations = output.get("annotations") or []
        if len(annotations) > ANNOTATIONS_PER_REQUEST:
            raise unprocessable(
                "CheckRun", "output.annotations", "Only 50 annotations are allowed per request"
            )
        required = {"path", "start_line", "end_line", "annotation_level", "message"}
        for item in annotations:
            if not required <= item.keys():
                raise unprocessable("CheckRun", "annotations", f"missing {sorted(required - item.keys())}")
            if item["annotation_level"] not in ("notice", "warning", "failure"):
                raise unprocessable("CheckRun", "annotation_level", "must be notice, warning or failure")
        return annotations

    def _apply_check_fields(self, run: FakeCheckRun, body: dict[str, Any]) -> None:
        status = body.get("status", run.status)
        conclusion = body.get("conclusion", run.conclusion)
        if conclusion is not None and "status" not in body:
            status = "completed"
        if status == "completed" and not conclusion:
            raise unprocessable("CheckRun", "conclusion", "conclusion is required when status is completed")
        annotations = self._validate_check_output(body)
        run.status, run.conclusion = status, conclusion
        run.started_at = body.get("started_at", run.started_at) or iso(self._clock.tick())
        run.completed_at = body.get("completed_at", run.completed_at)
        if body.get("output"):
            run.output = {k: v for k, v in body["output"].items() if k != "annotations"}
            run.annotations.extend(annotations)
        run.updates.append(body)

    def _create_check_run(self, request: Request) -> tuple:
        body = request.body if isinstance(request.body, dict) else {}
        if not body.get("name") or not re.fullmatch(r"[0-9a-f]{40}", str(body.get("head_sha", ""))):
            raise unprocessable("CheckRun", "head_sha", "name and a 40-hex head_sha are required")
        run = FakeCheckRun(self._ids.take(), body["name"], body["head_sha"], "queued", None, {}, [], [])
        self._apply_check_fields(run, body)
        self.repo.check_runs[run.id] = run
        return 201, self._check_run_json(run)

    def _check_run(self, request: Request) -> FakeCheckRun:
        run = self.repo.check_runs.get(int(request.params["id"]))
        if run is None:
            raise HttpError(404, "Not Found")
        return run

    def _get_check_run(self, request: Request) -> tuple:
        return 200, self._check_run_json(self._check_run(request))

    def _update_check_run(self, request: Request) -> tuple:
        run = self._check_run(request)
        self._apply_check_fields(run, request.body if isinstance(request.body, dict) else {})
        return 200, self._check_run_json(run)

    def _list_check_runs(self, request: Request) -> tuple:
        ref = request.params["ref"]
        name = request.query.get("check_name")
        runs = [
            self._check_run_json(r)
            for r in self.repo.check_runs.values()
            if r.head_sha == ref and (name is None or r.name == name)
        ]
        return self._page(request, runs, f"/commits/{ref}/check-runs", key="check_runs")

    def _files_at(self, ref: str) -> dict[str, FakeFile]:
        files = self.repo.commits.get(ref)
        if files is None:
            raise HttpError(404, "Not Found")
        return files

    def _get_tree(self, request: Request) -> tuple:
        sha = request.params["sha"]
        files = self._files_at(sha)
        entries: dict[str, dict[str, Any]] = {}
        for path, item in sorted(files.items()):
            parts = path.split("/")
            for depth in range(1, len(parts)):
                folder = "/".join(parts[:depth])
                entries.setdefault(
                    folder,
                    {"path": folder, "mode": "040000", "type": "tree", "sha": git_blob_sha(folder.encode())},
                )
            kind = "commit" if item.mode == "160000" else "blob"
            blob_sha = git_blob_sha(item.content)
            entries[path] = {
                "path": path,
                "mode": item.mode,
                "type": kind,
                "sha": blob_sha,
                "url": self._api(f"/git/blobs/{blob_sha}"),
                **({"size": len(item.content)} if kind == "blob" else {}),
            }
        if request.query.get("recursive") not in ("1", "true"):
            entries = {p: e for p, e in entries.items() if "/" not in p}
        tree = sorted(entries.values(), key=lambda e: e["path"])
        return 200, {"sha": sha, "url": self._api(f"/git/trees/{sha}"), "tree": tree, "truncated": False}

    def _get_blob(self, request: Request) -> tuple:
        sha = request.params["sha"]
        content = self.repo.blobs.get(sha)
        if content is None:
            raise HttpError(404, "Not Found")
        encoded = base64.encodebytes(content).decode("ascii")  # GitHub wraps lines, like this
        return 200, {
            "sha": sha,
            "size": len(content),
            "url": self._api(f"/git/blobs/{sha}"),
            "content": encoded,
            "encoding": "base64",
        }

    def _get_contents(self, request: Request) -> tuple:
        ref = request.query.get("ref") or ""
        files = self._files_at(ref)
        path = request.params["path"].strip("/")
        item = files.get(path)
        if item is None:
            inside = sorted(p for p in files if p.startswith(path + "/"))
            if not inside:
                raise HttpError(404, "Not Found")
            names = sorted({p[len(path) + 1 :].split("/")[0] for p in inside})
            return 200, [{"type": "file", "name": n, "path": f"{path}/{n}"} for n in names]
        sha = git_blob_sha(item.content)
        inline = len(item.content) <= CONTENTS_INLINE_LIMIT
        return 200, {
            "type": "file",
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "size": len(item.content),
            "url": self._api(f"/contents/{path}?ref={ref}"),
            "encoding": "base64" if inline else "none",
            "content": base64.encodebytes(item.content).decode("ascii") if inline else "",
        }

    def _run(self, request: Request) -> FakeRun:
        run = self.repo.runs.get(int(request.params["id"]))
        if run is None:
            raise HttpError(404, "Not Found")
        return run

    def _get_run(self, request: Request) -> tuple:
        return 200, self._run_json(self._run(request))

    def _artifact(self, artifact_id: int) -> FakeArtifact:
        for run in self.repo.runs.values():
            for artifact in run.artifacts:
                if artifact.id == artifact_id:
                    return artifact
        raise HttpError(404, "Not Found")

    def _download_artifact(self, request: Request) -> tuple:
        """Like GitHub: 410 for an expired artifact, else a redirect to a signed storage URL (here a
        path of this server that needs no token: BLOB_PREFIX)."""
        artifact = self._artifact(int(request.params["id"]))
        if artifact.expired:
            raise HttpError(410, "Artifact has expired")
        # Another host, as GitHub's storage is: the client must not send the token there.
        storage = self.url.replace("127.0.0.1", "localhost")
        return 302, None, {"Location": f"{storage}{BLOB_PREFIX}{artifact.id}.zip?sig=fake"}

    def blob_download(self, path: str) -> tuple[int, bytes]:
        name = path[len(BLOB_PREFIX) :].removesuffix(".zip")
        with self._lock:
            try:
                return 200, self._artifact(int(name)).archive
            except (HttpError, ValueError):
                return 404, b""

    def _list_artifacts(self, request: Request) -> tuple:
        name = request.query.get("name")
        found = [
            (artifact, run)
            for run in self.repo.runs.values()
            for artifact in run.artifacts
            if name is None or artifact.name == name
        ]
        found.sort(key=lambda pair: pair[1].created_at, reverse=True)
        items = [self._artifact_json(artifact, run) for artifact, run in found]
        return self._page(request, items, "/actions/artifacts", key="artifacts")


class _Handler(BaseHTTPRequestHandler):
    github: FakeGitHub
    protocol_version = "HTTP/1.1"  # keep-alive, as PyGithub's requests session expects
    # Headers and body go out in two writes; with Nagle's algorithm the body waits for the client's
    # delayed ACK (~40 ms per request).
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, payload, extra = self.github.handle(self.command, self.path, headers, raw)
        if isinstance(payload, bytes):  # a download
            data = payload
        else:
            data = b"" if payload is None else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        if "Content-Type" not in extra:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve  # noqa: N815 (http.server names)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read fake.requests
        pass
