"""A deterministic demo model for FlagEval: it answers from a keyword table, no GPU needed.

``global_init`` loads ``model/keywords.json`` (a list of ``{"keyword", "answer"}`` rules).
``infer`` takes the last question of the prompt (few-shot exemplars before it are ignored),
lowercases it and collapses its whitespace, and answers with the first rule whose keyword
occurs in it; with none, it answers "I do not know." (scored wrong). Served by the public
``flageval-serving`` CLI: ``flageval-serving --service service.py run model``.
"""

from __future__ import annotations

import json
import os
import re

from flageval.serving.service import NLPCompletion, NLPEvalRequest, NLPEvalResponse, NLPModelService

UNKNOWN = "I do not know."
_MARKERS = ("Question:", "问题\uff1a")  # the English and Chinese templates


def last_question(prompt: str) -> str:
    """The text of the last question in a prompt built by the harness (its first line)."""
    cut = max(prompt.rfind(m) + len(m) if m in prompt else -1 for m in _MARKERS)
    text = prompt[cut:] if cut >= 0 else prompt
    return text.strip().split("\n", 1)[0]


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def lookup(rules: list[dict[str, str]], question: str) -> str:
    """The answer of the first rule whose keyword occurs in the question."""
    norm = normalize(question)
    for rule in rules:
        if normalize(rule["keyword"]) in norm:
            return rule["answer"]
    return UNKNOWN


class Service(NLPModelService):
    def global_init(self, model_path: str) -> None:
        with open(os.path.join(model_path, "keywords.json"), encoding="utf-8") as fh:
            self.rules: list[dict[str, str]] = json.load(fh)["rules"]
        print(f"demo bundle: {len(self.rules)} keyword rules loaded from {model_path}", flush=True)

    def infer(self, req: NLPEvalRequest) -> NLPEvalResponse:
        text = lookup(self.rules, last_question(req.prompt))
        return NLPEvalResponse(completions=[NLPCompletion(text=text, tokens=text)])
