"""Test bundle whose service.py cannot be imported."""

import torch_that_does_not_exist  # noqa: F401
from flageval.serving.service import NLPModelService


class Service(NLPModelService):
    def global_init(self, model_path: str):
        pass
