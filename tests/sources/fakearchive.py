"""A loopback HTTP server that plays the DANDI API and a file archive, for offline tests.

It answers the requests the real ``dandi.dandiapi.DandiAPIClient`` makes
(``/server-info``, the paginated asset list of a version, an asset's metadata,
the version's metadata, ``/api/assets/<id>/download/`` as a redirect to the
blob) from a real DANDI listing, and serves blobs with ``Range`` support. Every
request is recorded; a blob can be set to break off after some bytes, once, or to answer 503 a number
of times first; a :class:`Gate` holds blob requests to count how many are
answered at once.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Gate:
    """Holds each blob request to see how many a client sends at once.

    A request is held until ``width`` are being answered together (or all
    ``total`` have come: the tail of a run), so a client that can run ``width``
    at once is seen doing it; then ``grace_s`` longer, so that a client that runs
    more than ``width`` is seen doing that too. ``most`` is the most at once,
    ``timeouts`` the requests that waited ``timeout_s`` for company in vain.
    A correct client's ``most`` is exactly ``width`` whatever the timing.
    """

    width: int
    total: int
    grace_s: float = 0.3
    timeout_s: float = 60.0
    active: int = 0
    most: int = 0
    started: int = 0
    timeouts: int = 0
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False)

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._cond:
            self.active += 1
            self.started += 1
            self.most = max(self.most, self.active)
            self._cond.notify_all()
            if not self._cond.wait_for(self._has_company, self.timeout_s):
                self.timeouts += 1
            self._cond.wait_for(lambda: self.active > self.width, self.grace_s)
        try:
            yield
        finally:
            with self._cond:
                self.active -= 1
                self._cond.notify_all()

    def _has_company(self) -> bool:
        return self.active >= self.width or self.started >= self.total


@dataclass
class FakeArchive:
    """The served content; mutate it from a test, then point a client at :attr:`url`."""

    url: str = ""
    blobs: dict[str, bytes] = field(default_factory=dict)  # path -> bytes
    docs: dict[str, Any] = field(default_factory=dict)  # path -> JSON answer
    redirects: dict[str, str] = field(default_factory=dict)  # path -> path
    cut_after: dict[str, int] = field(default_factory=dict)  # path -> bytes sent, once
    fail_first: dict[str, int] = field(default_factory=dict)  # path -> 503 answers before the blob
    gate: Gate | None = None  # holds blob requests, counting them
    ranges: bool = True  # honour Range requests
    seen: list[Seen] = field(default_factory=list)

    def requests_for(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def serve_dandiset(
        self, listing: dict[str, Any], files: dict[str, bytes], version: str = ""
    ) -> dict[str, Any]:
        """Serve a dandiset version from a real listing, with ``files`` (asset path -> bytes)
        as the blobs of those assets: their size and sha256 are replaced by the served
        bytes' own; the other assets are listed as they are, and not served.

        ``version`` replaces the listing's own (the recipe pins one). Returns the
        listing as served.
        """
        import hashlib

        ds, version = listing["dandiset_id"], version or listing["version"]
        assets = []
        for a in listing["assets"]:
            a = dict(a)
            if a["path"] in files:
                data = files[a["path"]]
                a["size"], a["sha256"] = len(data), hashlib.sha256(data).hexdigest()
                blob = f"/blobs/{a['blob']}"
                self.blobs[blob] = data
                self.redirects[f"/api/assets/{a['asset_id']}/download/"] = blob
            assets.append(a)
        vpath = f"/api/dandisets/{ds}/versions/{version}/"
        self.docs[f"{vpath}assets/"] = [_list_entry(a) for a in assets]
        for a in assets:
            self.docs[f"{vpath}assets/{a['asset_id']}/"] = _asset_metadata(self.url, ds, a)
        self.docs[vpath] = {
            "identifier": f"DANDI:{ds}",
            "id": f"DANDI:{ds}/{version}",
            "name": listing.get("name", ""),
            "version": version,
            "citation": listing.get("citation", ""),
        }
        return {**listing, "assets": assets}


def _list_entry(a: dict[str, Any]) -> dict[str, Any]:
    stamp = "2024-01-01T00:00:00.000000Z"
    return {
        "asset_id": a["asset_id"],
        "blob": a["blob"],
        "zarr": None,
        "path": a["path"],
        "size": a["size"],
        "created": stamp,
        "modified": stamp,
    }


def _asset_metadata(base: str, ds: str, a: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"dandiasset:{a['asset_id']}",
        "path": a["path"],
        "contentSize": a["size"],
        "encodingFormat": a.get("encodingFormat", "application/x-nwb"),
        "digest": {"dandi:dandi-etag": a["dandi_etag"], "dandi:sha2-256": a["sha256"]},
        "contentUrl": [f"{base}/api/assets/{a['asset_id']}/download/"],
        "dandiset": ds,
    }


class _Handler(BaseHTTPRequestHandler):
    archive: FakeArchive  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        fa = self.archive
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        fa.seen.append(Seen(self.command, path, dict(self.headers.items())))
        if path == "/server-info":
            api = {"url": f"{fa.url}/api"}
            info = {"version": "0.0.0", "services": {"api": api}}
            return self._json({**info, "cli-minimal-version": "0.0.0", "cli-bad-versions": []}, body)
        if path in fa.redirects:
            self.send_response(302)
            self.send_header("Location", f"{fa.url}{fa.redirects[path]}")
            self.send_header("Content-Length", "0")
            return self.end_headers()
        if path in fa.docs:
            doc = fa.docs[path]
            if isinstance(doc, list):  # a paginated list, one page
                prefix = query.get("path", [""])[0]
                results = [d for d in doc if d.get("path", "").startswith(prefix)]
                doc = {"count": len(results), "next": None, "previous": None, "results": results}
            return self._json(doc, body)
        if path in fa.blobs and fa.fail_first.get(path, 0) > 0:
            fa.fail_first[path] -= 1
            return self._json({"detail": "try again later"}, body, status=503)
        if path in fa.blobs and fa.gate is not None and body:
            with fa.gate.hold():
                return self._blob(path, fa.blobs[path], body)
        if path in fa.blobs:
            return self._blob(path, fa.blobs[path], body)
        self._json({"detail": "Not found."}, body, status=404)

    def _json(self, doc: Any, body: bool, status: int = 200) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _blob(self, path: str, data: bytes, body: bool) -> None:
        fa = self.archive
        start, end = 0, len(data) - 1
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if m and fa.ranges:
            start = int(m.group(1))
            end = min(int(m.group(2)), end) if m.group(2) else end
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                return self.end_headers()
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes" if fa.ranges else "none")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        if not body:
            return
        chunk = data[start : end + 1]
        cut = fa.cut_after.pop(path, None)
        try:
            if cut is not None:  # send part of the body, then hang up
                self.wfile.write(chunk[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client read what it wanted and left (remfile's size probe)


def start(archive: FakeArchive) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Serve ``archive`` on 127.0.0.1 at a free port; sets ``archive.url``."""
    handler = type("Handler", (_Handler,), {"archive": archive})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    archive.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def real_listing(real_data: Path, dandiset: str) -> dict[str, Any]:
    """A real DANDI listing from ``real-data/dandi-listings/``."""
    return json.loads((real_data / "dandi-listings" / f"{dandiset}.json").read_text())
