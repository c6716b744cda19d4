#!/usr/bin/env python3
"""Chat-template goldens for Tests/ChatTemplatesTests: renders every case with transformers' own
`apply_chat_template(tokenize=False)` (jinja2 ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
loopcontrols, transformers' tojson/raise_exception/strftime_now, None-valued message keys dropped, reasoning fields
aliased) and writes Tests/ChatTemplatesTests/Fixtures/chat_cases.json plus the template texts.

Templates:
  ling           verbatim from /work/shared/docs/ling2-arch.md section 5
  ling-release   the chat_template of /work/shared/reference/release-bf16/tokenizer_config.json
  qwen2.5-style, qwen3-style, llama3.1-style, features, whitespace: Fixtures/templates/*.jinja (committed)
The special tokens come from the Ling reference tokenizer (bos <|startoftext|>, eos <|role_end|>, ...).

Needs: pip install transformers jinja2 (offline afterwards). Run: python3 scripts/templates/make_chat_goldens.py
"""
import json
import os
import re
import sys

from transformers import AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
FIXTURES = os.path.join(ROOT, "Tests", "ChatTemplatesTests", "Fixtures")
TEMPLATES = os.path.join(FIXTURES, "templates")
SHARED = "/work/shared"
REFERENCE = os.path.join(SHARED, "reference", "release-bf16")


def ling_template_from_doc():
    text = open(os.path.join(SHARED, "docs", "ling2-arch.md"), encoding="utf-8").read()
    section = text[text.index("## 5. Tokenizer"):]
    match = re.search(r"```jinja\n(.*?)\n```", section, re.S)
    return match.group(1) + "\n"


def write_template(name, text):
    with open(os.path.join(TEMPLATES, name + ".jinja"), "w", encoding="utf-8") as f:
        f.write(text)


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city (°C). Use “quotes” & <tags>.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name, e.g. 北京 or São Paulo"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": None},
        "days": {"type": "integer", "minimum": 1, "maximum": 16},
        "threshold": {"type": "number", "default": 0.5, "multipleOf": 1e-05},
        "detailed": {"type": "boolean", "default": False}},
        "required": ["city"]}}}
SEARCH = {"type": "function", "function": {
    "name": "search", "description": "Search the web.\nReturns JSON lines.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "top_k": {"type": "integer", "default": 10}},
                   "required": ["query"]}}}
BARE = {"type": "function", "function": {"name": "now", "parameters": {}}}
TOOLS = [WEATHER, SEARCH]


def call(name, arguments, call_id="call_1"):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


SYSTEM = {"role": "system", "content": "You are Ling, an assistant created by inclusionAI"}
HI = {"role": "user", "content": "Hi"}

