#!/usr/bin/env python3
"""The chat page at / in headless Chromium (Debian package `chromium`): serves the bundled model, loads
/?test=1 (the page sends "Hello" and marks <body data-state="done"> once the streamed reply has arrived), checks the
DOM for the user message, a non-empty streamed reply and its tokens/s line, saves a phone-sized screenshot, and checks
that --no-webui turns / into a 404. Usage: webui-check.py [ling-serve] [screenshot.png]. Prints 'N passed, N failed'."""
import os, re, shutil, socket, subprocess, sys, tempfile, time, urllib.error, urllib.request

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, ".build/release/ling-serve"))
screenshot = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else os.path.join(tempfile.gettempdir(), "lingserve-chat.png"))
chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)
    print(("ok   " if ok else "FAIL ") + name + ("" if ok or not detail else f": {detail}"))


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port


def start(*flags):
    port = free_port()
    process = subprocess.Popen([binary, "serve", "--port", str(port), *flags], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            break
        except Exception:
            time.sleep(0.1)
    return process, f"http://127.0.0.1:{port}"


def browse(url, *mode):
    profile = tempfile.mkdtemp(prefix="chromium-")
    try:
        return subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                               f"--user-data-dir={profile}", "--window-size=390,844", "--virtual-time-budget=60000", *mode, url],
                              capture_output=True, text=True, timeout=180)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


if chromium is None:
    print("SKIP webui-check: install the Debian package chromium")
    sys.exit(0)
server, base = start("--default-temperature", "0")
try:
    page = urllib.request.urlopen(base + "/").read().decode()
    check("/ serves the chat page with no external resources", "<title>LingServe chat</title>" in page and not re.search(r'(src|href)="https?://', page))
    dom = browse(base + "/?test=1&message=Write%20a%20Python%20function", "--dump-dom").stdout
    check("the page finished streaming a reply", 'data-state="done"' in dom, dom[-600:])
    check("the user message is shown", '<div class="msg user">Write a Python function</div>' in dom)
    match = re.search(r'<div class="msg assistant">(.*?)<span class="meta">(.*?)</span></div>', dom, re.S)
    check("the streamed reply has text and a tokens/s line", bool(match) and match.group(1).strip() != "" and "tok/s" in match.group(2) and "tokens" in match.group(2),
          match.groups() if match else dom[-600:])
    check("the model id is shown", "LingServe · ling-tiny" in dom)
    browse(base + "/?test=1&message=Write%20a%20Python%20function", f"--screenshot={screenshot}")
    check(f"screenshot saved ({screenshot})", os.path.exists(screenshot) and os.path.getsize(screenshot) > 5000)
finally:
    server.terminate(); server.wait()

server, base = start("--no-webui")
try:
    try:
        urllib.request.urlopen(base + "/")
        status = 200
    except urllib.error.HTTPError as error:
        status = error.code
    check("--no-webui: / is a 404", status == 404, status)
finally:
    server.terminate(); server.wait()
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
