"""Storage: the only place with SQL. The rest of the code sees ``Storage`` and ``Tx``."""

from storage.records import Alert, Event, OutboxRow, Person, Timer
from storage.sqlite import Storage, Tx

__all__ = ["Alert", "Event", "OutboxRow", "Person", "Storage", "Timer", "Tx"]
