"""What the synthetic backend reads from a conversation.

Only light, predictable heuristics: the kind of answer asked for, its subject,
and the places and numbers mentioned, so that text and tool arguments can follow
the prompt ("What's the weather in Tokyo?" gives a call for Tokyo).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from rillet.server.backends.synthetic.tokens import words

Intent = Literal["count", "story", "poem", "haiku", "joke", "explain", "greet", "task", "general"]

STOPWORDS = words(
    """a an the and or but if then else of in on at to for from by with about into over
    under is are was were be been being am do does did done have has had i me my we
    us our you your he she it its they them their this that these those there here
    what whats which who whom whose when where why how can could would should will
    shall may might must please tell give show let make just some any all each every
    no not yes so very too also than as up down out off again more most much many
    few one s t like want need know think say said get got go going write explain
    describe hello hi hey thanks thank okay ok sure now today tomorrow current
    currently"""
)
# Capitalised words that are not places even after "in" or "on".
_NOT_PLACES = words(
    """I Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February
    March April May June July August September October November December Celsius
    Fahrenheit Kelvin English Python JSON API"""
)
# A second part that belongs to the place before it: "Paris, France", "Austin, TX".
_REGIONS = words(
    """France Japan USA US UK Germany Italy Spain Canada China India Brazil Mexico
    Australia England Scotland Ireland Wales Portugal Netherlands Korea Egypt Kenya
    Argentina Chile Peru Greece Turkey Sweden Norway Denmark Finland Poland Austria
    Switzerland Belgium California Texas Florida Ontario"""
)
_PLACE_WORD = r"[A-Z][\w'\u2019-]*"
_PLACE = re.compile(rf"{_PLACE_WORD}(?:\s+(?:(?:de|del|da|la|van|von)\s+)?{_PLACE_WORD})*")
_PLACE_LEAD = re.compile(r"\b(?:in|at|for|from|to|near|around|of|visit|visiting)\s+$", re.I)
_PLACE_JOIN = re.compile(r"^\s*(?:,\s*(?:and\s+|or\s+)?|and\s+|or\s+|&\s*)$")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.]*\w)")
_UNITS = "zero one two three four five six seven eight nine ten eleven twelve thirteen"
_TEENS = "fourteen fifteen sixteen seventeen eighteen nineteen twenty"
_TENS = {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80}
_NUMBER_WORDS = {w: i for i, w in enumerate(f"{_UNITS} {_TEENS}".split())} | _TENS
_NUMBER_WORDS |= {"ninety": 90, "hundred": 100, "thousand": 1000}
_SPELLED = re.compile(r"\b(?:(?:one|a)\s+(hundred|thousand)|(" + "|".join(_NUMBER_WORDS) + r"))\b")
_COUNT = re.compile(r"\bcount(?:\s+(?:from\s+)?(-?\d+))?\s+(?:up\s+)?to\s+(-?\d+)", re.I)
_ABOUT = re.compile(r"\b(?:about|on|of)\s+(.+?)\s*(?:[.?!;:,]|$)", re.I)
_EXPLAIN = re.compile(
    r"^(?:please\s+|can you\s+|could you\s+)?(?:explain|describe|define|what\s+is|what's|"
    r"what\s+are|who\s+is|who\s+was|tell\s+me\s+about|how\s+does|how\s+do|why\s+is)\s+"
    r"(.+?)\s*[.?!]*$",
    re.I,
)
_INTENTS: tuple[tuple[Intent, re.Pattern[str]], ...] = (
    ("haiku", re.compile(r"\bhaikus?\b", re.I)),
    ("poem", re.compile(r"\b(?:poems?|verses?|limericks?|sonnets?|rhymes?)\b", re.I)),
    ("story", re.compile(r"\b(?:story|stories|tale|fable|narrative)\b", re.I)),
    ("joke", re.compile(r"\b(?:jokes?|funny|pun)\b", re.I)),
    (
        "greet",
        re.compile(r"^\W*(?:hi|hello|hey|greetings|good\s+(?:morning|evening|afternoon))\b", re.I),
    ),
)
_REQUEST_VERBS = words(
    """compare set find list show create build plan help summarize summarise translate
    convert calculate compute book send check search recommend suggest name draft give
    make write fix improve rewrite review organise organize prepare outline design"""
)
_QUESTION = re.compile(
    r"^(how|why|where|when)\s+(do|does|did|can|should|would|is|are|was|were)\s+(.+?)\s*[.?!]*$",
    re.I,
)
_PRONOUNS = {"i": "you", "me": "you", "my": "your", "mine": "yours", "myself": "yourself"}
_ARTICLES = ("a", "an", "the", "my", "your", "this", "that", "these", "those", "our")
_WORD = re.compile(r"[A-Za-z][A-Za-z'\u2019]*")


@dataclass(frozen=True, slots=True)
class Prompt:
    """The facts of a conversation that shape the synthetic answer."""

    text: str  # the last user message
    intent: Intent
    subject: str | None  # "a robot", "Python", "coding"
    words: tuple[tuple[int, str], ...]  # normalised content words with their positions
    places: tuple[tuple[int, str], ...]  # places with their positions, in order
    numbers: tuple[tuple[int, float], ...]
    count: tuple[int, int] | None  # "count to 5" -> (1, 5)
    tool_result: str | None  # trailing tool output the answer should report


def message_text(message: dict[str, Any]) -> str:
    """All the text of one chat message, whatever shape its content takes."""
    parts = [_content_text(message.get("content"))]
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            parts.append(f"{function.get('name', '')} {function.get('arguments', '')}")
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        parts.append(f"{legacy.get('name', '')} {legacy.get('arguments', '')}")
    return " ".join(p for p in parts if p)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(_content_text(part) for part in content)
    if isinstance(content, dict):
        text = content.get("text", content.get("refusal"))
        return text if isinstance(text, str) else ""
    return ""


def normalise(word: str) -> str:
    """Lower case, without possessive or plural endings, for matching words."""
    word = word.lower().replace("\u2019", "'")
    word = word.removesuffix("'s").rstrip("'")
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def content_words(text: str) -> list[tuple[int, str]]:
    """Normalised words of `text` that carry meaning, with their positions."""
    found = []
    for m in _WORD.finditer(text):
        word = normalise(m.group())
        if word not in STOPWORDS and len(word) > 1:
            found.append((m.start(), word))
    return found


def read_prompt(messages: list[dict[str, Any]]) -> Prompt:
    text = ""
    for message in reversed(messages):
        if message.get("role") == "user":
            text = message_text(message).strip()
            break
    intent, subject = _intent_and_subject(text)
    count = _count(text)
    return Prompt(
        text=text,
        intent="count" if count else intent,
        subject=subject,
        words=tuple(content_words(text)),
        places=tuple(_places(text)),
        numbers=tuple(_numbers(text)),
        count=count,
        tool_result=_tool_result(messages),
    )


def _tool_result(messages: list[dict[str, Any]]) -> str | None:
    results = []
    for message in reversed(messages):
        if message.get("role") not in ("tool", "function"):
            break
        results.append(message_text(message))
    return "\n".join(reversed(results)) if results else None


def _intent_and_subject(text: str) -> tuple[Intent, str | None]:
    single_line = " ".join(text.split())
    for intent, pattern in _INTENTS:
        if pattern.search(single_line):
            about = _ABOUT.search(single_line)
            return intent, _trim_subject(about.group(1)) if about else None
    question = _QUESTION.match(single_line)
    if question:
        return "explain", _indirect_question(*question.groups())
    explained = _EXPLAIN.match(single_line)
    if explained:
        return "explain", _trim_subject(explained.group(1))
    request = single_line.rstrip(".?!").split()
    if request and request[0].lower() == "please":
        request.pop(0)
    if request and request[0].lower() in _REQUEST_VERBS:
        return "task", _phrase([_gerund(request[0]), *map(_swap_pronoun, request[1:])])
    about = _ABOUT.search(single_line)
    if about:
        return "general", _trim_subject(about.group(1))
    return "general", _trim_subject(" ".join(request)) if request else None


def _indirect_question(wh: str, aux: str, rest: str) -> str:
    """ "How do I sort a list" -> "how to sort a list"; "Why is it so" -> "why it is so"."""
    wh, aux, words = wh.lower(), aux.lower(), rest.split()
    if words[0].lower() in ("i", "you", "we") and aux in ("do", "can", "should", "would"):
        return _phrase([wh, "to", *map(_swap_pronoun, words[1:])])
    if wh in ("where", "when") and aux not in ("do", "does", "did"):
        return f"{_phrase([wh, *map(_swap_pronoun, words)])} {aux}"
    size = 2 if words[0].lower() in _ARTICLES and len(words) > 1 else 1
    subject, tail = [_swap_pronoun(w) for w in words[:size]], words[size:]
    if aux == "does" and tail:
        tail = [_third_person(tail[0]), *tail[1:]]
    verb = [] if aux in ("do", "does", "did") else [aux]
    return _phrase([wh, *subject, *verb, *map(_swap_pronoun, tail)])


def _phrase(words: list[str], limit: int = 10) -> str:
    """At most `limit` words, not ending on a word that needs a continuation."""
    words = words[:limit]
    while len(words) > 1 and words[-1].lower() in STOPWORDS:
        words.pop()
    return " ".join(words).strip(",;:")


def _swap_pronoun(word: str) -> str:
    """The asker's "I" and "my" become "you" and "your" in the answer."""
    return _PRONOUNS.get(word.lower(), word)


