#!/usr/bin/env python3
"""Drives `ling-serve serve` (bundled models/ling-tiny) with the official `openai` Python package, the way coding CLIs
do: chat (plain and streamed with usage), completions, models, tool calls under tool_choice "required" and a named
choice (constrained decoding), response_format json_schema / json_object, and the SDK's error classes.

Usage: scripts/openai-client-check.py [path/to/ling-serve]   (default .build/release/ling-serve)
       scripts/openai-client-check.py --base-url http://127.0.0.1:8000/v1 --api-key KEY   (a running server)
Prints one line per check and 'N passed, N failed'; exit status 1 on any failure. Needs `pip install openai`.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import openai
from openai import OpenAI

MODEL = "ling-tiny"
KEY = "check-key-123"

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer"},
            },
            "required": ["city", "unit"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string", "enum": ["utc", "local"]}},
                       "required": ["zone"], "additionalProperties": False},
    },
}
SCHEMA = {
    "type": "object",
    "properties": {
        "language": {"type": "string", "enum": ["python", "swift", "rust"]},
        "lines": {"type": "integer"},
        "tested": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["fast", "safe", "small"]}, "maxItems": 3},
        "owner": {"anyOf": [{"type": "null"}, {"type": "object", "properties": {"team": {"type": "string",
                  "enum": ["core", "infra"]}}, "required": ["team"], "additionalProperties": False}]},
    },
    "required": ["language", "lines", "tested", "tags", "owner"],
    "additionalProperties": False,
}


def conforms(value, schema, root):
    """The JSON-schema subset LingServe enforces (type, properties, required, additionalProperties, items, enum,
    const, anyOf, $ref, minItems/maxItems)."""
    if schema is True or schema == {}:
        return True
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            if part:
                target = target[part]
        return conforms(value, target, root)
    if "anyOf" in schema:
        return any(conforms(value, option, root) for option in schema["anyOf"])
    if "const" in schema:
        return value == schema["const"]
    if "enum" in schema:
        return value in schema["enum"]
    types = schema.get("type")
    types = [types] if isinstance(types, str) else (types or [])
    checks = {"string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
              "null": lambda v: v is None, "object": lambda v: isinstance(v, dict), "array": lambda v: isinstance(v, list),
              "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)}
    if types and not any(checks[t](value) for t in types):
        return False
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        if any(name not in value for name in schema.get("required", [])):
            return False
        for key, item in value.items():
            if key in properties:
                if not conforms(item, properties[key], root):
                    return False
            elif schema.get("additionalProperties") is False:
                return False
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
            return False
        if "items" in schema and not all(conforms(item, schema["items"], root) for item in value):
            return False
    return True


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def run(self, name, function):
        try:
            function()
            self.passed += 1
            print(f"ok   {name}", flush=True)
        except Exception as error:  # report and go on: one line per check
            self.failed += 1
            print(f"FAIL {name}: {type(error).__name__}: {error}", flush=True)


def start_server(binary):
    log = tempfile.NamedTemporaryFile(prefix="ling-serve-", suffix=".log", delete=False)
    process = subprocess.Popen([binary, "serve", "--port", "0", "--api-key", KEY], stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"ling-serve exited early ({process.returncode}); log: {open(log.name).read()}")
        match = re.search(r"(http://[^ \n]*/v1)", open(log.name).read())
        if match:
            return process, match.group(1), log.name
        time.sleep(0.1)
    process.kill()
    raise SystemExit("ling-serve did not start within 120 s")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary", nargs="?", default=".build/release/ling-serve")
    parser.add_argument("--base-url")
    parser.add_argument("--api-key", default=KEY)
    args = parser.parse_args()

    process = None
    log_path = None
    if args.base_url:
        base_url = args.base_url
    else:
        process, base_url, log_path = start_server(args.binary)
    try:
        client = OpenAI(base_url=base_url, api_key=args.api_key, timeout=120, max_retries=0)
        checker = Checker()
        run_checks(client, base_url, checker)
    finally:
        if process is not None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            os.unlink(log_path)
    print(f"{checker.passed} passed, {checker.failed} failed")
    sys.exit(0 if checker.failed == 0 else 1)


def run_checks(client, base_url, checker):
    user = [{"role": "user", "content": "What is the weather in Paris? Use the tool."}]

    def models():
        listed = client.models.list()
        ids = [model.id for model in listed.data]
        assert ids == [MODEL], ids
        model = client.models.retrieve(MODEL)
        assert model.id == MODEL and model.object == "model", model

    def chat():
        reply = client.chat.completions.create(
            model=MODEL, messages=[{"role": "developer", "content": "Be brief."},
                                   {"role": "user", "content": "Write a Python function that adds two numbers."}],
            max_tokens=24, temperature=0)
        choice = reply.choices[0]
        assert reply.id.startswith("chatcmpl-") and reply.object == "chat.completion", reply
        assert choice.message.role == "assistant" and isinstance(choice.message.content, str), choice
        assert choice.finish_reason in ("stop", "length"), choice.finish_reason
        usage = reply.usage
        assert usage.prompt_tokens > 0 and 0 < usage.completion_tokens <= 24, usage
        assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens, usage

    def chat_stream():
        stream = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "def add(a, b):"}], max_tokens=12, stream=True,
            stream_options={"include_usage": True}, seed=7)
        chunks = list(stream)
        assert chunks[0].choices[0].delta.role == "assistant", chunks[0]
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        assert finishes in (["stop"], ["length"]), finishes
        usage_chunks = [c for c in chunks if c.usage is not None]
        assert len(usage_chunks) == 1 and usage_chunks[0] is chunks[-1] and chunks[-1].choices == [], chunks[-1]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert chunks[-1].usage.completion_tokens >= 1 and isinstance(text, str)
        assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1

    def completions():
        reply = client.completions.create(model=MODEL, prompt="def add(a, b):\n    return", max_tokens=8, temperature=0)
        assert reply.object == "text_completion" and isinstance(reply.choices[0].text, str), reply
        assert reply.choices[0].finish_reason in ("stop", "length") and reply.usage.completion_tokens <= 8
        streamed = "".join(c.choices[0].text for c in client.completions.create(
            model=MODEL, prompt="def add(a, b):\n    return", max_tokens=8, temperature=0, stream=True) if c.choices)
        assert streamed == reply.choices[0].text, (streamed, reply.choices[0].text)

    def check_call(call):
        tool = {"get_weather": WEATHER_TOOL, "get_time": TIME_TOOL}[call.function.name]
        schema = tool["function"]["parameters"]
        arguments = json.loads(call.function.arguments)
        assert conforms(arguments, schema, schema), arguments

    def tools_required():
        for seed in (1, 2, 3):
            reply = client.chat.completions.create(
                model=MODEL, messages=user, tools=[WEATHER_TOOL, TIME_TOOL], tool_choice="required", max_tokens=200,
                seed=seed, temperature=0.8, parallel_tool_calls=False)
            choice = reply.choices[0]
            assert choice.finish_reason == "tool_calls", (choice.finish_reason, choice.message)
            calls = choice.message.tool_calls
            assert len(calls) == 1 and calls[0].id.startswith("call_") and calls[0].type == "function", calls
            check_call(calls[0])

    def tools_required_parallel():
        # With parallel calls allowed, a weak model may keep adding calls until max_tokens: every complete call
        # must still be valid; only a last call cut by "length" may be partial (returned as the contract says).
        reply = client.chat.completions.create(
            model=MODEL, messages=user, tools=[WEATHER_TOOL, TIME_TOOL], tool_choice="required", max_tokens=120,
            seed=5, temperature=0.8)
        choice = reply.choices[0]
        calls = choice.message.tool_calls
        assert calls and choice.finish_reason in ("tool_calls", "length"), (choice.finish_reason, choice.message)
        assert len({call.id for call in calls}) == len(calls)
        for call in calls if choice.finish_reason == "tool_calls" else calls[:-1]:
            check_call(call)

    def tools_named_streaming():
        stream = client.chat.completions.create(
            model=MODEL, messages=user, tools=[WEATHER_TOOL, TIME_TOOL], max_tokens=200, stream=True,
            tool_choice={"type": "function", "function": {"name": "get_weather"}}, parallel_tool_calls=False)
        calls = {}
        finish = None
        for chunk in stream:
            if not chunk.choices:
                continue
            for delta in chunk.choices[0].delta.tool_calls or []:
                assert delta.index is not None
                entry = calls.setdefault(delta.index, {"id": delta.id, "name": delta.function.name, "arguments": ""})
                if entry["id"] != delta.id:
                    assert delta.id is None and delta.function.name is None, delta  # id/name only on the first delta
                entry["arguments"] += delta.function.arguments or ""
            finish = chunk.choices[0].finish_reason or finish
        assert finish == "stop", finish  # named tool_choice finishes with "stop", as OpenAI does
        assert list(calls) == [0] and calls[0]["name"] == "get_weather" and calls[0]["id"].startswith("call_"), calls
        schema = WEATHER_TOOL["function"]["parameters"]
        assert conforms(json.loads(calls[0]["arguments"]), schema, schema), calls

    def json_schema():
        for seed in (1, 2):
            reply = client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "Describe a small Python project as JSON."}],
                response_format={"type": "json_schema", "json_schema": {"name": "project", "schema": SCHEMA, "strict": True}},
                max_tokens=200, seed=seed, temperature=0.8)
            choice = reply.choices[0]
            assert choice.finish_reason == "stop", (choice.finish_reason, choice.message.content)
            value = json.loads(choice.message.content)
            assert conforms(value, SCHEMA, SCHEMA), value

    def json_object():
        reply = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Reply with a JSON object."}],
            response_format={"type": "json_object"}, max_tokens=300, temperature=0)
        content = reply.choices[0].message.content
        if reply.choices[0].finish_reason == "stop":
            assert isinstance(json.loads(content), dict), content
        else:  # cut by max_tokens: still a prefix of an object
            assert reply.choices[0].finish_reason == "length" and content.startswith("{"), content

    def bad_parameter():
        try:
            client.chat.completions.create(model=MODEL, messages=user, temperature=3.5)
        except openai.BadRequestError as error:
            assert error.status_code == 400 and error.param == "temperature", (error.param, error.body)
            assert error.code == "invalid_value", error.code
        else:
            raise AssertionError("no BadRequestError")

    def bad_schema():
        try:
            client.chat.completions.create(model=MODEL, messages=user, response_format={
                "type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "string", "pattern": "a+"}}})
        except openai.BadRequestError as error:
            assert error.param == "response_format.json_schema.schema", error.param
        else:
            raise AssertionError("no BadRequestError")

    def bad_key():
        wrong = OpenAI(base_url=base_url, api_key="wrong-key", timeout=30, max_retries=0)
        try:
            wrong.models.list()
        except openai.AuthenticationError as error:
            assert error.status_code == 401 and error.code == "invalid_api_key", error.body
        else:
            raise AssertionError("no AuthenticationError")

    def unknown_model():
        try:
            client.chat.completions.create(model="no-such-model", messages=user)
        except openai.NotFoundError as error:
            assert error.status_code == 404 and error.param == "model" and error.code == "model_not_found", error.body
        else:
            raise AssertionError("no NotFoundError")
        try:
            client.models.retrieve("no-such-model")
        except openai.NotFoundError:
            pass
        else:
            raise AssertionError("no NotFoundError for models.retrieve")

    checker.run("models list and retrieve", models)
    checker.run("chat, non-streaming (developer role, usage)", chat)
    checker.run("chat, streaming with include_usage (role chunk, one finish, usage chunk last)", chat_stream)
    checker.run("completions, plain and streamed agree", completions)
    checker.run("tool_choice required (parallel_tool_calls false): one valid call, finish tool_calls", tools_required)
    checker.run("tool_choice required, parallel calls: every complete call valid", tools_required_parallel)
    checker.run("named tool_choice, streamed: index on every delta, id/name once, finish stop", tools_named_streaming)
    checker.run("response_format json_schema: parses and conforms", json_schema)
    checker.run("response_format json_object: an object", json_object)
    checker.run("bad parameter -> BadRequestError with param", bad_parameter)
    checker.run("unsupported schema keyword -> BadRequestError on the schema", bad_schema)
    checker.run("wrong key -> AuthenticationError", bad_key)
    checker.run("unknown model -> NotFoundError", unknown_model)


if __name__ == "__main__":
    main()
