#!/usr/bin/env python3
"""Hub downloads end to end against the local fake Hub (fake-hub.py), with the bundled models/ling-tiny as the
served repository: download into the cache layout and serve; a cut transfer resumes (within a run and in the next
run); a wrong checksum, a 401, a 403, a 404 (repository and revision) and an offline miss each give their clear
error; the token goes to the Hub, not to the CDN; a GGUF-only repository needs --hf-file, which fetches that file
only; a cache written by the huggingface_hub package is used with no network, and huggingface_hub reads ours.
Usage: hub-check.py [path/to/ling-serve]. Prints 'N passed, N failed'."""
import hashlib, json, os, shutil, socket, subprocess, sys, tempfile, time, urllib.request

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, ".build/release/ling-serve"))
model = os.path.join(root, "models/ling-tiny")
work = tempfile.mkdtemp(prefix="hub-check-")
REPO = "test-org/ling-tiny"
passed = failed = 0
# A GGUF-only repository: two complete Q8_0 files (tokenizer and chat template inside) and a README.
gguf_repo = os.path.join(work, "gguf-repo")
os.makedirs(gguf_repo)
for name, fixture in (("ling-release.Q8_0.gguf", "release-bf16.q8_0.gguf"), ("ling-stress.Q8_0.gguf", "stress-f32.q8_0.gguf")):
    shutil.copy(os.path.join(root, "Tests/ModelsTests/Fixtures/gguf", fixture), os.path.join(gguf_repo, name))
open(os.path.join(gguf_repo, "README.md"), "w").write("GGUF files\n")
GGUF_REPO = "test-org/ling-gguf"


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok   " + name)
    else:
        failed += 1
        print("FAIL " + name + (f": {detail}" if detail else ""))


class FakeHub:
    def __init__(self, *extra):
        self.log = os.path.join(work, f"hub-{time.time_ns()}.log")
        self.process = subprocess.Popen([sys.executable, os.path.join(root, "scripts/hub/fake-hub.py"), "--repo", f"{REPO}={model}",
                                         "--repo", f"test-org/gated={model}", "--repo", f"{GGUF_REPO}={gguf_repo}", "--gated", "test-org/gated", "--log", self.log, *extra],
                                        stdout=subprocess.PIPE, text=True)
        self.url = "http://127.0.0.1:" + self.process.stdout.readline().strip()

    def requests(self):
        if not os.path.exists(self.log):
            return []
        return [json.loads(line) for line in open(self.log)]

    def stop(self):
        self.process.kill()
        self.process.wait()


def run(args, cache, hub=None, offline=False, extra_env=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HUB_CACHE=cache, HF_HOME=os.path.join(work, "hf-home"), HF_ENDPOINT=hub.url if hub else "http://127.0.0.1:9")
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    env.update(extra_env or {})
    return subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=300)


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def git_sha1(path):
    data = open(path, "rb").read()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


folder = os.path.join  # shorthand
NEEDED = ["config.json", "generation_config.json", "model.safetensors", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]

# 1. Download into the cache layout.
hub = FakeHub()
cache = os.path.join(work, "cache1")
result = run(["download", REPO], cache, hub)
snapshot = result.stdout.strip()
repo_dir = os.path.join(cache, "models--test-org--ling-tiny")
check("download succeeds and prints the snapshot folder", result.returncode == 0 and os.path.isdir(snapshot), result.stderr[-500:])
commit = open(os.path.join(repo_dir, "refs/main")).read() if os.path.exists(os.path.join(repo_dir, "refs/main")) else ""
check("refs/main holds the commit, the snapshot is snapshots/<commit>", len(commit) == 40 and snapshot == os.path.join(repo_dir, "snapshots", commit))
links_ok = True
for name in NEEDED:
    pointer = os.path.join(snapshot, name)
    etag = sha256(os.path.join(model, name)) if name.endswith(".safetensors") else git_sha1(os.path.join(model, name))
    links_ok &= os.path.islink(pointer) and os.readlink(pointer) == f"../../blobs/{etag}" and \
        open(pointer, "rb").read() == open(os.path.join(model, name), "rb").read()
check("snapshot files are relative symlinks to blobs named by sha256 (LFS) / git sha1", links_ok)
check("only the model's files are fetched (no README.md)", sorted(os.listdir(snapshot)) == NEEDED, os.listdir(snapshot))
check("no .incomplete file is left", not [n for n in os.listdir(os.path.join(repo_dir, "blobs")) if n.endswith(".incomplete")])
check("the LFS file came through the CDN redirect", any(r["path"].startswith("/cdn/") for r in hub.requests()))

