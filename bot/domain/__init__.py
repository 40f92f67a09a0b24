"""The rules: what a person, an alert, a case and a wave are, and what each step does.
Imports storage and bot's foundation (settings, clock, i18n); never Telegram or delivery."""
