"""Numbered schema migrations, ``NNNN_name.sql``, applied in order (PRAGMA user_version)."""