result = run(["download", REPO, "--include", "*.json"], os.path.join(work, "cache-include"), hub)
got = sorted(os.listdir(result.stdout.strip())) if result.returncode == 0 and os.path.isdir(result.stdout.strip()) else []
check("download --include GLOB fetches only the matching files",
      got == sorted(n for n in os.listdir(model) if n.endswith(".json")) and len(got) == 5,
      (got, result.stderr[-300:]))

# 2. Serve the Hub model.
port_socket = socket.socket(); port_socket.bind(("127.0.0.1", 0)); port = port_socket.getsockname()[1]; port_socket.close()
env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
env.update(HF_HUB_CACHE=cache, HF_ENDPOINT=hub.url)
server = subprocess.Popen([binary, "serve", "--model", REPO, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(base + "/health", timeout=1)
            break
        except Exception:
            time.sleep(0.1)
    models = json.load(urllib.request.urlopen(base + "/v1/models"))
    check("serve --model ORG/NAME lists ORG/NAME", models["data"][0]["id"] == REPO, models)
    request = urllib.request.Request(base + "/v1/chat/completions", data=json.dumps({
        "model": REPO, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 8, "temperature": 0}).encode(),
        headers={"Content-Type": "application/json"})
    reply = json.load(urllib.request.urlopen(request, timeout=60))
    check("serve --model ORG/NAME answers a chat completion", reply["choices"][0]["message"]["content"] != "" and reply["usage"]["completion_tokens"] > 0)
finally:
    server.terminate()
    server.wait()
hub.stop()

# 3. A transfer cut mid-file resumes within the run (Range from the cut).
hub = FakeHub("--cut", "model.safetensors:1000000:1")
cache = os.path.join(work, "cache2")
result = run(["download", REPO], cache, hub)
ranges = [r["range"] for r in hub.requests() if r["path"].startswith("/cdn/") and r["method"] == "GET"]
blob = os.path.join(cache, "models--test-org--ling-tiny/blobs", sha256(os.path.join(model, "model.safetensors")))
check("a cut transfer resumes with Range in the same run", result.returncode == 0 and ranges == [None, "bytes=1000000-"]
      and sha256(blob) == sha256(os.path.join(model, "model.safetensors")), (ranges, result.stderr[-400:]))
hub.stop()

# 4. ... and in the next run, from blobs/<etag>.incomplete.
hub = FakeHub("--cut", "model.safetensors:2000000:99")
cache = os.path.join(work, "cache3")
result = run(["download", REPO], cache, hub)
partial = blob.replace("cache2", "cache3") + ".incomplete"
check("a transfer that keeps failing stops with 'run again to resume' and keeps the prefix",
      result.returncode != 0 and "run again to resume" in result.stderr and os.path.getsize(partial) == 2000000, result.stderr[-400:])
hub.stop()
hub = FakeHub()
result = run(["download", REPO], cache, hub)
ranges = [r["range"] for r in hub.requests() if r["path"].startswith("/cdn/") and r["method"] == "GET"]
check("the next run resumes from the partial file", result.returncode == 0 and ranges == ["bytes=2000000-"] and not os.path.exists(partial)
      and sha256(partial[:-len(".incomplete")]) == sha256(os.path.join(model, "model.safetensors")), (ranges, result.stderr[-300:]))
hub.stop()

# 4b. A GGUF repository: --hf-file picks the file, only it is fetched, and the command runs on it.
hub = FakeHub()
cache = os.path.join(work, "cache-gguf")
result = run(["download", GGUF_REPO], cache, hub)
check("a GGUF-only repository without --hf-file says to pick a file with --hf-file",
      result.returncode != 0 and "--hf-file" in result.stderr and "ling-release.Q8_0.gguf" in result.stderr, result.stderr[-400:])
local = run(["tokenize", "--model", os.path.join(gguf_repo, "ling-release.Q8_0.gguf"), "--text", "def add(a, b):"], cache)
result = run(["tokenize", "--model", GGUF_REPO, "--hf-file", "*release*.gguf", "--text", "def add(a, b):"], cache, hub)
snapshots = os.path.join(cache, "models--test-org--ling-gguf/snapshots")
fetched = [n for c in os.listdir(snapshots) for n in os.listdir(os.path.join(snapshots, c))] if os.path.isdir(snapshots) else []
check("--model ORG/NAME --hf-file GLOB fetches only that GGUF and runs on it",
      result.returncode == 0 and local.returncode == 0 and result.stdout == local.stdout and '"ids"' in result.stdout
      and fetched == ["ling-release.Q8_0.gguf"], (result.stdout[:200], local.stdout[:200], fetched, result.stderr[-300:]))
result = run(["tokenize", "--model", GGUF_REPO, "--hf-file", "*.gguf", "--text", "x"], cache, hub)
fetched = [n for c in os.listdir(snapshots) for n in os.listdir(os.path.join(snapshots, c))]
check("--hf-file matching several GGUF files asks for one before fetching any",
      result.returncode != 0 and "matches several GGUF files" in result.stderr and fetched == ["ling-release.Q8_0.gguf"],
      (fetched, result.stderr[-300:]))
hub.stop()

# 5. Errors.
hub = FakeHub("--corrupt", "model.safetensors")
cache = os.path.join(work, "cache4")
result = run(["download", REPO], cache, hub)
blobs = os.listdir(os.path.join(cache, "models--test-org--ling-tiny/blobs"))
check("a wrong checksum is a clear error and the corrupt file is not kept",
      result.returncode != 0 and "sha256 mismatch" in result.stderr and not any(len(b.split(".")[0]) == 64 for b in blobs), (result.stderr[-300:], blobs))
hub.stop()
hub = FakeHub()
result = run(["download", "test-org/gated"], os.path.join(work, "cache5"), hub)
check("401 on a gated repository says how to pass a token", result.returncode != 0 and "--hf-token" in result.stderr and "HF_TOKEN" in result.stderr, result.stderr[-300:])
result = run(["download", "test-org/gated", "--hf-token", "hf_wrong"], os.path.join(work, "cache5"), hub)
check("403 with a token lacking access says so", result.returncode != 0 and "your token has no access" in result.stderr, result.stderr[-300:])
result = run(["download", "test-org/gated"], os.path.join(work, "cache5"), hub, extra_env={"HF_TOKEN": "hf_test_token"})
check("the gated repository downloads with HF_TOKEN", result.returncode == 0, result.stderr[-300:])
sent = [r for r in hub.requests() if r["auth"] == "Bearer hf_test_token"]
cdn_auth = [r for r in hub.requests() if r["path"].startswith("/cdn/") and r["auth"]]
check("the token goes to the Hub's API and resolve routes, never to the CDN",
      any(r["path"].startswith("/api/") for r in sent) and any("/resolve/" in r["path"] for r in sent) and not cdn_auth, cdn_auth)
result = run(["download", "test-org/absent"], os.path.join(work, "cache5"), hub)
check("404: no such repository", result.returncode != 0 and "no such repository" in result.stderr, result.stderr[-300:])
result = run(["download", REPO + "@nope"], os.path.join(work, "cache5"), hub)
check("404: no such revision", result.returncode != 0 and "no revision 'nope'" in result.stderr, result.stderr[-300:])
before = len(hub.requests())
result = run(["download", REPO], os.path.join(work, "cache-empty"), hub, offline=True)
check("HF_HUB_OFFLINE=1 with an empty cache: a clear error and no request",
      result.returncode != 0 and "is not in the cache" in result.stderr and len(hub.requests()) == before, result.stderr[-300:])

# 6. huggingface_hub interoperability.
try:
    import huggingface_hub  # noqa: F401
    have_hf = True
except ImportError:
    have_hf = False
    check("huggingface_hub is installed (scripts/setup.sh test puts it in .venv-test)", False)
if have_hf:
    cache = os.path.join(work, "cache-hf")
    code = ("import sys; from huggingface_hub import snapshot_download; "
            "print(snapshot_download(sys.argv[1], cache_dir=sys.argv[2], allow_patterns=sys.argv[3].split(',')))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=hub.url, HF_HUB_DISABLE_XET="1", HF_HOME=os.path.join(work, "hf-home"))
    written = subprocess.run([sys.executable, "-c", code, REPO, cache, ",".join(NEEDED)], env=env, capture_output=True, text=True)
    check("huggingface_hub downloads from the fake hub", written.returncode == 0, written.stderr[-400:])
    hub.stop()  # no network from here on
    result = run(["download", REPO], cache, None, offline=True)
    check("a cache written by huggingface_hub is used offline", result.returncode == 0 and result.stdout.strip() == written.stdout.strip(),
          (result.stdout, written.stdout, result.stderr[-300:]))
    result = run(["download", REPO], cache, None)  # unreachable endpoint: falls back to the cache
    check("an unreachable hub falls back to the huggingface_hub cache", result.returncode == 0 and "using the cached snapshot" in result.stderr,
          result.stderr[-300:])
    ours = os.path.join(work, "cache1")
    code = ("import sys; from huggingface_hub import snapshot_download; "
            "print(snapshot_download(sys.argv[1], cache_dir=sys.argv[2], local_files_only=True))")
    read = subprocess.run([sys.executable, "-c", code, REPO, ours], env=env, capture_output=True, text=True)
    check("huggingface_hub reads the cache LingServe wrote (local_files_only)",
          read.returncode == 0 and read.stdout.strip().startswith(os.path.join(ours, "models--test-org--ling-tiny/snapshots/")), read.stderr[-300:])
else:
    hub.stop()

shutil.rmtree(work, ignore_errors=True)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