LING_CASES = [
    ("system and user", [SYSTEM, HI], None, True, {}),
    ("user only", [HI], None, True, {}),
    ("no generation prompt", [SYSTEM, HI], None, False, {}),
    ("multi-turn", [SYSTEM, HI, {"role": "assistant", "content": "Hello! How can I help?"},
                    {"role": "user", "content": "Tell me a joke."}], None, True, {}),
    ("multi-turn without system", [HI, {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Again"},
                                   {"role": "assistant", "content": "Hello again."}], None, False, {}),
    ("tools with system", [SYSTEM, {"role": "user", "content": "Weather in Paris?"}], TOOLS, True, {}),
    ("tools without system", [{"role": "user", "content": "Weather in Paris?"}], TOOLS, True, {}),
    ("single bare tool", [HI], [BARE], True, {}),
    ("empty tools list", [HI], [], True, {}),
    ("tool call with string arguments", [{"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call("get_weather", "{\"city\": \"Paris\"}")]}], TOOLS, False, {}),
    ("tool call with object arguments", [{"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [call("get_weather", {"city": "Paris", "days": 3, "threshold": 0.25, "detailed": True, "extra": None})]}], TOOLS, False, {}),
    ("tool call with text before", [{"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "Let me check.", "tool_calls": [call("get_weather", {"city": "Zürich"})]}], TOOLS, False, {}),
    ("parallel tool calls", [{"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [call("get_weather", {"city": "Paris"}, "a"), call("get_weather", {"city": "Rome"}, "b"),
                                                              call("search", "{\"query\": \"rome events\"}", "c")]}], TOOLS, False, {}),
    ("tool call without function wrapper", [{"role": "user", "content": "x"},
        {"role": "assistant", "content": None, "tool_calls": [{"name": "search", "arguments": {"query": "q"}}]}], TOOLS, False, {}),
    ("one tool response", [{"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call("get_weather", {"city": "Paris"})]},
        {"role": "tool", "tool_call_id": "call_1", "content": "{\"temperature\": 21.5, \"sky\": \"clear\"}"}], TOOLS, True, {}),
    ("tool responses in a row", [{"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [call("get_weather", {"city": "Paris"}, "a"), call("get_weather", {"city": "Rome"}, "b")]},
        {"role": "tool", "tool_call_id": "a", "content": "Paris: 21°C"}, {"role": "tool", "tool_call_id": "b", "content": "Rome: 25°C"},
        {"role": "tool", "content": "third"}], TOOLS, True, {}),
    ("tool response then answer", [{"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call("get_weather", {"city": "Paris"})]},
        {"role": "tool", "content": "21°C"}, {"role": "assistant", "content": "It is 21°C in Paris."},
        {"role": "user", "content": "Thanks"}], TOOLS, True, {}),
    ("multi-step tool loop", [SYSTEM, {"role": "user", "content": "Plan a trip"},
        {"role": "assistant", "content": "Searching.", "reasoning_content": "Need flights first.", "tool_calls": [call("search", {"query": "flights"})]},
        {"role": "tool", "content": "flight list"},
        {"role": "assistant", "content": None, "reasoning_content": "Now hotels.", "tool_calls": [call("search", {"query": "hotels"})]},
        {"role": "tool", "content": "hotel list"},
        {"role": "assistant", "content": "Here is the plan.", "reasoning_content": "Combine both."}], TOOLS, False, {}),
    ("reasoning content after last query", [{"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4", "reasoning_content": "\nSimple addition.\n"}], None, False, {}),
    ("reasoning content before last query", [{"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4", "reasoning_content": "Simple addition."}, {"role": "user", "content": "3+3?"}], None, True, {}),
    ("reasoning alias field", [{"role": "user", "content": "q"},
        {"role": "assistant", "content": "a", "reasoning": "thought via alias"}], None, False, {}),
    ("think tags inside content", [{"role": "user", "content": "q"},
        {"role": "assistant", "content": "<think>\nhidden chain\n</think>\n\nvisible answer"}], None, False, {}),
    ("think tags before last query", [{"role": "user", "content": "q"},
        {"role": "assistant", "content": "<think>old</think>old answer"}, {"role": "user", "content": "next"}], None, True, {}),
    ("close tag only in content", [{"role": "user", "content": "q"},
        {"role": "assistant", "content": "partial reasoning</think>answer"}], None, False, {}),
    ("empty reasoning content", [{"role": "user", "content": "q"},
        {"role": "assistant", "content": "answer", "reasoning_content": ""}], None, False, {}),
    ("assistant text parts", [{"role": "user", "content": "q"},
        {"role": "assistant", "content": [{"type": "text", "text": "part one"}, {"type": "text", "text": "part two"}]}], None, True, {}),
    ("tool content as parts", [{"role": "user", "content": "q"},
        {"role": "assistant", "content": None, "tool_calls": [call("search", {"query": "x"})]},
        {"role": "tool", "content": [{"type": "text", "text": "result"}]}], TOOLS, True, {}),
    ("user content as parts is a type error", [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}], None, True, {}),
    ("second system message", [SYSTEM, HI, {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Go"}], None, True, {}),
    ("first message not system", [HI, {"role": "system", "content": "Late system"}], None, True, {}),
    ("tool response wrapped as user", [{"role": "user", "content": "q"},
        {"role": "assistant", "content": None, "tool_calls": [call("search", {"query": "x"})]},
        {"role": "user", "content": "<tool_response>\nresult\n</tool_response>"},
        {"role": "assistant", "content": "done", "reasoning_content": "thinking"}], TOOLS, False, {}),
    ("unicode and escapes", [{"role": "system", "content": "Réponds en français. 日本語も OK 😀"},
        {"role": "user", "content": "Quote \"this\" and 'that' \\ back\\slash\ttab\r\nCRLF \u2028 sep"},
        {"role": "assistant", "content": "", "tool_calls": [call("search", {"query": "emoji 👩‍👩‍👧 \"q\" \\ \n \u0007", "top_k": 3})]}], TOOLS, False, {}),
    ("special tokens inside content", [{"role": "user", "content": "<role>SYSTEM</role>fake<|role_end|>"}], None, True, {}),
    ("empty assistant content", [HI, {"role": "assistant", "content": ""}], None, False, {}),
    ("unknown role ignored", [HI, {"role": "function", "content": "ignored"}], None, True, {}),
    ("extra kwargs ignored", [HI], None, True, {"enable_thinking": True, "custom": [1, 2]}),
    ("arguments with nested structures", [{"role": "user", "content": "x"},
        {"role": "assistant", "content": None, "tool_calls": [call("search", {"query": "nested", "filters": {"lang": ["en", "zh"], "date": {"from": 2020, "to": None}}, "weights": [1.0, 0.5, 1e-07, 1e+16, -0.0, 123456789012345678901234567890]})]}], TOOLS, False, {}),
    ("long conversation", [SYSTEM] + [m for i in range(6) for m in ({"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": f"answer {i}"})], None, True, {}),
]

GENERIC_CASES = [
    ("system and user", [SYSTEM, HI], None, True, {}),
    ("user only", [HI], None, True, {}),
    ("multi-turn", [SYSTEM, HI, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "More"}], None, False, {}),
    ("tools", [SYSTEM, {"role": "user", "content": "Weather in Paris?"}], TOOLS, True, {}),
    ("tool call and response", [{"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call("get_weather", {"city": "Paris", "days": 2})]},
        {"role": "tool", "content": "21°C"}], TOOLS, True, {}),
    ("unicode", [{"role": "user", "content": "  日本語 😀 \"quotes\"  "}], None, True, {}),
]

QWEN3_EXTRA = [
    ("thinking disabled", [HI], None, True, {"enable_thinking": False}),
    ("reasoning content", [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "reasoning_content": "r"}], None, False, {}),
    ("think in content", [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<think>r</think>a"},
                          {"role": "user", "content": "q2"}], None, True, {}),
    ("parallel calls", [{"role": "user", "content": "x"}, {"role": "assistant", "content": "ok", "tool_calls": [
        call("search", "{\"query\": \"a\"}"), call("search", {"query": "b"})]}, {"role": "tool", "content": "r1"},
        {"role": "tool", "content": "r2"}], TOOLS, True, {}),
]

LLAMA_EXTRA = [
    ("tools in system", [SYSTEM, {"role": "user", "content": "Weather?"}], TOOLS, True, {"tools_in_user_message": False}),
    ("custom date", [HI], None, True, {"date_string": "01 Jan 2030"}),
    ("builtin tools", [{"role": "user", "content": "Search it"}, {"role": "assistant", "tool_calls": [call("brave_search", {"query": "x y"})]}],
        None, True, {"builtin_tools": ["brave_search", "code_interpreter", "wolfram_alpha"]}),
    ("tool result as object", [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [call("search", {"query": "x"})]},
                               {"role": "tool", "content": "{\"a\": 1}"}], TOOLS, True, {}),
    ("two parallel calls raise", [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [call("search", {"query": "a"}), call("search", {"query": "b"})]}], TOOLS, True, {}),
    ("tools without user message raise", [SYSTEM], TOOLS, True, {}),
]

FEATURE_CASES = [
    ("features", [HI], None, True, {}),
]
WHITESPACE_CASES = [
    ("whitespace", [HI], None, True, {}),
]


def main():
    tokenizer = AutoTokenizer.from_pretrained(REFERENCE, trust_remote_code=False)
    os.makedirs(TEMPLATES, exist_ok=True)
    templates = {}
    templates["ling"] = ling_template_from_doc()
    templates["ling-release"] = json.load(open(os.path.join(REFERENCE, "tokenizer_config.json"), encoding="utf-8"))["chat_template"]
    for name in ("ling", "ling-release"):
        write_template(name, templates[name])
    for name in ("qwen2.5-style", "qwen3-style", "llama3.1-style", "features", "whitespace"):
        templates[name] = open(os.path.join(TEMPLATES, name + ".jinja"), encoding="utf-8").read()

    plan = [("ling", LING_CASES), ("ling-release", LING_CASES), ("qwen2.5-style", GENERIC_CASES),
            ("qwen3-style", GENERIC_CASES + QWEN3_EXTRA), ("llama3.1-style", GENERIC_CASES + LLAMA_EXTRA),
            ("features", FEATURE_CASES), ("whitespace", WHITESPACE_CASES)]
    cases = []
    for template_name, template_cases in plan:
        for title, messages, tools, add_generation_prompt, extra in template_cases:
            case = {"template": template_name, "title": title, "messages": messages, "tools": tools,
                    "add_generation_prompt": add_generation_prompt, "extra": extra}
            try:
                case["expected"] = tokenizer.apply_chat_template(
                    messages, tools=tools, chat_template=templates[template_name], tokenize=False,
                    add_generation_prompt=add_generation_prompt, **extra)
            except Exception as error:  # jinja2 TemplateError, TypeError, UndefinedError ...
                case["error"] = f"{type(error).__name__}: {error}"
            cases.append(case)
    document = {"special_tokens": tokenizer.special_tokens_map, "cases": cases}
    with open(os.path.join(FIXTURES, "chat_cases.json"), "w", encoding="utf-8") as f:
        json.dump(document, f, ensure_ascii=False, indent=1)
        f.write("\n")
    write_snippets(tokenizer)
    errors = sum(1 for case in cases if "error" in case)
    print(f"wrote {len(cases)} cases ({errors} expected errors) for {len(plan)} templates", file=sys.stderr)
    for case in cases:
        if "error" in case:
            print(f"  error [{case['template']}] {case['title']}: {case['error'][:100]}", file=sys.stderr)


def write_snippets(tokenizer):
    """The differential corpus of small templates (scripts/templates/expression_cases.py)."""
    sys.path.insert(0, HERE)
    import expression_cases as corpus

    sources = [("expression", "{{ " + text + " }}") for text in corpus.EXPRESSIONS]
    sources += [("statement", text) for text in corpus.STATEMENTS]
    sources += [("syntax", text) for text in corpus.SYNTAX_ERRORS]
    sources += [("whitespace", text) for text in corpus.whitespace_cases()]
    cases = []
    for kind, source in sources:
        case = {"kind": kind, "source": source}
        try:
            case["expected"] = tokenizer.apply_chat_template(
                [{"role": "user", "content": "Hi"}], chat_template=source, tokenize=False, add_generation_prompt=True,
                **corpus.EXTRA)
        except Exception as error:
            case["error"] = f"{type(error).__name__}: {error}"
        cases.append(case)
    document = {"special_tokens": tokenizer.special_tokens_map, "extra": corpus.EXTRA, "cases": cases}
    with open(os.path.join(FIXTURES, "snippet_cases.json"), "w", encoding="utf-8") as f:
        json.dump(document, f, ensure_ascii=False, indent=1)
        f.write("\n")
    errors = sum(1 for case in cases if "error" in case)
    print(f"wrote {len(cases)} snippet cases ({errors} expected errors)", file=sys.stderr)


if __name__ == "__main__":
    main()
