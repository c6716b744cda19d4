#!/usr/bin/env python3
"""Checks config/ and deploy/: the shipped configuration equals what `ling-serve serve --print-default-config`
prints (no drift between code and file), the Kubernetes manifests parse and carry the probes and scrape
annotations, the systemd unit has its hardening keys (and passes `systemd-analyze verify` where available), and
the Containerfile builds ling-serve in a separate stage. Prints 'N passed, N failed'."""
import json, os, shutil, subprocess, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, ".build/release/ling-serve")
passed, failed = 0, 0

def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")

config_text = open(os.path.join(root, "config/ling-serve.json")).read()
config = json.loads(config_text)
keys = [k for k in config if not k.startswith("//")]
check("config: every key documented", all("//" + k in config for k in keys))
printed = subprocess.run([binary, "serve", "--print-default-config"], capture_output=True, text=True)
check("config: equals --print-default-config", printed.returncode == 0 and printed.stdout == config_text,
      printed.stderr[:200])

try:
    import yaml
    documents = []
    for name in sorted(os.listdir(os.path.join(root, "deploy/kubernetes"))):
        with open(os.path.join(root, "deploy/kubernetes", name)) as handle:
            documents += [d for d in yaml.safe_load_all(handle) if d]
    kinds = {d["kind"]: d for d in documents}
    check("kubernetes: Deployment, Service, ConfigMap", {"Deployment", "Service", "ConfigMap"} <= set(kinds))
    container = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    for probe in ("readinessProbe", "livenessProbe"):
        check(f"kubernetes: {probe} on /health", container.get(probe, {}).get("httpGet", {}).get("path") == "/health")
    check("kubernetes: resource requests", "memory" in container["resources"]["requests"])
    annotations = kinds["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    check("kubernetes: prometheus scrape /metrics", annotations.get("prometheus.io/path") == "/metrics")
    embedded = json.loads(kinds["ConfigMap"]["data"]["ling-serve.json"])
    check("kubernetes: ConfigMap keys are real settings", set(embedded) <= set(keys), set(embedded) - set(keys))
except ImportError:
    print("skip kubernetes manifests: PyYAML is not installed")

unit = open(os.path.join(root, "deploy/systemd/ling-serve.service")).read()
for key in ("NoNewPrivileges=yes", "ProtectSystem=strict", "User=ling-serve", "ProtectHome=yes"):
    check(f"systemd: {key}", key in unit)
if shutil.which("systemd-analyze"):
    result = subprocess.run(["systemd-analyze", "verify", os.path.join(root, "deploy/systemd/ling-serve.service")],
                            capture_output=True, text=True)
    relevant = [l for l in result.stderr.splitlines() if "ling-serve.service" in l and "not found" not in l.lower()
                and "Command /usr/local/bin/ling-serve" not in l]
    check("systemd: systemd-analyze verify", not relevant, "\n".join(relevant))
containerfile = open(os.path.join(root, "deploy/container/Containerfile")).read()
check("container: multi-stage", containerfile.count("FROM ") >= 2 and "COPY --from=build" in containerfile)
check("container: OpenBLAS at run time", "libopenblas0" in containerfile)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