def _gerund(verb: str) -> str:
    v = verb.lower()
    if v.endswith("ie"):
        return v[:-2] + "ying"
    if v.endswith("e") and not v.endswith(("ee", "ye", "oe")):
        return v[:-1] + "ing"
    if re.fullmatch(r"[^aeiou]*[aeiou][bdgmnprt]", v):  # plan -> planning, set -> setting
        return v + v[-1] + "ing"
    return v + "ing"


def _third_person(verb: str) -> str:
    if verb.endswith(("s", "sh", "ch", "x", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2:-1] not in tuple("aeiou"):
        return verb[:-1] + "ies"
    return verb + "s"


def _trim_subject(phrase: str) -> str | None:
    words = phrase.split()[:6]
    return " ".join(words).strip("\"'“”") or None


def _count(text: str) -> tuple[int, int] | None:
    m = _COUNT.search(_spell_out_numbers(text))
    if not m:
        return None
    start = int(m.group(1)) if m.group(1) else 1
    return start, int(m.group(2))


def _spell_out_numbers(text: str) -> str:
    def digits(m: re.Match[str]) -> str:
        return str(_NUMBER_WORDS[(m.group(1) or m.group(2)).lower()])

    return _SPELLED.sub(digits, text)


def _numbers(text: str) -> list[tuple[int, float]]:
    spelled = _spell_out_numbers(text)
    if spelled != text:  # positions shift; keep order, which is what matters
        text = spelled
    return [(m.start(), float(m.group())) for m in _NUMBER.finditer(text)]


def _places(text: str) -> list[tuple[int, str]]:
    """Capitalised names after a place preposition ("in Tokyo"), and lists of them."""
    places: list[tuple[int, str]] = []
    last_end = -1
    for m in _PLACE.finditer(text):
        name = m.group().removesuffix("'s").removesuffix("\u2019s")
        if name.split()[0] in _NOT_PLACES:
            continue
        before = text[: m.start()]
        joined = last_end >= 0 and _PLACE_JOIN.match(text[last_end : m.start()])
        if joined and name in _REGIONS and places:
            pos, previous = places[-1]
            places[-1] = (pos, f"{previous}, {name}")
        elif _PLACE_LEAD.search(before) or joined:
            places.append((m.start(), name))
        else:
            last_end = -1
            continue
        last_end = m.end()
    return places


def loose_names(text: str) -> list[str]:
    """Capitalised names anywhere that are not ordinary sentence-opening words."""
    names = []
    for m in _PLACE.finditer(text):
        first = m.group().split()[0]
        if first.lower() not in STOPWORDS and first not in _NOT_PLACES:
            names.append(m.group().removesuffix("'s"))
    return names
