"""Showing Qorgau without Telegram: the scripted demo scene over the local emulator.
Stands above the bot (imports bot, emulator); nothing in bot/, handlers/ or storage/ imports it."""
