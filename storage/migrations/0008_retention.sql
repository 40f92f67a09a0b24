-- Retention and erasure (issue 8, points 4 and 5).
--
-- An anonymised alert points at the placeholder person 0 instead of its reporter (created
-- by the first anonymisation, storage.sqlite.Tx.anonymise_alert): the alert keeps its
-- region, times, outcome and the staff ids of who acknowledged and claimed it (what /stats
-- needs), and nothing links it to a person any more. Telegram has no user 0.

-- The timeline stays append-only for what happened, but an event's personal fields may be
-- redacted once: the same row (alert, time, kind), its actor kept or removed, its detail
-- only losing keys (checked while the detail is plain JSON), and redacted_at set. After
-- that the row is frozen again. The redaction itself is an 'erased' event on the alert.
ALTER TABLE alert_events ADD COLUMN redacted_at REAL;
DROP TRIGGER alert_events_append_only_u;
CREATE TRIGGER alert_events_append_only_u BEFORE UPDATE ON alert_events
WHEN NOT (
    OLD.redacted_at IS NULL AND NEW.redacted_at IS NOT NULL
    AND NEW.id = OLD.id AND NEW.alert_id = OLD.alert_id AND NEW.at = OLD.at
    AND NEW.kind = OLD.kind AND (NEW.actor_id IS OLD.actor_id OR NEW.actor_id IS NULL)
    AND (NOT json_valid(OLD.detail) OR (json_valid(NEW.detail)
         AND json_patch(OLD.detail, NEW.detail) = json(OLD.detail)))
)
BEGIN SELECT RAISE(ABORT, 'alert_events is append-only'); END;

-- A sent message of an anonymised alert keeps only its shape (a copy, a pin, a text), which
-- a later withdrawal needs; 1 once its payload was reduced to that.
ALTER TABLE outbox ADD COLUMN redacted INTEGER NOT NULL DEFAULT 0;

-- The daily purge is a timer row like every other due time; due at once on the first start.
INSERT OR IGNORE INTO timers (kind, subject_id, due_at) VALUES ('retention', 0, 0);
