"""Message contracts shared by every FlagEval service.

Nothing in this package performs I/O: it only describes what travels on the bus.
"""

from flageval_contracts.envelope import Envelope, new_envelope
from flageval_contracts.events import EVENTS, EventSpec, payload_model, routing_key

__all__ = ["EVENTS", "Envelope", "EventSpec", "new_envelope", "payload_model", "routing_key"]
