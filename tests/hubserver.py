"""A loopback stand-in for the Hugging Face hub: the endpoints ``HfApi.upload_folder`` calls.

The real hub is not reachable here, so this server answers, in memory:

- ``POST /api/repos/create`` (409 when the repo exists, as the hub does);
- ``POST /api/validate-yaml`` (parses the card's YAML header);
- ``POST /api/{type}s/{repo}/preupload/{rev}``: every file is ``regular`` (sent
  base64 inside the commit), with the git oid of the copy the server holds, so
  the client can drop unchanged files;
- ``POST /api/{type}s/{repo}/commit/{rev}``: the NDJSON commit;
- ``GET /api/{type}s/{repo}/revision/{rev}``: repo info (asked when nothing changed).

The real hub answers ``lfs`` for large files and then the client streams them
through xet storage, a protocol of its own that this server does not fake; every
other step of the client (scan, preupload, no-op detection, batched commits) is
the real code. ``requests`` records each call (method, path, committed paths,
authorization header) for the tests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml


def git_oid(data: bytes) -> str:
    """The git blob sha1 the hub reports for a regular file."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[str] = field(default_factory=list)
    private: bool = False


@dataclass
class Call:
    method: str
    path: str
    authorization: str | None
    committed: list[str] = field(default_factory=list)


class FakeHub:
    """Run with ``with FakeHub() as hub: HfApi(endpoint=hub.url)``."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[Call] = []
        self.lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                hub._handle(self, "GET")

            def do_POST(self) -> None:
                hub._handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def calls(self, kind: str) -> list[Call]:
        """Recorded calls whose path contains ``kind`` (``commit``, ``preupload``, ...)."""
        return [c for c in self.requests if f"/{kind}" in c.path]

    # --------------------------------------------------------------- dispatch

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        path = h.path.split("?", 1)[0]
        call = Call(method, path, h.headers.get("Authorization"))
        with self.lock:
            self.requests.append(call)
            status, payload = self._route(method, path, body, call)
        data = json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _route(self, method: str, path: str, body: bytes, call: Call) -> tuple[int, Any]:
        if method == "POST" and path == "/api/repos/create":
            return self._create(json.loads(body))
        if method == "POST" and path == "/api/validate-yaml":
            return self._validate(json.loads(body))
        m = re.fullmatch(r"/api/(\w+)s/([^/]+/[^/]+)/(preupload|commit|revision)/(.+)", path)
        if not m or m.group(2) not in self.repos:
            return 404, {"error": "Repository not found"}
        repo = self.repos[m.group(2)]
        if m.group(3) == "preupload" and method == "POST":
            return 200, self._preupload(repo, json.loads(body))
        if m.group(3) == "commit" and method == "POST":
            return self._commit(repo, m.group(2), body, call)
        if m.group(3) == "revision" and method == "GET":
            sha = repo.commits[-1] if repo.commits else "0" * 40
            siblings = [{"rfilename": p} for p in sorted(repo.files)]
            return 200, {"id": m.group(2), "sha": sha, "siblings": siblings, "private": repo.private}
        return 405, {"error": "method not allowed"}

    # --------------------------------------------------------------- endpoints

    def _create(self, req: dict) -> tuple[int, Any]:
        repo_id = f"{req.get('organization') or 'user'}/{req['name']}"
        url = f"{self.url}/datasets/{repo_id}"
        if repo_id in self.repos:
            return 409, {"error": "You already created this dataset repo", "url": url}
        self.repos[repo_id] = Repo(private=req.get("visibility") == "private")
        return 200, {"url": url, "name": repo_id}

    def _validate(self, req: dict) -> tuple[int, Any]:
        text = req.get("content", "")
        m = re.match(r"---\n(.*?)\n---\n", text, re.S)
        try:
            meta = yaml.safe_load(m.group(1)) if m else None
        except yaml.YAMLError as exc:
            return 400, {"errors": [{"message": str(exc)}], "warnings": []}
        if not isinstance(meta, dict):
            return 200, {"errors": [], "warnings": [{"message": "empty or missing yaml metadata"}]}
        return 200, {"errors": [], "warnings": []}

    def _preupload(self, repo: Repo, req: dict) -> dict:
        files = []
        for f in req["files"]:
            held = repo.files.get(f["path"])
            files.append(
                {
                    "path": f["path"],
                    "uploadMode": "regular",
                    "shouldIgnore": False,
                    "oid": git_oid(held) if held is not None else None,
                }
            )
        return {"files": files}

    def _commit(self, repo: Repo, repo_id: str, body: bytes, call: Call) -> tuple[int, Any]:
        for line in body.splitlines():
            item = json.loads(line)
            if item["key"] == "file":
                value = item["value"]
                repo.files[value["path"]] = base64.b64decode(value["content"])
                call.committed.append(value["path"])
            elif item["key"] in ("lfsFile", "deletedFile", "deletedFolder"):
                return 400, {"error": f"{item['key']} is not supported by the fake hub"}
        oid = hashlib.sha1(f"{repo_id}{len(repo.commits)}".encode()).hexdigest()
        repo.commits.append(oid)
        return 200, {
            "commitUrl": f"{self.url}/datasets/{repo_id}/commit/{oid}",
            "commitOid": oid,
            "success": True,
        }
