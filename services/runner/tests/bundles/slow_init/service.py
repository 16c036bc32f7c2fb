"""Test bundle whose global_init never finishes in time: the port opens, the app never answers."""

import time

from flageval.serving.service import NLPEvalRequest, NLPEvalResponse, NLPModelService


class Service(NLPModelService):
    def global_init(self, model_path: str):
        time.sleep(120)

    def infer(self, req: NLPEvalRequest) -> NLPEvalResponse:
        raise AssertionError("never reached")
