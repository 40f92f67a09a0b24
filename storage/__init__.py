"""Storage: the only place with SQL. The rest of the code sees ``Storage`` and ``Tx``."""

from storage.crypto import Codec, DataKeyError
from storage.records import Alert, Due, Event, OutboxRow, Person, Timer
from storage.sqlite import Storage, StorageError, Tx

__all__ = ["Alert", "Codec", "DataKeyError", "Due", "Event", "OutboxRow", "Person", "Storage",
           "StorageError", "Timer", "Tx"]
