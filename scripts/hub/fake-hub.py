#!/usr/bin/env python3
"""A local stand-in for the Hugging Face Hub, for the download tests (scripts/hub/hub-check.py).

Serves folders as model repositories with the Hub's routes and headers:
  GET  /api/models/ORG/NAME/revision/REV[?blobs=True]   {"id", "sha", "siblings": [{rfilename, blobId, size, lfs}]}
  GET  /api/models/ORG/NAME/tree/REV?recursive=True     [{type, path, size, oid, lfs}] (huggingface_hub >= 1.0)
  HEAD|GET /ORG/NAME/resolve/REV/FILE
       LFS files (*.safetensors, *.gguf): 302 to /cdn/<sha256> on the CDN port (another origin) with X-Linked-Etag (sha256), X-Linked-Size,
       X-Repo-Commit and ETag (the pointer's git oid), like the Hub's redirect to its CDN;
       other files: 200 with ETag (git blob sha1), X-Repo-Commit, Content-Length.
  GET  /cdn/<sha256>    the content, with Range (206 / Content-Range) and no Hub headers (both ports serve it).
Errors carry X-Error-Code as the Hub sends them: RepoNotFound (404), RevisionNotFound (404), EntryNotFound (404),
GatedRepo (401 without a token, 403 with a wrong one).

Fault injection (flags): --cut FILE:BYTES:TIMES closes the connection after BYTES of the first TIMES content
transfers of FILE; --corrupt FILE serves FILE with its last byte flipped (headers unchanged). Every request is
appended to --log as one JSON line {method, path, range, auth}. Prints the port on stdout, then serves until killed.
"""
import argparse, hashlib, http.server, json, os, sys, threading, urllib.parse

parser = argparse.ArgumentParser()
parser.add_argument("--repo", action="append", default=[], help="ORG/NAME=DIRECTORY")
parser.add_argument("--gated", action="append", default=[], help="ORG/NAME that needs --token")
parser.add_argument("--token", default="hf_test_token")
parser.add_argument("--cut", action="append", default=[])
parser.add_argument("--corrupt", action="append", default=[])
parser.add_argument("--log")
parser.add_argument("--port", type=int, default=0)
args = parser.parse_args()

LFS_SUFFIXES = (".safetensors", ".gguf", ".bin")
lock = threading.Lock()
cuts = {}
for spec in args.cut:
    name, count, times = spec.rsplit(":", 2)
    cuts[name] = [int(count), int(times)]


def git_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Repo:
    def __init__(self, repo_id, folder):
        self.id = repo_id
        self.files = {}
        for base, _, names in os.walk(folder):
            for name in sorted(names):
                path = os.path.join(base, name)
                rel = os.path.relpath(path, folder)
                with open(path, "rb") as f:
                    data = f.read()
                entry = {"data": data, "size": len(data)}
                if rel.endswith(LFS_SUFFIXES):
                    sha = hashlib.sha256(data).hexdigest()
                    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {len(data)}\n".encode()
                    entry.update(lfs=sha, oid=git_sha1(pointer), pointer_size=len(pointer))
                else:
                    entry.update(lfs=None, oid=git_sha1(data))
                self.files[rel] = entry
        digest = hashlib.sha1()
        for rel in sorted(self.files):
            digest.update(rel.encode() + self.files[rel]["oid"].encode())
        self.commit = digest.hexdigest()


repos = {}
for spec in args.repo:
    repo_id, folder = spec.split("=", 1)
    repos[repo_id] = Repo(repo_id, folder)
