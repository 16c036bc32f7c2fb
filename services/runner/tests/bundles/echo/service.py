"""Deterministic test bundle: answers from a lookup table, else echoes the prompt.

Special prompts: ``__stats__`` returns JSON with the highest number of requests seen in flight at
once (this worker), ``__reset__`` clears it, ``__fail__`` raises (the CLI answers
``{"code":500,"message":…}``), ``__sleep__:SECONDS`` sleeps then answers ``slept``, and
``__fields__`` returns the parsed request as JSON.
"""

import json
import os
import threading
import time

from flageval.serving.service import NLPCompletion, NLPEvalRequest, NLPEvalResponse, NLPModelService

_lock = threading.Lock()
_state = {"in_flight": 0, "max": 0, "total": 0}


class Service(NLPModelService):
    def global_init(self, model_path: str):
        with open(os.path.join(model_path, "answers.json"), encoding="utf-8") as fh:
            self.answers = json.load(fh)
        print("echo bundle loaded", len(self.answers), "answers from", model_path)

    def _reply(self, text: str) -> NLPEvalResponse:
        return NLPEvalResponse(completions=[NLPCompletion(text=text, tokens=text)])

    def infer(self, req: NLPEvalRequest) -> NLPEvalResponse:
        prompt = req.prompt
        if prompt == "__stats__":
            return self._reply(json.dumps(_state))
        if prompt == "__reset__":
            with _lock:
                _state.update(max=0, total=0)
            return self._reply("reset")
        if prompt == "__fail__":
            raise RuntimeError("deliberate failure in infer")
        if prompt == "__fields__":
            return self._reply(json.dumps(req.__dict__, sort_keys=True))
        if prompt.startswith("__sleep__:"):
            time.sleep(float(prompt.split(":", 1)[1]))
            return self._reply("slept")
        if prompt.startswith("__busy__:"):
            with _lock:
                _state["in_flight"] += 1
                _state["total"] += 1
                _state["max"] = max(_state["max"], _state["in_flight"])
            try:
                time.sleep(float(prompt.split(":", 1)[1]))  # gevent-patched: yields
            finally:
                with _lock:
                    _state["in_flight"] -= 1
            return self._reply("busy done")
        return self._reply(self.answers.get(prompt, prompt))
