"""Small templates for the differential corpus: expressions, Python semantics and whitespace control.

Each entry is a template source; make_chat_goldens.py renders it with transformers/jinja2 (context: messages=[Hi],
add_generation_prompt, special tokens, plus EXTRA) and records the output or the error.
"""
import itertools

EXTRA = {
    "text": "  Mixed Case, with  spaces\tand\nnewlines. héllo wörld 😀 ",
    "nums": [3, -1, 4.5, 0, 10],
    "words": ["banana", "Apple", "cherry", "apple"],
    "obj": {"b": 2, "a": {"c": [1, {"d": "deep"}]}, "n": None, "t": True, "f": 1.25, "s": "str", "e": [], "z": {}},
    "people": [{"name": "Ann", "age": 31}, {"name": "bob", "age": 25, "vip": True}, {"name": "Cy", "age": 40}],
    "big": 123456789012345678901234567890,
    "flt": 0.1,
    "zero": 0,
    "empty": "",
    "none_value": None,
}

EXPRESSIONS = [
    # arithmetic and numbers
    "1 + 2 * 3", "(1 + 2) * 3", "10 / 4", "10 // 4", "-10 // 4", "10 % 4", "-10 % 4", "10 % -4", "2 ** 8", "2 ** -1",
    "2 ** 0.5", "-2 ** 2", "(-2) ** 2", "7.0 // 2", "-7.5 % 2", "1e3", "1.0", "3 * 1.0", "0.1 * 3", "1 - 0.9",
    "100000000000000000.0", "1e-7", "123456789.123456789", "1 / 3 * 3", "true + true", "nums[0] + nums[2]", "flt + flt + flt",
    "big", "big|string", "big|tojson", "[big, flt]|tojson", "-0.0", "0.0 == -0.0", "1e308 * 10", "zero == 0.0", "+5", "-(3)",
    "5 // 0", "5 % 0", "5 / 0", "'a' + 1", "1 + 'a'", "none_value + 1", "[1] + [2, 3]", "(1,) + (2,)", "'ab' * 2", "2 * 'ab'",
    "[1, 2] * 2", "'x' - 'y'",
    # strings and printing
    "'abc'", "\"dq\"", "'a\\'b'", "\"a\\\"b\"", "'\\\\'", "'\\n'|length", "'\\x41\\u00e9\\U0001F600'", "'tab\\tx'",
    "text", "text|length", "text.strip()", "text.split()", "text.split(' ')", "text.split(',', 0)", "text.rsplit(None, 2)",
    "text.splitlines()", "text.upper()", "text.lower()", "text.title()", "text.capitalize()", "text|title", "text|capitalize",
    "text|wordcount", "text|trim", "text|trim(' .')", "text.strip(' .😀')", "text[1:5]", "text[-5:-1]", "text[::-1]",
    "text[100:]", "text[2]", "text[-1]", "text[100]", "text.find('with')", "text.count(' ')", "text.replace(' ', '')",
    "text.startswith(('x', '  M'))", "text.endswith(' ')", "text|replace('e', 'E', 1)", "text|indent(2, true)",
    "'a b c'.split(' ', 1)", "'a  b'.split(' ')", "''.split()", "''.split(',')", "'x'.split('x')", "',a,'.split(',')",
    "'  x  '.lstrip()", "'  x  '.rstrip()", "'xyxzx'.strip('x')", "'a-b-c'.rsplit('-', 1)", "'%s'|format('x') if false else 'ok'",
    "'é'|upper", "'ß'.upper()", "'İ'.lower()|length", "'ǆ'.title()", "'hello world'.title()", "\"they're bill's\".title()",
    "'abc' < 'abd'", "'Z' < 'a'", "'é' > 'z'", "'a' in text", "'😀' in text", "text is string", "empty is string",
    "empty|default('d')", "empty|default('d', true)", "'x' ~ none_value ~ undefined_var ~ 1.5 ~ [1] ~ obj.n",
    "'{}-{}'.format(1, 'b')", "'a,b'.split(',')|join(';')", "['x', 'y']|join", "'sep'.join(['1', '2'])",
    # collections
    "nums", "nums|sort", "nums|sort(reverse=true)", "nums|max", "nums|min", "nums|sum", "nums|length", "nums|first", "nums|last",
    "nums[1:]", "nums[:-1]", "nums[::2]", "nums[::-1]", "nums[-2]", "nums[10]", "nums|reverse|list", "nums|map('abs')|list",
    "nums|select('>', 2)|list", "nums|reject('==', 0)|list", "nums|map('string')|join(',')", "nums|map('int')|list",
    "words|sort", "words|sort(case_sensitive=true)", "words|unique|list", "words|unique(case_sensitive=true)|list",
    "words|map('upper')|list", "words|select('lower')|list", "words|first|upper", "words|join(', ')|length", "words|min", "words|max",
    "people|map(attribute='name')|list", "people|selectattr('vip')|list", "people|selectattr('vip', 'defined')|list|length",
    "people|rejectattr('age', 'lt', 30)|map(attribute='name')|join", "people|sort(attribute='age', reverse=true)|map(attribute='name')|list",
    "people|map(attribute='missing', default='?')|list", "people|sum(attribute='age')", "people|max(attribute='age')",
    "people[1].vip", "people[0].vip", "people[0].vip is defined", "people|length > 2", "people|tojson",
    "range(3)|list", "range(1, 10, 4)|list", "range(-3)|list", "range(100001)|length", "[1, 2, 3]|batch(2)|list",
    "(1, 2, 3)", "(1,)", "()", "[]", "{}", "[1, [2, [3]]]", "[1, 'x', none, true, 1.5, -0.0]", "((1, 2), [3])",
    "[3, 1, 2]|sort|first", "'abc'|list", "'abc'|reverse", "{'b': 1, 'a': 2}|list", "{'b': 1, 'a': 2}|first",
    "[1, 2] == [1, 2]", "[1, 2] == (1, 2)", "(1, 2) < (1, 3)", "[1, 'a'] < [1, 'b']", "[1] < ['a']", "1 < 'a'",
    # dicts
    "obj", "obj|tojson", "obj|tojson(indent=2)", "obj|tojson(indent='\\t')", "obj|tojson(sort_keys=true)", "obj|tojson(indent=0)",
    "obj|tojson(separators=(',', ':'))", "obj|tojson(ensure_ascii=true)", "obj.a.c[1].d", "obj['a']['c'][0]", "obj.a.c.1.d",
    "obj.missing", "obj.missing is defined", "obj.missing.deeper", "obj.n", "obj.n is none", "obj.n.attr", "obj.t is true",
    "obj.f is float", "obj.b is integer", "obj.e is iterable", "obj.z is mapping", "obj.e|length", "obj|length", "obj.items()|list",
    "obj.keys()|list", "obj.values()|list|length", "obj.get('b')", "obj.get('q', 5)", "obj.get('n', 5)", "obj|dictsort|first",
    "obj|items|list|length", "'b' in obj", "'q' in obj", "obj.b in [2]", "dict(a=1, b=[2])",
    "{'k': obj.b, 'l': [obj.f]}", "{'x': 1}.x", "{'x': 1}['y']", "obj.s.upper()", "obj.s|upper", "obj.f|round", "obj.f|int",
    # logic and tests
    "true and 'yes'", "false and 'yes'", "'' or 'fallback'", "0 or none_value", "not empty", "not not 'x'",
    "1 if obj.t else 2", "'a' if obj.n else 'b'", "'a' if obj.missing", "1 < 2 and 2 < 3 or false", "not 1 == 2",
    "1 is odd", "2 is even", "10 is divisibleby 5", "3 is divisibleby(2)", "'a' is eq('a')", "nums is sequence",
    "none_value is none", "undefined_var is undefined", "undefined_var is defined", "undefined_var is not defined",
    "undefined_var", "undefined_var|default('dflt')", "undefined_var|length", "undefined_var|list", "undefined_var|string",
    "undefined_var|upper", "undefined_var|trim", "undefined_var|join(',')", "undefined_var|first", "undefined_var == undefined_var",
    "undefined_var == none", "undefined_var.attr", "undefined_var['key']", "undefined_var + 1", "undefined_var()",
    "undefined_var is string", "undefined_var|tojson", "'x' in undefined_var", "undefined_var is iterable",
    "raise_exception('custom message ' ~ 42)", "messages|length", "messages[0].role", "messages[-1]['content']",
    "add_generation_prompt", "bos_token ~ eos_token", "tools", "tools is none", "documents is defined",
    "namespace(a=1).a", "namespace(obj).b", "nums is callable", "range is callable", "'x'.upper is callable",
    "nums.append", "nums.append(1)", "obj.update({})", "obj.pop('b')",
    # printf-style formatting
    "'%s and %r' % ('a', 'b')", "'%d%%' % 50", "'%5.2f|%-6s|%06d|%+d|% d' % (3.14159, 'ab', 42, 7, 7)", "'%x %X %o %#x' % (255, 255, 8, 255)",
    "'%e %g %G %.3e' % (12345.678, 0.00001234, 1e20, 1.5)", "'%(name)s is %(age)d' % {'name': 'Ann', 'age': 31}", "'%s' % [1, 2]",
    "'%s-%s'|format('a', 'b')", "'%(x)s'|format(x=1)", "'%c%c' % (65, 'b')", "'%.2s' % 'abcdef'", "'%s %s' % ('only one',)",
    "'%s' % ('a', 'b')", "'%d' % 'x'", "'%5s|%-5d|' % ('r', 3)", "'%s' % none_value", "'%.1f' % 0.05", "'%.0f' % 2.5",
]

