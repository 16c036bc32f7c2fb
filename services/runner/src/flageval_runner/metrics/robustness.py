"""HELM-style robustness perturbations (SPEC §6).

Only an item's *input* is perturbed; choices, labels and references never are. Every
perturbation is deterministic given ``(text, kind, seed)``: the random generator is seeded
from all three, so results do not depend on the order items are processed in.

Kinds (after HELM's ``LowerCasePerturbation``, ``ContractionPerturbation`` /
``ExpansionPerturbation``, ``MisspellingPerturbation`` and ``SpacePerturbation``):

* ``lowercase`` — the whole input lowercased.
* ``contractions`` — if the input contains a contraction from the fixed table, every one is
  expanded (``don't`` → ``do not``); otherwise every expandable phrase is contracted
  (``do not`` → ``don't``). Capitalisation of the first letter is kept.
* ``misspellings`` — each word found in a fixed table of common misspellings is replaced,
  with probability ``MISSPELLING_PROB``, by one of its misspellings (seeded choice).
* ``extra_spaces`` — every run of spaces becomes 1..``MAX_SPACES`` spaces (seeded).

The robustness score of an item is the worst (minimum) score over the original input and
every perturbed input (:func:`worst_case`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable

KINDS: tuple[str, ...] = ("lowercase", "contractions", "misspellings", "extra_spaces")
MISSPELLING_PROB = 0.5
MAX_SPACES = 3

# contraction → expansion (a fixed table; unambiguous entries only).
CONTRACTIONS: dict[str, str] = {
    "aren't": "are not",
    "can't": "cannot",
    "couldn't": "could not",
    "didn't": "did not",
    "doesn't": "does not",
    "don't": "do not",
    "hadn't": "had not",
    "hasn't": "has not",
    "haven't": "have not",
    "he'll": "he will",
    "I'd": "I would",
    "I'll": "I will",
    "I'm": "I am",
    "I've": "I have",
    "isn't": "is not",
    "it'll": "it will",
    "let's": "let us",
    "mightn't": "might not",
    "mustn't": "must not",
    "shan't": "shall not",
    "she'll": "she will",
    "shouldn't": "should not",
    "that'll": "that will",
    "there're": "there are",
    "they'll": "they will",
    "they're": "they are",
    "they've": "they have",
    "wasn't": "was not",
    "we'll": "we will",
    "we're": "we are",
    "we've": "we have",
    "weren't": "were not",
    "what're": "what are",
    "won't": "will not",
    "wouldn't": "would not",
    "you'd": "you would",
    "you'll": "you will",
    "you're": "you are",
    "you've": "you have",
}
_EXPANSIONS: dict[str, str] = {v.lower(): k for k, v in CONTRACTIONS.items()}

# word → common misspellings (a fixed table written for this project).
MISSPELLINGS: dict[str, tuple[str, ...]] = {
    "about": ("abuot", "abotu"),
    "absence": ("absense",),
    "across": ("accross",),
    "address": ("adress",),
    "after": ("afetr",),
    "again": ("agian",),
    "almost": ("allmost",),
    "always": ("allways", "alwasy"),
    "amount": ("ammount",),
    "another": ("anohter",),
    "answer": ("anwser", "answre"),
    "apparent": ("apparant",),
    "argument": ("arguement",),
    "because": ("becuase", "becasue"),
    "before": ("befor", "beofre"),
    "beginning": ("begining",),
    "believe": ("beleive", "belive"),
    "between": ("betwen", "bewteen"),
    "business": ("buisness", "busness"),
    "calendar": ("calender",),
    "cannot": ("cannnot",),
    "certain": ("certian",),
    "city": ("citiy",),
    "color": ("colour", "coler"),
    "coming": ("comming",),
    "committee": ("commitee",),
    "completely": ("completly",),
    "correct": ("corect",),
    "could": ("coudl", "cuold"),
    "country": ("contry", "coutnry"),
    "definitely": ("definately", "definitly"),
    "different": ("diffrent", "differnt"),
    "does": ("dose", "deos"),
    "during": ("durring",),
    "each": ("eahc",),
    "embarrass": ("embarass",),
    "environment": ("enviroment",),
    "every": ("evrey", "everry"),
    "example": ("exmaple", "exampel"),
    "existence": ("existance",),
    "familiar": ("familar",),
    "finally": ("finaly",),
    "first": ("frist", "fisrt"),
    "following": ("folowing", "follwing"),
    "friend": ("freind", "frend"),
    "government": ("goverment",),
    "grammar": ("grammer",),
    "happened": ("happend",),
    "have": ("ahve", "hvae"),
    "height": ("heigth",),
    "immediately": ("immediatly",),
    "independent": ("independant",),
    "interest": ("intrest",),
    "know": ("konw", "knwo"),
    "language": ("langauge", "languge"),
    "library": ("libary",),
    "many": ("mnay", "meny"),
    "much": ("muhc",),
    "necessary": ("neccessary", "necessery"),
    "number": ("numbr", "nubmer"),
    "occasion": ("ocassion",),
    "occurred": ("occured",),
    "other": ("ohter", "othr"),
    "people": ("poeple", "peopel"),
    "possible": ("possable",),
    "probably": ("probaly",),
    "question": ("quesiton", "qeustion"),
    "really": ("realy", "relaly"),
    "receive": ("recieve",),
    "recommend": ("recomend",),
    "remember": ("rember", "remeber"),
    "separate": ("seperate",),
    "should": ("shoud", "sholud"),
    "since": ("sinse",),
    "something": ("somthing", "someting"),
    "still": ("stil",),
    "surprise": ("suprise",),
    "their": ("thier",),
    "there": ("tehre", "ther"),
    "these": ("thees",),
    "they": ("tehy", "thay"),
    "thing": ("thign",),
    "think": ("thnik", "thikn"),
    "though": ("tho", "thouhg"),
    "through": ("throught", "thru"),
    "tomorrow": ("tommorow", "tomorow"),
    "truly": ("truely",),
    "until": ("untill",),
    "water": ("watter", "wtaer"),
    "weird": ("wierd",),
    "what": ("waht", "whta"),
    "when": ("wehn", "whne"),
    "where": ("wehre", "were"),
    "which": ("wich", "whcih"),
    "while": ("whiel",),
    "with": ("wiht", "whit"),
    "would": ("woudl", "wuold"),
    "write": ("wrtie",),
    "years": ("yeras",),
    "your": ("yuor", "yoru"),
}

_WORD_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


def _rng(text: str, kind: str, seed: int) -> random.Random:
    return random.Random(f"{kind}\x00{seed}\x00{text}")


def _match_case(original: str, replacement: str) -> str:
    if original.isupper() and len(original) > 1:
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def _contractions(text: str) -> str:
    lowered_keys = {k.lower(): v for k, v in CONTRACTIONS.items()}
    norm = text.replace("\u2019", "'")
    words = _WORD_RE.findall(norm)
    if any(w.lower() in lowered_keys for w in words):

        def expand(m: re.Match[str]) -> str:
            w = m.group(0)
            exp = lowered_keys.get(w.lower())
            if exp is None:
                return w
            return exp if exp.startswith("I ") else _match_case(w, exp)

        return _WORD_RE.sub(expand, norm)
    pattern = re.compile(
        r"\b("
        + "|".join(re.escape(p) for p in sorted(_EXPANSIONS, key=len, reverse=True))
        + r")\b",
        re.IGNORECASE,
    )

    def contract(m: re.Match[str]) -> str:
        phrase = m.group(0)
        con = _EXPANSIONS[phrase.lower()]
        return con if con.startswith("I'") else _match_case(phrase, con)

    return pattern.sub(contract, text)


def _misspellings(text: str, rng: random.Random, prob: float) -> str:
    def repl(m: re.Match[str]) -> str:
        w = m.group(0)
        options = MISSPELLINGS.get(w.lower())
        if not options or rng.random() >= prob:
            return w
        return _match_case(w, rng.choice(options))

    return _WORD_RE.sub(repl, text)


def _extra_spaces(text: str, rng: random.Random, max_spaces: int) -> str:
    return re.sub(r" +", lambda _m: " " * rng.randint(1, max_spaces), text)


def perturb(text: str, kind: str, seed: int = 0) -> str:
    """Apply one perturbation ``kind`` (see :data:`KINDS`) to an input text."""
    if kind == "lowercase":
        return text.lower()
    if kind == "contractions":
        return _contractions(text)
    if kind == "misspellings":
        return _misspellings(text, _rng(text, kind, seed), MISSPELLING_PROB)
    if kind == "extra_spaces":
        return _extra_spaces(text, _rng(text, kind, seed), MAX_SPACES)
    raise ValueError(f"unknown perturbation {kind!r}; known: {', '.join(KINDS)}")


def perturbations(text: str, seed: int = 0, kinds: Iterable[str] = KINDS) -> dict[str, str]:
    """Every perturbed variant of ``text``, keyed by kind (variants equal to the original
    included; callers may skip re-asking the model for those)."""
    return {k: perturb(text, k, seed) for k in kinds}


def worst_case(original: float, perturbed: Iterable[float]) -> float:
    """Robustness score of an item: the minimum over the original and perturbed scores."""
    return min([original, *perturbed])
