#!/usr/bin/env python3
"""The chat page at / in headless Chromium (Debian package `chromium`), driven over the DevTools protocol as a person
would use it on a phone-sized screen (390x844): serves the bundled model, loads /, types a message into the box and
presses Enter, waits for the streamed reply (the page marks <body data-state="done"> when a reply has finished),
checks that text arrived in more than one piece, the tokens/s line and the model's settings, that the conversation
survives a reload (localStorage), saves a screenshot; against a server with --api-key, checks that the page asks for
the key and then answers; and that --no-webui leaves / the empty probe.
Usage: webui-check.py [ling-serve] [screenshot.png]. Prints 'N passed, N failed'."""
import base64, json, os, re, shutil, socket, subprocess, sys, tempfile, time, urllib.error, urllib.request

import websocket  # websocket-client (scripts/test-requirements.txt)

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, ".build/release/ling-serve"))
screenshot = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else os.path.join(tempfile.gettempdir(), "lingserve-chat.png"))
chromium = shutil.which("chromium") or shutil.which("chromium-browser")
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)
    print(("ok   " if ok else "FAIL ") + name + ("" if ok or not detail else f": {detail}"), flush=True)


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port


def wait_http(url, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            return urllib.request.urlopen(url, timeout=1).read()
        except urllib.error.HTTPError:
            return b""
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {seconds} s")


def start(*flags):
    port = free_port()
    process = subprocess.Popen([binary, "serve", "--host", "127.0.0.1", "--port", str(port), *flags], cwd=root,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/health")
    return process, f"http://127.0.0.1:{port}"


class Browser:
    """One headless Chromium with one page, spoken to over its DevTools websocket."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="chromium-")
        port = free_port()
        self.process = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
             f"--user-data-dir={self.profile}", f"--remote-debugging-port={port}", "--remote-allow-origins=*",
             "--window-size=390,844", "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(f"http://127.0.0.1:{port}/json/version", 60)
        pages = [t for t in json.loads(wait_http(f"http://127.0.0.1:{port}/json/list")) if t["type"] == "page"]
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self.next_id = 0
        self.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=1, mobile=True)
        self.call("Page.enable")

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def eval(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")

    def open(self, url):
        self.call("Page.navigate", url=url)
        self.wait("document.readyState === 'complete' && !!document.getElementById('input')", 30)

    def wait(self, expression, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.eval(expression):
                return True
            time.sleep(0.1)
        return False

    def type_and_enter(self, element_id, text):
        self.eval(f"document.getElementById({json.dumps(element_id)}).focus()")
        self.call("Input.insertText", text=text)
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter", windowsVirtualKeyCode=13)

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


# Counts how the reply's text changed while it streamed: more than one distinct value = it arrived in pieces.
WATCH = """(() => { window.__pieces = 0; const log = document.getElementById('log');
  new MutationObserver(() => { window.__pieces += 1; }).observe(log, {childList: true, subtree: true, characterData: true}); })()"""

if chromium is None:
    check("chromium is installed (scripts/setup.sh test installs the Debian package)", False)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1)

server, base = start("--default-temperature", "0", "--max-output-tokens", "48")
browser = Browser()
try:
    page = urllib.request.urlopen(base + "/").read().decode()
    check("/ serves the chat page with no external resources",
          "<title>LingServe chat</title>" in page and not re.search(r'(src|href)=["\']?(https?:)?//', page))
    browser.open(base + "/")
    check("the model id and its settings are shown",
          browser.wait("document.getElementById('title').textContent.includes('ling-tiny') && "
                       "document.getElementById('info').textContent.includes('context')", 20),
          browser.eval("document.querySelector('header').innerText"))
    browser.eval(WATCH)
    browser.type_and_enter("input", "Write a Python function that adds two numbers.")
    done = browser.wait("document.body.dataset.state === 'done'", 120)
    check("typing a message and pressing Enter streams a reply to the end", done, browser.eval("document.body.innerText")[-400:])
    user = browser.eval("[...document.querySelectorAll('.msg.user')].map(e => e.textContent)")
    check("the user message is shown", user == ["Write a Python function that adds two numbers."], user)
    reply = browser.eval("(() => { const e = document.querySelector('.msg.assistant'); if (!e) return null;"
                         " const m = e.querySelector('.meta'); return {text: e.firstChild ? e.firstChild.textContent : '',"
                         " meta: m ? m.textContent : '', error: e.classList.contains('error')}; })()")
    check("the reply has text and a tokens / tok/s line", bool(reply) and reply["text"].strip() != "" and not reply["error"]
          and "tokens" in reply["meta"] and "tok/s" in reply["meta"], reply)
    pieces = browser.eval("window.__pieces")
    check("the reply arrived streamed (the page changed in several steps)", isinstance(pieces, int) and pieces > 3, pieces)
    browser.screenshot(screenshot)
    check(f"screenshot saved ({screenshot})", os.path.getsize(screenshot) > 5000)
    width = browser.eval("document.documentElement.scrollWidth")
    check("the page fits a phone-sized screen (no horizontal scrolling at 390 px)", width is not None and width <= 390, width)
    browser.open(base + "/")
    kept = browser.eval("[...document.querySelectorAll('.msg')].map(e => e.className)")
    check("the conversation is kept in the browser across a reload", kept == ["msg user", "msg assistant"], kept)
    browser.eval("document.getElementById('clear').click()")
finally:
    browser.close()
    server.terminate(); server.wait()

server, base = start("--api-key", "sk-webui-check", "--max-output-tokens", "8")
browser = Browser()
try:
    browser.open(base + "/")
    asked = browser.wait("document.getElementById('keyDialog').open", 20)
    check("with --api-key the page asks for the key", asked)
    browser.eval("document.getElementById('keyInput').value = 'sk-webui-check';"
                 "document.querySelector('#keyDialog button[value=ok]').click()")
    named = browser.wait("document.getElementById('title').textContent.includes('ling-tiny')", 20)
    browser.type_and_enter("input", "Hello")
    done = browser.wait("document.body.dataset.state === 'done'", 60)
    text = browser.eval("(() => { const e = document.querySelector('.msg.assistant'); return e ? {t: e.textContent, error: e.classList.contains('error')} : null; })()")
    check("with the key entered the page lists the model and streams a reply", named and done and bool(text) and not text["error"], text)
finally:
    browser.close()
    server.terminate(); server.wait()

server, base = start("--no-webui")
try:
    # `/` stays the connectivity probe Claude Code sends (200, empty body); only the page is gone.
    response = urllib.request.urlopen(base + "/")
    body = response.read()
    check("--no-webui: / serves no page (the empty 200 probe)", response.status == 200 and body == b"", (response.status, body[:80]))
finally:
    server.terminate(); server.wait()
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
