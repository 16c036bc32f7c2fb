"""Test bundle whose global_init crashes."""

from flageval.serving.service import NLPEvalRequest, NLPEvalResponse, NLPModelService


class Service(NLPModelService):
    def global_init(self, model_path: str):
        raise RuntimeError("weights file model/missing.bin not found")

    def infer(self, req: NLPEvalRequest) -> NLPEvalResponse:
        raise AssertionError("never reached")
