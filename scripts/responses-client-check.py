#!/usr/bin/env python3
"""Drives `ling-serve serve` (bundled models/ling-tiny) with the official `openai` Python package's Responses API:
create, stream (event order, sequence numbers, final object), function tools under tool_choice "required"
(constrained decoding), the function_call_output round trip, previous_response_id, and the SDK's error classes.

Usage: scripts/responses-client-check.py [path/to/ling-serve]   (default .build/release/ling-serve)
       scripts/responses-client-check.py --base-url http://127.0.0.1:8000/v1 --api-key KEY   (a running server)
Prints one line per check and 'N passed, N failed'; exit status 1 on any failure. Needs `pip install openai`.
"""
import argparse
import importlib.util
import json
import os
import signal
import sys

import openai
from openai import OpenAI

_spec = importlib.util.spec_from_file_location(
    "openai_client_check", os.path.join(os.path.dirname(os.path.abspath(__file__)), "openai-client-check.py"))
_chat_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_chat_check)
Checker, start_server, conforms, KEY, MODEL = (_chat_check.Checker, _chat_check.start_server, _chat_check.conforms,
                                                _chat_check.KEY, _chat_check.MODEL)

WEATHER = {
    "type": "function", "name": "get_weather", "description": "Current weather for a city.", "strict": True,
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Rome"]},
                                                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                   "required": ["city", "unit"], "additionalProperties": False},
}


def run_checks(client, base_url, checker):
    def create():
        reply = client.responses.create(model=MODEL, instructions="Be brief.", input="def add(a, b):",
                                        max_output_tokens=16, temperature=0)
        assert reply.id.startswith("resp_") and reply.object == "response", reply
        assert reply.status in ("completed", "incomplete"), reply.status
        if reply.status == "incomplete":
            assert reply.incomplete_details.reason == "max_output_tokens", reply.incomplete_details
        assert isinstance(reply.output_text, str)
        usage = reply.usage
        assert usage.input_tokens > 0 and 0 < usage.output_tokens <= 16, usage
        assert usage.total_tokens == usage.input_tokens + usage.output_tokens, usage
        assert usage.input_tokens_details.cached_tokens >= 0

    def stream():
        events = list(client.responses.create(model=MODEL, input="def add(a, b):", max_output_tokens=12, stream=True,
                                              temperature=0))
        types = [event.type for event in events]
        assert types[:2] == ["response.created", "response.in_progress"], types
        assert types[-1] in ("response.completed", "response.incomplete"), types
        assert [event.sequence_number for event in events] == list(range(len(events)))
        final = events[-1].response
        text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
        assert text == final.output_text, (text, final.output_text)
        done = [event.item.id for event in events if event.type == "response.output_item.done"]
        assert done == [item.id for item in final.output], (done, final.output)
        if final.status != "completed":  # the SDK's stream helper requires response.completed
            return
        with client.responses.stream(model=MODEL, input="def add(a, b):", max_output_tokens=12, temperature=0) as s:
            for _ in s:
                pass
            assert s.get_final_response().output_text == final.output_text

    def tool_round_trip():
        for seed_input in ("Weather in Paris?", "Weather in Rome, please."):
            reply = client.responses.create(model=MODEL, input=seed_input, tools=[WEATHER], tool_choice="required",
                                            parallel_tool_calls=False, max_output_tokens=200, temperature=0.8)
            calls = [item for item in reply.output if item.type == "function_call"]
            assert reply.status == "completed" and len(calls) == 1, reply.output
            call = calls[0]
            assert call.name == "get_weather" and call.call_id.startswith("call_") and call.id != call.call_id, call
            arguments = json.loads(call.arguments)
            assert conforms(arguments, WEATHER["parameters"], WEATHER["parameters"]), arguments
            follow = client.responses.create(
                model=MODEL, tools=[WEATHER], max_output_tokens=8, temperature=0,
                input=[{"role": "user", "content": seed_input},
                       {"type": "function_call", "call_id": call.call_id, "name": call.name,
                        "arguments": call.arguments},
                       {"type": "function_call_output", "call_id": call.call_id, "output": "18 C, sunny"}])
            assert follow.status in ("completed", "incomplete") and follow.usage.input_tokens > reply.usage.input_tokens

    def previous_response():
        first = client.responses.create(model=MODEL, input="def add(a, b):", max_output_tokens=4, temperature=0)
        second = client.responses.create(model=MODEL, input="def sub(a, b):", previous_response_id=first.id,
                                         max_output_tokens=4, temperature=0)
        assert second.previous_response_id == first.id
        # The stored turn is in the prompt: more input tokens than the first request, part of them cached.
        assert second.usage.input_tokens > first.usage.input_tokens + first.usage.output_tokens, (first.usage, second.usage)
        try:
            client.responses.create(model=MODEL, input="x", previous_response_id="resp_unknown")
        except openai.BadRequestError as error:
            assert error.param == "previous_response_id" and error.code == "previous_response_not_found", error.body
        else:
            raise AssertionError("no BadRequestError")

    def json_schema():
        schema = {"type": "object", "properties": {"ok": {"type": "boolean"}, "n": {"type": "integer"}},
                  "required": ["ok", "n"], "additionalProperties": False}
        reply = client.responses.create(model=MODEL, input="JSON please", max_output_tokens=60, temperature=0.8,
                                        text={"format": {"type": "json_schema", "name": "r", "schema": schema, "strict": True}})
        assert reply.status == "completed", reply
        assert conforms(json.loads(reply.output_text), schema, schema), reply.output_text

    def errors():
        try:
            client.responses.create(model=MODEL, input="x", temperature=3)
        except openai.BadRequestError as error:
            assert error.param == "temperature", error.body
        else:
            raise AssertionError("no BadRequestError")
        try:
            client.responses.create(model="no-such-model", input="x")
        except openai.NotFoundError as error:
            assert error.code == "model_not_found", error.body
        else:
            raise AssertionError("no NotFoundError")

    checker.run("responses.create: object, status, usage with cached tokens", create)
    checker.run("responses stream: created/in_progress first, dense sequence numbers, deltas = final text", stream)
    checker.run("tool_choice required: one valid function_call, then function_call_output round trip", tool_round_trip)
    checker.run("previous_response_id continues the stored turn; unknown id -> BadRequestError", previous_response)
    checker.run("text.format json_schema: parses and conforms", json_schema)
    checker.run("bad parameter / unknown model -> SDK error classes", errors)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary", nargs="?", default=".build/release/ling-serve")
    parser.add_argument("--base-url")
    parser.add_argument("--api-key", default=KEY)
    args = parser.parse_args()
    process = None
    if args.base_url:
        base_url = args.base_url
    else:
        process, base_url, log_path = start_server(args.binary)
    checker = Checker()
    try:
        run_checks(OpenAI(base_url=base_url, api_key=args.api_key, timeout=300, max_retries=0), base_url, checker)
    finally:
        if process is not None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
            os.unlink(log_path)
    print(f"{checker.passed} passed, {checker.failed} failed")
    sys.exit(0 if checker.failed == 0 else 1)


if __name__ == "__main__":
    main()
