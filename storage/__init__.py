"""Storage: the only place with SQL. The rest of the code sees ``Storage`` and ``Tx``."""

from storage.crypto import Codec, DataKeyError
from storage.records import Alert, CheckIn, Due, Event, LiveShare, OutboxRow, Person, Timer
from storage.sqlite import BackupError, Storage, StorageError, Tx

__all__ = ["Alert", "BackupError", "CheckIn", "Codec", "DataKeyError", "Due", "Event", "LiveShare",
           "OutboxRow", "Person", "Storage",
           "StorageError", "Timer", "Tx"]