blobs = {}
for repo in repos.values():
    for rel, entry in repo.files.items():
        if entry["lfs"]:
            blobs[entry["lfs"]] = (rel, entry)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def record(self):
        if args.log:
            with lock, open(args.log, "a") as f:
                f.write(json.dumps({"method": self.command, "path": self.path, "range": self.headers.get("Range"),
                                    "auth": self.headers.get("Authorization")}) + "\n")

    def send(self, status, body=b"", headers=(), content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code, message):
        self.send(status, json.dumps({"error": message}).encode(), [("X-Error-Code", code), ("X-Error-Message", message)])

    def authorize(self, repo_id):
        if repo_id not in args.gated:
            return True
        auth = self.headers.get("Authorization")
        if auth is None:
            self.error(401, "GatedRepo", f"Access to model {repo_id} is restricted. You must have access to it and be authenticated to access it. Please log in.")
            return False
        if auth != f"Bearer {args.token}":
            self.error(403, "GatedRepo", f"Access to model {repo_id} is restricted and you are not in the authorized list.")
            return False
        return True

    def find(self, parts):
        repo_id = "/".join(parts[:2])
        repo = repos.get(repo_id)
        if repo is None:
            self.error(404, "RepoNotFound", f"Repository Not Found for url: {self.path}.")
            return None
        if not self.authorize(repo_id):
            return None
        return repo

    def revision_ok(self, repo, revision):
        if urllib.parse.unquote(revision) in ("main", repo.commit):
            return True
        self.error(404, "RevisionNotFound", f"Invalid rev id: {urllib.parse.unquote(revision)}")
        return False

    def do_HEAD(self):
        self.handle_request()

    def do_GET(self):
        self.handle_request()

    def handle_request(self):
        self.record()
        url = urllib.parse.urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] in ("revision", "tree"):
            repo = self.find(parts[2:4])
            if repo is None or not self.revision_ok(repo, parts[5]):
                return
            if parts[4] == "revision":
                siblings = []
                for rel, e in sorted(repo.files.items()):
                    s = {"rfilename": rel, "blobId": e["oid"], "size": e["size"]}
                    if e["lfs"]:
                        s["lfs"] = {"sha256": e["lfs"], "size": e["size"], "pointerSize": e["pointer_size"]}
                    siblings.append(s)
                body = {"id": repo.id, "modelId": repo.id, "sha": repo.commit, "private": False, "siblings": siblings}
            else:
                body = []
                for rel, e in sorted(repo.files.items()):
                    item = {"type": "file", "path": rel, "size": e["size"], "oid": e["oid"]}
                    if e["lfs"]:
                        item["lfs"] = {"oid": e["lfs"], "size": e["size"], "pointerSize": e["pointer_size"]}
                    body.append(item)
            self.send(200, json.dumps(body).encode())
        elif len(parts) >= 5 and parts[2] == "resolve":
            repo = self.find(parts[:2])
            if repo is None or not self.revision_ok(repo, parts[3]):
                return
            rel = urllib.parse.unquote("/".join(parts[4:]))
            entry = repo.files.get(rel)
            if entry is None:
                self.error(404, "EntryNotFound", f"{rel} does not exist on {parts[3]}")
                return
            common = [("X-Repo-Commit", repo.commit), ("Accept-Ranges", "bytes")]
            if entry["lfs"]:
                self.send(302, b"", common + [("ETag", f'"{entry["oid"]}"'), ("X-Linked-Etag", f'"{entry["lfs"]}"'),
                                             ("X-Linked-Size", str(entry["size"])), ("Location", f"http://127.0.0.1:{cdn.server_address[1]}/cdn/{entry['lfs']}")],
                          content_type="text/plain")
            else:
                self.content(rel, entry, common + [("ETag", f'"{entry["oid"]}"')])
        elif len(parts) == 2 and parts[0] == "cdn" and parts[1] in blobs:
            rel, entry = blobs[parts[1]]
            self.content(rel, entry, [("Accept-Ranges", "bytes"), ("ETag", f'"{parts[1]}"')])
        else:
            self.send(404, b"not found", content_type="text/plain")

    def content(self, rel, entry, headers):
        data = entry["data"]
        if rel in args.corrupt:
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        start = 0
        status = 200
        if self.headers.get("Range", "").startswith("bytes="):
            start = int(self.headers["Range"][6:].split("-")[0])
            if start >= len(data):
                self.send(416, b"", headers + [("Content-Range", f"bytes */{len(data)}")], "text/plain")
                return
            status = 206
            headers = headers + [("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")]
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        with lock:
            cut = cuts.get(rel)
            limit = None
            if cut and cut[1] > 0:
                cut[1] -= 1
                limit = max(0, cut[0] - start)
        if limit is not None:
            self.wfile.write(body[:limit])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


# The CDN listens on a port of its own: another origin, as the Hub's CDN is another host, so clients keep the LFS
# headers of the Hub's 302 (huggingface_hub follows redirects that stay on the same origin) and drop Authorization.
cdn = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
cdn.daemon_threads = True
threading.Thread(target=cdn.serve_forever, daemon=True).start()
server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
