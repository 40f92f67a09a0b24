"""Qorgau's product code. At this level, the foundation every layer may use (settings, clock,
logs, i18n) and the process that ties the layers together (app, cli, timers); the rules live
in ``bot.domain`` and the traffic with Telegram in ``bot.delivery``.

Import direction (tests/test_layers.py enforces it): storage ← foundation ← domain ← delivery
← handlers ← process (app, cli, timers) ← demo, bench. The emulator imports none of them.
"""
