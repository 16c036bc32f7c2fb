"""Model protocols the runner speaks (SPEC §5): NLP private deployment and API evaluation."""

from .base import Generation, GenerationRequest, ModelClient, ModelError
from .nlp_func import BundleServer, NLPFuncClient
from .openai_chat import OpenAIChatClient

__all__ = [
    "BundleServer",
    "Generation",
    "GenerationRequest",
    "ModelClient",
    "ModelError",
    "NLPFuncClient",
    "OpenAIChatClient",
]
