"""Email: rows written with the event's in-app notification, sent by :class:`EmailSender`."""
