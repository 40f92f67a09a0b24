-- PostgreSQL's form of 0008_retention.sql (its trigger uses SQLite's JSON functions; the
-- rest is what the translation rules would give). Same meaning: see that file.
ALTER TABLE alert_events ADD COLUMN redacted_at DOUBLE PRECISION;

-- True when ``new`` only loses keys of ``old`` (SQLite: json_patch(old, new) = json(old));
-- a detail that is not JSON (sealed) is not checked here.
CREATE OR REPLACE FUNCTION qorgau_json_only_loses(old text, new text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $fn$
DECLARE o jsonb; n jsonb;
BEGIN
    BEGIN o := old::jsonb; EXCEPTION WHEN others THEN RETURN true; END;
    BEGIN n := new::jsonb; EXCEPTION WHEN others THEN RETURN false; END;
    RETURN o @> n;
END $fn$;

DROP TRIGGER alert_events_append_only_u ON alert_events;
CREATE OR REPLACE FUNCTION alert_events_append_only_u_fn() RETURNS trigger LANGUAGE plpgsql AS
$fn$ BEGIN RAISE EXCEPTION 'alert_events is append-only'; END $fn$;
CREATE TRIGGER alert_events_append_only_u BEFORE UPDATE ON alert_events FOR EACH ROW
WHEN (NOT (
    OLD.redacted_at IS NULL AND NEW.redacted_at IS NOT NULL
    AND NEW.id = OLD.id AND NEW.alert_id = OLD.alert_id AND NEW.at = OLD.at
    AND NEW.kind = OLD.kind
    AND (NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id OR NEW.actor_id IS NULL)
    AND qorgau_json_only_loses(OLD.detail, NEW.detail)
))
EXECUTE FUNCTION alert_events_append_only_u_fn();

ALTER TABLE outbox ADD COLUMN redacted BIGINT NOT NULL DEFAULT 0;

INSERT INTO timers (kind, subject_id, due_at) VALUES ('retention', 0, 0) ON CONFLICT DO NOTHING;