STATEMENTS = [
    "{% for x in nums %}{{ loop.index }}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}",
    "{% for x in nums if x > 0 %}{{ loop.index }}:{{ x }}/{{ loop.length }} {% else %}none{% endfor %}",
    "{% for x in [] %}x{% else %}empty{% endfor %}",
    "{% for k, v in obj.items() %}{{ k }}={{ v }};{% endfor %}",
    "{% for a, b in [(1, 2), (3, 4)] %}{{ a * b }}{% endfor %}",
    "{% for a, b in [(1, 2, 3)] %}{{ a }}{% endfor %}",
    "{% for x in 5 %}{{ x }}{% endfor %}",
    "{% for x in none_value %}{{ x }}{% endfor %}",
    "{% for x in nums %}{% if x < 0 %}{% continue %}{% endif %}{% if x > 4 %}{% break %}{% endif %}{{ x }}{% endfor %}",
    "{% for row in [[1, 2], [3]] %}{% for c in row %}{{ loop.index }}{{ c }}{% endfor %}|{{ loop.index }}{% endfor %}",
    "{% for x in nums %}{{ loop.previtem }}>{{ x }}>{{ loop.nextitem }} {% endfor %}",
    "{% for x in 'abc' %}{{ loop.revindex }}{{ loop.cycle('-', '+') }}{% endfor %}",
    "{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}",
    "{% set ns = namespace(x=1) %}{% for i in [1, 2] %}{% set ns.x = ns.x * 10 + i %}{% endfor %}{{ ns.x }}",
    "{% set ns = namespace() %}{% set ns.items = [1] %}{{ ns.items }}",
    "{% set x = 'outer' %}{% if true %}{% set x = 'inner' %}{% endif %}{{ x }}",
    "{% set a, b = 1, 2 %}{{ b }}{{ a }}",
    "{% set a, b = [1] %}{{ a }}",
    "{% set s %}captured {{ 1 + 1 }}{% endset %}[{{ s }}]",
    "{% set s | trim | upper %}  padded  {% endset %}[{{ s }}]",
    "{% set x.y = 1 %}",
    "{% macro m(a, b=2, c='c') %}{{ a }}{{ b }}{{ c }}{% endmacro %}{{ m(1) }} {{ m(1, 3) }} {{ m(1, c=4) }} {{ m() }}",
    "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}",
    "{% macro outer() %}[{{ caller() }}]{% endmacro %}{% call outer() %}inside{% endcall %}",
    "{% macro row(item) %}<{{ item.name }}>{% endmacro %}{% for p in people %}{{ row(p) }}{% endfor %}",
    "{% macro m() %}{{ nums|length }}{% endmacro %}{{ m() }}",
    "{% filter upper %}abc {{ 'def' }}{% endfilter %}",
    "{% filter replace('a', 'o') | upper %}banana{% endfilter %}",
    "{% with x = 5 %}{{ x }}{% endwith %}{{ x }}",
    "{% raw %}{{ x }}{% endraw %}",
    "{% if obj.n %}a{% elif obj.t %}b{% else %}c{% endif %}",
    "{% if false %}a{% elif false %}b{% endif %}",
    "{% if messages[0].role == 'user' and messages[0].content.startswith('H') %}user first{% endif %}",
    "{{ 'a' }}{# comment #}{{ 'b' }}",
    "{% generation %}generated {{ 1 }}{% endgeneration %}",
    "{{ raise_exception('Only user and assistant roles are supported!') }}",
    "{{ strftime_now('%Y') | length }}",
    "{% for m in messages %}{{ m.role }}{% endfor %}",
    "{% for i in range(3) %}{{ i }}{% endfor %}{{ i }}",
    "{{ messages[0].content|tojson }}{{ tools|tojson }}",
    "{% for i in [1, 2] %}{% if i == 2 %}[{{ x }}]{% endif %}{% set x = i %}{% endfor %}",
    "{% set x = 0 %}{% for i in [1, 2] %}[{{ x }}]{% set x = i %}{% endfor %}{{ x }}",
    "{% for i in [1, 2] %}{% for j in [1] %}{% set y = i %}{% endfor %}[{{ y }}]{% endfor %}",
    "{% if true %}{% set a = 1 %}{% endif %}{% for i in [1] %}{{ a }}{% set a = 2 %}{{ a }}{% endfor %}{{ a }}",
    "{% for i in [1] %}{{ loop.index }}{% for j in [5, 6] %}{{ loop.index }}{% endfor %}{{ loop.index }}{% endfor %}",
    "{% macro m() %}{{ x }}{% endmacro %}{% for x in [7] %}{{ m() }}{% endfor %}",
    "{% macro wrap(t) %}<{{ t }}>{{ caller() }}</{{ t }}>{% endmacro %}{% for p in people %}{% call wrap('i') %}{{ p.name }}{{ loop.index }}{% endcall %}{% endfor %}",
    "{% for p in people %}{% macro tag() %}[{{ p.name }}]{% endmacro %}{{ tag() }}{% endfor %}",
    "{% macro m() %}{{ later }}{% endmacro %}{% set later = 'late' %}{{ m() }}",
    "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n }}*{{ fact(n - 1) }}{% endif %}{% endmacro %}{{ fact(4) }}",
    "{% macro list(items) %}{% for i in items %}{{ i }}{{ caller(i) if caller is defined }}{% endfor %}{% endmacro %}{{ list([1, 2]) }}",
    "{% macro greet(name) %}hi {{ name }}{% endmacro %}{{ greet('x')|upper }} {{ greet('y') ~ '!' }} {{ greet is callable }}",
    "a\u3000\u00a0 {%- if true -%} \u2003\nb\u3000{%- endif %}\u00a0\u3000c",
    "x {{- '\u3000' -}} \u3000 y\r\nz\r\n{% if true %}\r\n  w\r\n{% endif %}\r\n",
    "{{ '\u3000 wide \u00a0'.strip() }}|{{ '\u3000a b\u2003c'.split() }}|{{ '\x1c x \x1f'|trim }}",
]

