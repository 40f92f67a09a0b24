-- Encryption at rest (storage/crypto.py): personal values are sealed in their columns, so
-- no column changes type. The timeline stays append-only for what happened (who, when,
-- what kind), but its sealed detail may be rewritten: `qorgau rotate-key` re-seals it
-- under a new key, and the first start with a key seals an older database's plain
-- details. Same trigger name, so later migrations can drop or replace it as before.
DROP TRIGGER alert_events_append_only_u;
CREATE TRIGGER alert_events_append_only_u
BEFORE UPDATE OF id, alert_id, at, kind, actor_id ON alert_events
BEGIN SELECT RAISE(ABORT, 'alert_events is append-only'); END;
