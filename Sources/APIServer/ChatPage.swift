/// The chat page served at `/` (off with `--no-webui`): one self-contained HTML file (no external requests),
/// compiled into the binary. It streams `/v1/chat/completions` over SSE with fetch + ReadableStream, shows the
/// decoding rate, the model's settings (/v1/models: context length, weight format, compute type) and the
/// request settings, keeps the conversation and settings in localStorage, asks for an API
/// key when the server answers 401, and fits a phone screen. `?test=1` sends "Hello" on load and marks
/// `<body data-state="done">` when the reply has streamed (the headless Chromium check, scripts/webui-check.py).
public enum ChatPage {
    public static let bytes: [UInt8] = Array(html.utf8)

    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>LingServe chat</title>
<style>
:root { --bg:#f6f7f9; --fg:#1d2330; --muted:#6b7280; --line:#d9dde3; --user:#dbeafe; --bot:#fff; --accent:#2563eb; --err:#b91c1c; }
@media (prefers-color-scheme: dark) { :root { --bg:#111418; --fg:#e6e8eb; --muted:#9aa3af; --line:#2b313a; --user:#1e3a5f; --bot:#1a1f26; --accent:#60a5fa; --err:#f87171; } }
* { box-sizing: border-box; }
html, body { height: 100%; margin: 0; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--fg); display: flex; flex-direction: column; }
header { display: flex; gap: .5rem; align-items: center; padding: .5rem .75rem; border-bottom: 1px solid var(--line); flex-wrap: wrap; }
header h1 { font-size: 1rem; margin: 0; flex: 1; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
header .stat { color: var(--muted); font-size: .85rem; font-variant-numeric: tabular-nums; }
#info { order: 10; flex-basis: 100%; }
button { font: inherit; border: 1px solid var(--line); background: var(--bot); color: var(--fg); border-radius: .4rem; padding: .35rem .7rem; cursor: pointer; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button:disabled { opacity: .5; cursor: default; }
#settings { display: none; padding: .5rem .75rem; border-bottom: 1px solid var(--line); gap: .5rem .75rem; flex-wrap: wrap; }
#settings.open { display: flex; }
#settings label { display: flex; flex-direction: column; font-size: .8rem; color: var(--muted); }
#settings input, #settings textarea { font: inherit; color: var(--fg); background: var(--bot); border: 1px solid var(--line); border-radius: .3rem; padding: .25rem .4rem; }
#settings .wide { flex: 1 1 100%; }
main { flex: 1; overflow-y: auto; padding: .75rem; }
.msg { max-width: 48rem; margin: 0 auto .6rem; padding: .55rem .75rem; border-radius: .6rem; border: 1px solid var(--line); white-space: pre-wrap; word-wrap: break-word; }
.msg.user { background: var(--user); margin-left: max(2rem, calc(50% - 22rem)); }
.msg.assistant { background: var(--bot); }
.msg.error { color: var(--err); border-color: var(--err); }
.msg .meta { display: block; color: var(--muted); font-size: .75rem; margin-top: .3rem; }
.empty { color: var(--muted); text-align: center; margin-top: 3rem; }
form { display: flex; gap: .5rem; padding: .5rem .75rem calc(.5rem + env(safe-area-inset-bottom)); border-top: 1px solid var(--line); }
form textarea { flex: 1; font: inherit; resize: none; min-height: 2.6rem; max-height: 10rem; padding: .5rem; border-radius: .5rem; border: 1px solid var(--line); background: var(--bot); color: var(--fg); }
dialog { border: 1px solid var(--line); border-radius: .6rem; background: var(--bot); color: var(--fg); max-width: 24rem; width: calc(100% - 2rem); }
dialog input { width: 100%; font: inherit; padding: .4rem; margin: .5rem 0; }
</style>
</head>
<body>
<header>
  <h1 id="title">LingServe</h1>
  <span class="stat" id="info"></span>
  <span class="stat" id="rate"></span>
  <button id="toggle" type="button" aria-expanded="false">Settings</button>
  <button id="clear" type="button">New chat</button>
</header>
<section id="settings">
  <label>Temperature <input id="temperature" type="number" min="0" max="2" step="0.1"></label>
  <label>Max tokens <input id="maxTokens" type="number" min="1" step="1"></label>
  <label>API key <input id="apiKey" type="password" autocomplete="off" placeholder="none"></label>
  <label class="wide">System prompt <textarea id="system" rows="2"></textarea></label>
</section>
<main id="log"></main>
<form id="form">
  <textarea id="input" placeholder="Message (Enter sends, Shift+Enter for a new line)" rows="1"></textarea>
  <button id="send" class="primary" type="submit">Send</button>
</form>
<dialog id="keyDialog">
  <form method="dialog">
    <div>This server needs an API key.</div>
    <input id="keyInput" type="password" autocomplete="off" placeholder="sk-...">
    <button class="primary" value="ok">Use key</button> <button value="cancel">Cancel</button>
  </form>
</dialog>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const store = {
  get(key, fallback) { try { const v = localStorage.getItem("lingserve." + key); return v === null ? fallback : JSON.parse(v); } catch (e) { return fallback; } },
  set(key, value) { try { localStorage.setItem("lingserve." + key, JSON.stringify(value)); } catch (e) {} },
};
const settings = Object.assign({ temperature: 0.7, maxTokens: 512, system: "", apiKey: "" }, store.get("settings", {}));
let messages = store.get("messages", []);
let model = null;
let controller = null;

function saveSettings() {
  settings.temperature = parseFloat($("temperature").value);
  settings.maxTokens = parseInt($("maxTokens").value, 10);
  settings.system = $("system").value;
  settings.apiKey = $("apiKey").value.trim();
  store.set("settings", settings);
}
for (const id of ["temperature", "maxTokens", "system", "apiKey"]) {
  $(id).value = settings[id];
  $(id).addEventListener("change", saveSettings);
}
$("toggle").onclick = () => { const open = $("settings").classList.toggle("open"); $("toggle").setAttribute("aria-expanded", open); };
$("clear").onclick = () => { if (controller) controller.abort(); messages = []; store.set("messages", messages); render(); };

function bubble(role, text, meta) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  div.textContent = text;
  if (meta) { const m = document.createElement("span"); m.className = "meta"; m.textContent = meta; div.appendChild(m); }
  $("log").appendChild(div);
  $("log").scrollTop = $("log").scrollHeight;
  return div;
}
function render() {
  $("log").replaceChildren();
  if (messages.length === 0) { const p = document.createElement("p"); p.className = "empty"; p.textContent = "Ask something."; $("log").appendChild(p); }
  for (const m of messages) bubble(m.role, m.content, m.meta);
}
function headers() {
  const h = { "Content-Type": "application/json" };
  if (settings.apiKey) h["Authorization"] = "Bearer " + settings.apiKey;
  return h;
}
function askForKey() {
  return new Promise((resolve) => {
    const dialog = $("keyDialog");
    $("keyInput").value = settings.apiKey;
    dialog.onclose = () => {
      if (dialog.returnValue === "ok" && $("keyInput").value.trim()) {
        $("apiKey").value = $("keyInput").value.trim(); saveSettings(); resolve(true);
      } else resolve(false);
    };
    dialog.showModal();
  });
}
async function loadModel() {
  for (;;) {
    const response = await fetch("/v1/models", { headers: headers() });
    if (response.status === 401) { if (await askForKey()) continue; return; }
    if (!response.ok) return;
    const body = await response.json();
    const card = body.data && body.data[0] ? body.data[0] : null;
    model = card ? card.id : null;
    $("title").textContent = model ? "LingServe · " + model : "LingServe";
    if (card) {
      // The model's settings as the server reports them: context length, weight format, compute type.
      $("info").textContent = [card.max_model_len ? "context " + card.max_model_len : "", card.weight_format ? "weights " + card.weight_format : "",
                               card.compute_dtype ? "compute " + card.compute_dtype : ""].filter(Boolean).join(" · ");
    }
    return;
  }
}

async function send(text) {
  const userMessage = { role: "user", content: text };
  messages.push(userMessage);
  store.set("messages", messages);
  if (messages.length === 1) render(); else bubble("user", text);
  const div = bubble("assistant", "");
  const body = {
    model: model || undefined, stream: true, stream_options: { include_usage: true },
    messages: (settings.system ? [{ role: "system", content: settings.system }] : []).concat(messages.map(({ role, content }) => ({ role, content }))),
  };
  if (Number.isFinite(settings.temperature)) body.temperature = settings.temperature;
  if (Number.isFinite(settings.maxTokens) && settings.maxTokens > 0) body.max_tokens = settings.maxTokens;
  controller = new AbortController();
  $("send").textContent = "Stop";
  let reply = "", chunks = 0, first = 0, usage = null, finish = null;
  const started = performance.now();
  try {
    let response;
    for (;;) {
      response = await fetch("/v1/chat/completions", { method: "POST", headers: headers(), body: JSON.stringify(body), signal: controller.signal });
      if (response.status === 401 && await askForKey()) continue;
      break;
    }
    if (!response.ok) {
      let message = "HTTP " + response.status;
      try { const e = await response.json(); if (e.error && e.error.message) message += ": " + e.error.message; } catch (e) {}
      throw new Error(message);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end); buffer = buffer.slice(end + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data:")) continue;
          const data = line.slice(5).trim();
          if (data === "[DONE]") continue;
          const chunk = JSON.parse(data);
          if (chunk.error) throw new Error(chunk.error.message || "stream error");
          if (chunk.usage) usage = chunk.usage;
          const choice = chunk.choices && chunk.choices[0];
          if (!choice) continue;
          if (choice.finish_reason) finish = choice.finish_reason;
          const piece = choice.delta && (choice.delta.content || choice.delta.reasoning_content);
          if (piece) {
            if (!first) first = performance.now();
            chunks += 1; reply += piece; div.textContent = reply;
            const seconds = (performance.now() - first) / 1000;
            if (seconds > 0.2) $("rate").textContent = (chunks / seconds).toFixed(1) + " tok/s";
            $("log").scrollTop = $("log").scrollHeight;
          }
        }
      }
    }
  } catch (error) {
    if (error.name !== "AbortError") { div.classList.add("error"); reply += (reply ? "\n" : "") + String(error.message || error); div.textContent = reply; }
  } finally {
    controller = null;
    $("send").textContent = "Send";
  }
  const tokens = usage ? usage.completion_tokens : chunks;
  const decodeSeconds = first ? (performance.now() - first) / 1000 : 0;
  const rate = decodeSeconds > 0 && tokens > 1 ? ((tokens - 1) / decodeSeconds).toFixed(1) + " tok/s" : "";
  const meta = [tokens + " tokens", rate, first ? "first token " + Math.round(first - started) + " ms" : "", finish ? "finish: " + finish : "",
                "T=" + settings.temperature].filter(Boolean).join(" · ");
  if (rate) $("rate").textContent = rate;
  const m = document.createElement("span"); m.className = "meta"; m.textContent = meta; div.appendChild(m);
  messages.push({ role: "assistant", content: reply, meta });
  store.set("messages", messages);
  document.body.dataset.state = "done";
}

$("form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (controller) { controller.abort(); return; }
  const text = $("input").value.trim();
  if (!text) return;
  $("input").value = "";
  send(text);
});
$("input").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); $("form").requestSubmit(); }
});
render();
loadModel().then(() => {
  const params = new URLSearchParams(location.search);
  if (params.get("test") === "1") { messages = []; render(); send(params.get("message") || "Hello"); }
});
</script>
</body>
</html>
"""#
}