SYNTAX_ERRORS = [
    "{% if true %}unclosed", "{% for x in nums %}x", "{{ 1 + }}", "{{ 'unterminated }}", "{% endif %}", "{% bogus %}",
    "{{ (1, 2 }}", "{{ a b }}", "{% set %}", "{% for in nums %}{% endfor %}", "{# never closed", "{{ 1 ", "{% if %}{% endif %}",
    "{{ [1, 2 }}", "{{ {'a' 1} }}", "{% macro m( %}{% endmacro %}", "{% if true %}{% else %}{% else %}{% endif %}",
    "{{ x | }}", "{{ x is }}", "{{ 1 ! 2 }}", "{% raw %}never closed",
]

PREFIXES = ["", "x", "\n", "  ", "\t", "\n  ", "x\n  ", "  \n", " x \n\t "]
OPENERS = ["{% if true %}", "{%- if true %}", "{%+ if true %}", "{% if true -%}", "{% if true +%}", "{{ 'v' }}", "{{- 'v' }}",
           "{{ 'v' -}}", "{# c #}", "{#- c #}", "{# c -#}", "{%- set q = 1 -%}", "{% set q = 1 %}"]
BODIES = ["", "A", "\nA\n", "  A  ", "\n", "\n\n"]
CLOSERS = ["{% endif %}", "{%- endif %}", "{% endif -%}", "{%- endif -%}", "{%+ endif %}", "{% endif +%}"]
SUFFIXES = ["", "\n", "\nz", "  \n", " z"]


def whitespace_cases():
    cases = []
    for prefix, opener, body, suffix in itertools.product(PREFIXES, OPENERS, BODIES, SUFFIXES):
        if "if true" in opener:
            for closer in CLOSERS:
                cases.append(prefix + opener + body + closer + suffix)
        else:
            cases.append(prefix + opener + body + suffix)
    # Keep the corpus a reasonable size: a deterministic stride through the product.
    return cases[::7]
