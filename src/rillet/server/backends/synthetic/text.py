"""Readable, varied text on the prompt's topic, built from sentence templates.

Each kind of prompt (story, poem, joke, explanation, counting...) has its own small
grammar: slots filled from word lists and sentences chosen without repeats, all
through the `Sampler`, so the text is fixed by the prompt at temperature 0 and
varies with the seed above it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from rillet.server.backends.synthetic.prompt import Prompt
from rillet.server.backends.synthetic.sampler import Sampler
from rillet.server.backends.synthetic.tokens import count_tokens

SHORTEST, LONGEST = 40, 120  # default answer length in tokens, before the last sentence
_MAX_COUNT = 1000

_SLOTS: dict[str, tuple[str, ...]] = {
    "name": ("Pip", "Nova", "Bolt", "Juniper", "Milo", "Echo", "Tess", "Orbit", "Rusty", "Lumen"),
    "place": (
        "a quiet town by the sea", "a busy city of glass towers", "a valley full of wildflowers",
        "an old workshop at the edge of the forest", "a village high in the mountains",
        "a small house beside a slow river",
    ),
    "object": (
        "a tiny brass key", "a map drawn in faded ink", "a seed that glowed in the dark",
        "a music box with no tune", "a letter addressed to nobody", "a compass that pointed home",
    ),
    "hiding": (
        "a pile of autumn leaves", "the loose floorboard in the kitchen",
        "an abandoned bird's nest", "a stack of forgotten books", "the roots of an old oak tree",
    ),
    "helper": (
        "a wise old owl", "the baker next door", "a clever stray cat", "a retired sailor",
        "a girl who collected maps", "the lighthouse keeper",
    ),
    "terrain": (
        "rolling green hills", "a forest of whispering pines", "a desert of silver sand",
        "a field of tall sunflowers", "a long and winding coastline",
    ),
    "talk": (
        "the stars", "what makes a friend", "their favourite songs", "the meaning of home",
        "everything they had ever been afraid of",
    ),
    "goal": (
        "the top of the highest hill", "a garden hidden behind a waterfall",
        "the ruins of an ancient library", "a clearing where the fireflies gathered",
        "the end of the old railway line",
    ),
    "smell": ("rain and pine", "warm bread", "salt and seaweed", "wild honey", "fresh snow"),
    "lesson": (
        "the best discoveries are shared with friends", "being brave does not mean being fearless",
        "home is the people who wait for you", "small kindnesses can change a whole town",
        "curiosity is a kind of courage",
    ),
    "habit": (
        "greeted every visitor with a smile", "kept the key on a string around its neck",
        "told the story to anyone who would listen", "planted a new seed every spring",
        "helped the neighbours whenever it could",
    ),
    "daily": (
        "swept the streets", "counted the boats in the harbour", "repaired broken clocks",
        "watered the flowers in the square", "sorted letters at the post office",
    ),
    "mood": ("curious", "restless", "hopeful", "quiet", "determined", "lonely"),
    "image": (
        "light on the water", "the hum of the evening", "leaves turning in the wind",
        "a door left open", "footsteps in new snow", "a lamp in a far window",
    ),
}  # fmt: skip

_STORY_OPENINGS = (
    "Once upon a time, in {place}, there lived a {mood} {noun} named {name}.",
    "{name} was a small {noun} who lived in {place}.",
    "In {place}, a {noun} called {name} woke up one morning with a strange idea.",
    "Long ago, in {place}, there was a {mood} {noun} named {name} who dreamed of adventure.",
)
# The story's arc: one sentence per stage, stages kept in this order. Shorter stories
# drop stages in _STORY_CUTS order, which never leaves a stage whose setup is gone.
_STORY_STAGES = (
    ("Every day, {name} {daily}, but something always felt missing.",
     "Most mornings, {name} {daily} and dreamed of faraway places."),
    ("One morning, {name} found {object} hidden under {hiding}.",
     "One day, a gust of wind left {object} right at {name}'s feet."),
    ("{name} had never seen anything like it, so the {noun} went to ask {helper} for help.",
     "Curious, {name} showed it to {helper}, who smiled as if remembering something."),
    ("{name} and {helper} set out across {terrain}, talking about {talk} as they walked.",
     "The next day, {name} and {helper} followed the clues across {terrain}."),
    ("The journey was long, and more than once {name} wanted to turn back.",
     "A storm rolled in that night, and {name} stayed awake until the sky turned gold."),
    ("At last {name} reached {goal}, where the air smelled of {smell}.",
     "Finally, {name} arrived at {goal}, where the air smelled of {smell}."),
    ("There, {name} discovered that {object} was the answer to an old riddle.",
     "There, {object} began to glow, and everything suddenly made sense."),
)  # fmt: skip
_STORY_CUTS = (4, 0, 2, 6, 5, 3)  # stage 1, the discovery, always stays
_STORY_ENDINGS = (
    "From that day on, {name} {habit}, and the world around {name} was a little brighter.",
    "When {name} finally came home, the {noun} knew that {lesson}.",
    "And so {name} learned that {lesson}.",
)
_POEM_LINES = (
    "{Subject}, like {image},", "I think of {subject} when the day grows thin,",
    "there is a quiet music in {subject},", "and every hour returns to {image},",
    "we carry {subject} the way rivers carry light,", "soft as {image}, patient as stone,",
    "and where the morning begins, there is {subject},", "and the world leans in to listen,",
)  # fmt: skip
_HAIKU_LINES = (
    ("Quiet {subject} hums", "Morning light, {subject}", "Soft {subject} at dawn",
     "Late night, {subject}"),
    ("thoughts drift like leaves on water", "a small bright idea takes shape",
     "the world slows down to listen", "patient hands shape something new"),
    ("then the screen goes still", "silence, then a spark", "and the day begins",
     "all of it makes sense"),
)  # fmt: skip
_JOKES = (
    "Why don't scientists trust atoms? Because they make up everything!",
    "I told my computer I needed a break, and it said: no problem, I'll go to sleep.",
    "Why did the scarecrow win an award? Because it was outstanding in its field.",
    "Why do programmers prefer dark mode? Because light attracts bugs.",
    "What do you call a fish with no eyes? A fsh.",
)
_SUBJECT_JOKES = (
    "Why did {subject} bring a ladder to the meeting? It heard the discussion was on another "
    "level.",
    "I tried to explain {subject} to my cat. Now the cat gives the better talk about it.",
    "{Subject} walked into a bar, ordered a drink, and said: put it on my tab, I'm good for it.",
)
_JOKE_CODAS = ("", " Want to hear another one?", " I'll be here all week.")
_EXPLAIN = (
    "At its core, {subject} is about a few simple ideas that build on each other.",
    "People usually start with {subject} by learning the basic terms and trying small examples.",
    "One useful way to think about {subject} is to ask what problem it solves and for whom.",
    "Over the years, {subject} has grown, and today it shows up in many everyday situations.",
    "A common mistake is to memorise details of {subject} before the big picture is clear.",
    "If you want to go further, pick one small project that involves {subject} and learn as "
    "you build it.",
    "Experts in {subject} tend to agree on the basics, even when they argue about the details.",
    "The best way to check your understanding of {subject} is to explain it to someone else.",
)
_EXPLAIN_OPENINGS = (
    "{Subject} is a topic worth understanding step by step.",
    "Here is a short overview of {subject}.",
    "Good question: {subject} is easier to follow than it first looks.",
)
_EXPLAIN_CLOSINGS = (
    "In short, {subject} rewards curiosity and steady practice.",
    "I hope this gives you a clear starting point for {subject}.",
    "Let me know if you would like a deeper look at any part of {subject}.",
)
_GENERAL = (
    "I'm happy to help with that.",
    "Here is a short answer.",
    "There are a few things worth keeping in mind.",
    "First, it helps to be clear about what you want to achieve.",
    "Second, small and steady steps usually work better than one big leap.",
    "It is also worth checking your assumptions along the way.",
    "If something does not work the first time, try a simpler version and build up from there.",
    "Let me know if you would like more detail on any part of this.",
)
_TASK_OPENINGS = (
    "Sure, here is a short take on {subject}.",
    "Happy to help with {subject}.",
    "Here is how I would go about {subject}.",
)
_TASK = (
    "The first step in {subject} is to be clear about what a good result looks like.",
    "After that, it is mostly a matter of small, careful steps.",
    "It helps to write down anything you are unsure of before you begin.",
    "A common pitfall when {subject} is rushing past the details.",
    "Once a first version is done, check it against what you expected.",
    "If the result is not quite right, adjust one thing at a time.",
)
_TASK_CLOSINGS = (
    "Let me know if you would like me to go through {subject} in more detail.",
    "I hope that helps with {subject}.",
)
_GREETINGS = (
    "Hello! How can I help you today?",
    "Hi there! What can I do for you?",
    "Hello! It's nice to hear from you. What would you like to talk about?",
)
_GREETING_OFFERS = (
    "I can answer questions, write stories, or help you think through a problem.",
    "Ask me anything, from a quick fact to a long story.",
)
_COUNT_INTROS = ("", "Sure! ", "Here you go: ", "Of course. ")
_TOOL_INTROS = ("Here is what I found: ", "Based on the result, ", "The tool reports that ")
_TOOL_CLOSINGS = ("", " Let me know if you need anything else.", " Anything else I can check?")

_LEADING_ARTICLE = re.compile(r"^(?:a|an|the|some|my|your)\s+", re.I)
_CLAUSE = re.compile(r"\s+(?:who|that|which|and|with|named|called)\b.*$", re.I)


def compose(prompt: Prompt, sampler: Sampler) -> str:
    """The answer text for a prompt."""
    writer = _WRITERS.get(prompt.intent, _general)
    if prompt.tool_result is not None:
        writer = _report_tool_result
    return writer(prompt, sampler)


def compose_json_object(prompt: Prompt, sampler: Sampler) -> dict[str, Any]:
    """A JSON object answer, for response_format json_object."""
    if prompt.count:
        start, end = prompt.count
        return {"numbers": list(_count_range(start, end))}
    topic = prompt.subject or "your request"
    answer = compose(prompt, sampler)
    keywords = [word for _, word in prompt.words][:5] or ["general"]
    return {"topic": topic, "answer": _first_sentences(answer, 2), "keywords": keywords}


def _fill(template: str, slots: dict[str, str], sampler: Sampler) -> str:
    """Fill {slot} and {Slot} placeholders; list slots are chosen per template."""

    def value(m: re.Match[str]) -> str:
        key = m.group(1)
        lower = key[0].lower() + key[1:]
        text = slots[lower] if lower in slots else sampler.choice(_SLOTS[lower])
        return text[0].upper() + text[1:] if key[0].isupper() and text else text

    return re.sub(r"\{(\w+)\}", value, template)


def _sentences_until(
    sentences: Sequence[str],
    slots: dict[str, str],
    sampler: Sampler,
    budget: int,
    fixed: int = 0,
    keep_order: bool = False,
) -> list[str]:
    """Distinct sentences until about `budget` tokens; in list order for a narrative."""
    picked, used = [], fixed
    for template in sampler.pick_distinct(sentences, len(sentences)):
        if used >= budget:
            break
        picked.append(template)
        used += count_tokens(" " + template)  # placeholders count about as much as words
    if keep_order:
        picked.sort(key=sentences.index)
    return [_fill(template, slots, sampler) for template in picked]


def _budget(sampler: Sampler) -> int:
    return sampler.between(SHORTEST, LONGEST)


def _story(prompt: Prompt, sampler: Sampler) -> str:
    slots = {"noun": _noun(prompt.subject) or "robot"}
    for fixed_slot in ("name", "place", "object", "helper"):
        slots[fixed_slot] = sampler.choice(_SLOTS[fixed_slot])
    opening = _fill(sampler.choice(_STORY_OPENINGS), slots, sampler)
    ending = _fill(sampler.choice(_STORY_ENDINGS), slots, sampler)
    stages = [_fill(sampler.choice(stage), slots, sampler) for stage in _STORY_STAGES]
    sizes = [count_tokens(" " + sentence) for sentence in stages]
    total = count_tokens(opening) + count_tokens(" " + ending) + sum(sizes)
    budget, kept = sampler.between(SHORTEST + 20, LONGEST), set(range(len(stages)))
    for stage in _STORY_CUTS:
        if total <= budget:
            break
        kept.discard(stage)
        total -= sizes[stage]
    return " ".join([opening, *(stages[i] for i in sorted(kept)), ending])


def _poem(prompt: Prompt, sampler: Sampler) -> str:
    slots = {"subject": prompt.subject or "the evening"}
    lines = sampler.pick_distinct(_POEM_LINES, sampler.between(4, 8))
    filled = [_fill(line, slots, sampler) for line in lines]
    return "\n".join(line[0].upper() + line[1:] for line in filled).rstrip(",") + "."


def _haiku(prompt: Prompt, sampler: Sampler) -> str:
    slots = {"subject": _bare(prompt.subject) or "rain"}
    return "\n".join(_fill(sampler.choice(line), slots, sampler) for line in _HAIKU_LINES)


def _joke(prompt: Prompt, sampler: Sampler) -> str:
    subject = _bare(prompt.subject)
    if subject and subject.lower() not in ("joke", "jokes"):
        joke = _fill(sampler.choice(_SUBJECT_JOKES), {"subject": subject}, sampler)
    else:
        joke = sampler.choice(_JOKES)
    return joke + sampler.choice(_JOKE_CODAS)


def _explain(prompt: Prompt, sampler: Sampler) -> str:
    return _framed(prompt.subject or "this topic", _EXPLAIN_OPENINGS, _EXPLAIN, _EXPLAIN_CLOSINGS,
                   sampler)  # fmt: skip


def _task(prompt: Prompt, sampler: Sampler) -> str:
    return _framed(prompt.subject or "this", _TASK_OPENINGS, _TASK, _TASK_CLOSINGS, sampler,
                   in_order=True)  # fmt: skip


def _framed(
    subject: str,
    openings: Sequence[str],
    body: Sequence[str],
    closings: Sequence[str],
    sampler: Sampler,
    in_order: bool = False,
) -> str:
    """An opening, distinct body sentences up to the length budget, and a closing."""
    slots = {"subject": subject}
    opening = _fill(sampler.choice(openings), slots, sampler)
    closing = _fill(sampler.choice(closings), slots, sampler)
    fixed = count_tokens(opening) + count_tokens(" " + closing)
    middle = _sentences_until(body, slots, sampler, _budget(sampler), fixed, in_order)
    return " ".join([opening, *middle, closing])


def _general(prompt: Prompt, sampler: Sampler) -> str:
    if prompt.subject:
        return _explain(prompt, sampler)
    return " ".join(_sentences_until(_GENERAL, {}, sampler, _budget(sampler)))


def _greet(prompt: Prompt, sampler: Sampler) -> str:
    return f"{sampler.choice(_GREETINGS)} {sampler.choice(_GREETING_OFFERS)}"


def _count(prompt: Prompt, sampler: Sampler) -> str:
    start, end = prompt.count or (1, 10)
    numbers = [str(n) for n in _count_range(start, end)]
    separator = sampler.choice((", ", "\n"))
    tail = "." if separator == ", " else ""
    intro = sampler.choice(_COUNT_INTROS)
    if intro and separator == "\n":
        intro = intro.rstrip() + "\n"
    return intro + separator.join(numbers) + tail


def _count_range(start: int, end: int) -> range:
    step = 1 if end >= start else -1
    end = start + step * min(abs(end - start), _MAX_COUNT - 1)
    return range(start, end + step, step)


def _report_tool_result(prompt: Prompt, sampler: Sampler) -> str:
    result = prompt.tool_result or ""
    try:
        data = json.loads(result)
    except ValueError:
        data = None
    if isinstance(data, dict) and data:
        facts = [f"the {str(k).replace('_', ' ')} is {_spoken(v)}" for k, v in data.items()]
        summary = ", ".join(facts[:-1]) + (" and " if len(facts) > 1 else "") + facts[-1]
    else:
        summary = "the result is " + (_spoken(data) if data is not None else result.strip())
    return sampler.choice(_TOOL_INTROS) + summary + "." + sampler.choice(_TOOL_CLOSINGS)


def _spoken(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_spoken(v) for v in value) or "empty"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return str(value)


def _first_sentences(text: str, n: int) -> str:
    parts = re.split(r"(?<=[.!?])\s+", text)
    return " ".join(parts[:n])


def _bare(subject: str | None) -> str | None:
    return _LEADING_ARTICLE.sub("", subject) if subject else None


def _noun(subject: str | None) -> str | None:
    bare = _bare(subject)
    return _CLAUSE.sub("", bare).lower() if bare else None


_WRITERS: dict[str, Callable[[Prompt, Sampler], str]] = {
    "story": _story,
    "poem": _poem,
    "haiku": _haiku,
    "joke": _joke,
    "explain": _explain,
    "general": _general,
    "greet": _greet,
    "task": _task,
    "count": _count,
}
