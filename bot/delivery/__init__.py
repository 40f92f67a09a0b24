"""Getting messages to Telegram and updates from it: the outbox worker, pacing, transport, polling.
Imports the domain (the messages it carries), storage and bot's foundation; never handlers."""
