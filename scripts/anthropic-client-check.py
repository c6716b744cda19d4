#!/usr/bin/env python3
"""Drives `ling-serve serve` (bundled models/ling-tiny) with the official `anthropic` Python package, the way Claude
Code talks to a gateway: messages.create, messages.stream (text and tool input events), tool_use under
tool_choice {"type": "any"} (constrained decoding), the tool_result round trip, count_tokens (equal to the request's
input tokens), stop_sequences, Claude model ids, x-api-key auth, and the SDK's error classes.

Usage: scripts/anthropic-client-check.py [path/to/ling-serve]   (default .build/release/ling-serve)
       scripts/anthropic-client-check.py --base-url http://127.0.0.1:8000 --api-key KEY   (a running server)
Prints one line per check and 'N passed, N failed'; exit status 1 on any failure. Needs `pip install anthropic`.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import anthropic
from anthropic import Anthropic

MODEL = "claude-sonnet-4-5"  # any id is served (no --strict-model-names)
KEY = "check-key-123"
UNIT_TOOL = {
    "name": "set_unit",
    "description": "Sets the temperature unit for a number of days.",
    "input_schema": {"type": "object", "properties": {"unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                                                      "days": {"type": "integer"}},
                     "required": ["unit", "days"], "additionalProperties": False},
}
USER = [{"role": "user", "content": "Set the unit to celsius for three days."}]


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
        match = re.search(r"(http://[^ \n]*)/v1", open(log.name).read())
        if match:
            return process, match.group(1), log.name
        time.sleep(0.1)
    process.kill()
    raise SystemExit("ling-serve did not start within 120 s")


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def run_checks(client, base_url, checker):
    def create():
        message = client.messages.create(model=MODEL, max_tokens=24, messages=[{"role": "user", "content": "Hello!"}],
                                         system="You are a helpful assistant.", extra_body={"top_k": 1})
        expect(message.type == "message" and message.role == "assistant", message)
        expect(message.model == MODEL, f"model echoed: {message.model}")
        expect(message.id.startswith("msg_"), message.id)
        expect(message.stop_reason in ("end_turn", "max_tokens"), message.stop_reason)
        expect(message.content and message.content[0].type == "text" and message.content[0].text, message.content)
        expect(message.usage.output_tokens >= 1 and message.usage.input_tokens >= 1, message.usage)
    checker.run("messages.create: text block, stop_reason, usage, model echoed", create)

    def stream():
        events = []
        with client.messages.stream(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "Count to five."}],
                                    extra_body={"top_k": 1}) as stream:
            for event in stream:
                events.append(event.type)
            final = stream.get_final_message()
        expect(events[0] == "message_start" and "content_block_start" in events and "message_stop" in events, events)
        text = "".join(block.text for block in final.content if block.type == "text")
        expect(text, final)
        expect(final.stop_reason in ("end_turn", "max_tokens"), final.stop_reason)
        expect(final.usage.output_tokens >= 1, final.usage)
    checker.run("messages.stream: events, final message accumulated by the SDK", stream)

    state = {}

    def forced_tool():
        message = client.messages.create(model=MODEL, max_tokens=200, tools=[UNIT_TOOL], tool_choice={"type": "any"},
                                         messages=USER)
        calls = [block for block in message.content if block.type == "tool_use"]
        expect(message.stop_reason == "tool_use" and calls, message)
        call = calls[0]
        expect(call.name == "set_unit" and call.id.startswith("toolu_"), call)
        expect(call.input.get("unit") in ("celsius", "fahrenheit") and isinstance(call.input.get("days"), int), call.input)
        state["call"] = call
        state["assistant"] = message.content
    checker.run('tool_use under tool_choice {"type": "any"}: a valid call', forced_tool)

    def streamed_tool():
        with client.messages.stream(model=MODEL, max_tokens=200, tools=[UNIT_TOOL],
                                    tool_choice={"type": "tool", "name": "set_unit"}, messages=USER) as stream:
            saw_json = any(event.type == "input_json" for event in stream)
            final = stream.get_final_message()
        calls = [block for block in final.content if block.type == "tool_use"]
        expect(saw_json and calls and final.stop_reason == "tool_use", final)
        expect(calls[0].input.get("unit") in ("celsius", "fahrenheit"), calls[0].input)
    checker.run('streamed tool_use under tool_choice {"type": "tool"}: input_json events, parsed input', streamed_tool)

    def round_trip():
        call = state["call"]
        history = USER + [
            {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in state["assistant"]]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                          "content": [{"type": "text", "text": "unit set"}]}]},
        ]
        message = client.messages.create(model=MODEL, max_tokens=16, tools=[UNIT_TOOL], tool_choice={"type": "none"},
                                         messages=history)
        expect(all(block.type == "text" for block in message.content), message)
        count = client.messages.count_tokens(model=MODEL, tools=[UNIT_TOOL], tool_choice={"type": "none"},
                                             messages=history)
        total = message.usage.input_tokens + (message.usage.cache_read_input_tokens or 0)
        expect(count.input_tokens == total, f"count_tokens {count.input_tokens} != usage {total}")
    checker.run("tool_result round trip; count_tokens equals the request's input tokens", round_trip)

    def stop_sequence():
        message = client.messages.create(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "Say hi"}],
                                         stop_sequences=["e"], extra_body={"top_k": 1})
        if message.stop_reason == "stop_sequence":
            expect(message.stop_sequence == "e", message)
            expect("e" not in "".join(block.text for block in message.content), message)
        else:
            expect(message.stop_sequence is None and message.stop_reason in ("end_turn", "max_tokens"), message)
    checker.run("stop_sequences: stop_reason stop_sequence with the matched string", stop_sequence)

    def errors():
        bad = Anthropic(base_url=base_url, api_key="wrong-key", max_retries=0)
        try:
            bad.messages.create(model=MODEL, max_tokens=4, messages=USER)
            raise AssertionError("no error for a wrong key")
        except anthropic.AuthenticationError as error:
            expect(error.status_code == 401 and error.body["error"]["type"] == "authentication_error", error.body)
        try:
            client.messages.create(model=MODEL, max_tokens=4, messages=[{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]}])
            raise AssertionError("no error for an image")
        except anthropic.BadRequestError as error:
            expect(error.body["error"]["type"] == "invalid_request_error", error.body)
        try:
            client.messages.create(model=MODEL, max_tokens=0, messages=USER)
            raise AssertionError("no error for max_tokens 0")
        except anthropic.BadRequestError:
            pass
    checker.run("error classes: AuthenticationError, BadRequestError", errors)


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
        client = Anthropic(base_url=base_url, api_key=args.api_key, timeout=120, max_retries=0)
        checker = Checker()
        run_checks(client, base_url, checker)
    finally:
        if process is not None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    print(f"{checker.passed} passed, {checker.failed} failed")
    if checker.failed and log_path:
        print(f"server log: {log_path}")
    sys.exit(1 if checker.failed else 0)


if __name__ == "__main__":
    main()
