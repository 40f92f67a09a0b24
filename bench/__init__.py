"""``python -m bench``: how fast Qorgau gets an alert to a lawyer, measured end to end.

The bot runs as its own process (``python -m bot``) against the Bot API emulator running in
the benchmark's process, so what is timed is the real path: getUpdates, the handler, the
committed transaction, the outbox worker and the HTTP send, under Telegram's limits.
"""
