-- Insight (SPEC 11, issue 15): the per-pass timeline and the per-template statistics.
--
-- Everything a row change means is written by triggers, in the transaction of the change: the
-- pass writers, the registrar, the rollout worker and the push recorder already group-commit
-- their writes, so the timeline and the counters ride on those commits, and no path that
-- touches passes, registrations or install markers (cascades included) can forget them. What
-- is not a row change (a device asking for serials, fetching a pass, a download, a log line)
-- is appended by the domain's insight writer, one transaction per batch.
--
-- Statistics are counters, never a scan: `template_totals` (one row per template),
-- `template_daily` (one row per template and UTC day), `template_devices` (how many of a
-- template's passes each device holds, so "distinct devices" is a counter too).

-- The timeline cap (entries per pass), set from the server's settings at start.
CREATE TABLE insight_settings (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    timeline_cap BIGINT NOT NULL
);
INSERT INTO insight_settings (id, timeline_cap) VALUES (1, 200);

-- n: the entry's number within its pass (1, 2, …), so the cap is a range delete on
-- (pass_id, n) and costs a row or two per insert, never a count.
CREATE TABLE pass_timeline (
    seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pass_id TEXT NOT NULL REFERENCES passes (id) ON DELETE CASCADE,
    n       BIGINT NOT NULL,
    at      BIGINT NOT NULL,                                   -- Unix milliseconds
    type    TEXT NOT NULL,
    detail  TEXT NOT NULL                                      -- JSON object
);
CREATE INDEX pass_timeline_by_pass ON pass_timeline (pass_id, seq);
CREATE INDEX pass_timeline_by_pass_n ON pass_timeline (pass_id, n);

CREATE TABLE template_totals (
    template_id   TEXT PRIMARY KEY,
    passes        BIGINT NOT NULL DEFAULT 0,
    voided        BIGINT NOT NULL DEFAULT 0,
    installed     BIGINT NOT NULL DEFAULT 0,
    devices       BIGINT NOT NULL DEFAULT 0,
    pushes_sent   BIGINT NOT NULL DEFAULT 0,
    pushes_failed BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE template_daily (
    template_id TEXT NOT NULL,
    day         TEXT NOT NULL,                                 -- YYYY-MM-DD, UTC
    issued      BIGINT NOT NULL DEFAULT 0,
    updated     BIGINT NOT NULL DEFAULT 0,
    installed   BIGINT NOT NULL DEFAULT 0,
    uninstalled BIGINT NOT NULL DEFAULT 0,
    downloads   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (template_id, day)
);

CREATE TABLE template_devices (
    template_id               TEXT NOT NULL,
    device_library_identifier TEXT NOT NULL,
    passes                    BIGINT NOT NULL,
    PRIMARY KEY (template_id, device_library_identifier)
);

-- What is stored already (one scan, at migration only).
INSERT INTO template_totals (template_id, passes, voided, installed)
SELECT t.id,
       (SELECT COUNT(*) FROM passes p WHERE p.template_id = t.id),
       (SELECT COUNT(*) FROM passes p WHERE p.template_id = t.id AND p.voided),
       (SELECT COUNT(*) FROM pass_installs i JOIN passes p ON p.id = i.pass_id WHERE p.template_id = t.id)
FROM templates t;
INSERT INTO template_devices (template_id, device_library_identifier, passes)
SELECT p.template_id, r.device_library_identifier, COUNT(*)
FROM registrations r JOIN passes p ON p.id = r.pass_id
GROUP BY p.template_id, r.device_library_identifier;
UPDATE template_totals SET devices =
    (SELECT COUNT(*) FROM template_devices d WHERE d.template_id = template_totals.template_id);
INSERT INTO template_daily (template_id, day, issued)
SELECT template_id, to_char(to_timestamp(created_at / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), COUNT(*)
FROM passes GROUP BY 1, 2;

CREATE FUNCTION insight_now_ms() RETURNS BIGINT LANGUAGE sql AS
$$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT $$;

CREATE FUNCTION insight_today() RETURNS TEXT LANGUAGE sql AS
$$ SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD') $$;

-- Appends one entry to a pass's timeline (if the pass is there).
CREATE FUNCTION insight_note(p_pass TEXT, p_at BIGINT, p_type TEXT, p_detail TEXT) RETURNS VOID
LANGUAGE sql AS $$
    INSERT INTO pass_timeline (pass_id, n, at, type, detail)
    SELECT p.id, COALESCE((SELECT MAX(n) FROM pass_timeline WHERE pass_id = p.id), 0) + 1,
           p_at, p_type, p_detail
    FROM passes p WHERE p.id = p_pass
$$;

-- Adds to one day's counters of a template (if the template is there).
CREATE FUNCTION insight_count_day(p_template TEXT, p_day TEXT, p_issued BIGINT, p_updated BIGINT,
                                  p_installed BIGINT, p_uninstalled BIGINT, p_downloads BIGINT)
RETURNS VOID LANGUAGE sql AS $$
    INSERT INTO template_daily (template_id, day, issued, updated, installed, uninstalled, downloads)
    SELECT template_id, p_day, p_issued, p_updated, p_installed, p_uninstalled, p_downloads
    FROM template_totals WHERE template_id = p_template
    ON CONFLICT (template_id, day) DO UPDATE SET
        issued = template_daily.issued + EXCLUDED.issued,
        updated = template_daily.updated + EXCLUDED.updated,
        installed = template_daily.installed + EXCLUDED.installed,
        uninstalled = template_daily.uninstalled + EXCLUDED.uninstalled,
        downloads = template_daily.downloads + EXCLUDED.downloads
$$;

-- The cap: an entry beyond it drops the pass's oldest.
CREATE FUNCTION insight_timeline_capped() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM pass_timeline WHERE pass_id = NEW.pass_id
        AND n <= NEW.n - (SELECT timeline_cap FROM insight_settings WHERE id = 1);
    RETURN NULL;
END $$;
CREATE TRIGGER insight_timeline_capped AFTER INSERT ON pass_timeline
    FOR EACH ROW EXECUTE FUNCTION insight_timeline_capped();

CREATE FUNCTION insight_template_added() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO template_totals (template_id) VALUES (NEW.id) ON CONFLICT (template_id) DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER insight_template_added AFTER INSERT ON templates
    FOR EACH ROW EXECUTE FUNCTION insight_template_added();

-- Before the template's passes cascade away: their triggers then find no counters to touch.
CREATE FUNCTION insight_template_removed() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM template_totals WHERE template_id = OLD.id;
    DELETE FROM template_daily WHERE template_id = OLD.id;
    DELETE FROM template_devices WHERE template_id = OLD.id;
    RETURN OLD;
END $$;
CREATE TRIGGER insight_template_removed BEFORE DELETE ON templates
    FOR EACH ROW EXECUTE FUNCTION insight_template_removed();

CREATE FUNCTION insight_pass_added() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    UPDATE template_totals SET passes = passes + 1,
        voided = voided + (CASE WHEN NEW.voided THEN 1 ELSE 0 END)
        WHERE template_id = NEW.template_id;
    PERFORM insight_count_day(NEW.template_id,
        to_char(to_timestamp(NEW.created_at / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 1, 0, 0, 0, 0);
    INSERT INTO pass_timeline (pass_id, n, at, type, detail)
        VALUES (NEW.id, 1, NEW.created_at, 'created',
                json_build_object('serialNumber', NEW.serial_number, 'tag', NEW.update_tag::TEXT)::TEXT);
    RETURN NULL;
END $$;
CREATE TRIGGER insight_pass_added AFTER INSERT ON passes
    FOR EACH ROW EXECUTE FUNCTION insight_pass_added();

CREATE FUNCTION insight_pass_changed() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.voided <> OLD.voided THEN
        UPDATE template_totals SET voided = voided + (CASE WHEN NEW.voided THEN 1 ELSE -1 END)
            WHERE template_id = NEW.template_id;
        PERFORM insight_note(NEW.id, insight_now_ms(),
            CASE WHEN NEW.voided THEN 'voided' ELSE 'unvoided' END, '{}');
    END IF;
    -- A new pass is inserted with tag 0 and given its first tag in the same transaction: that
    -- is its creation's tag, not an update.
    IF OLD.update_tag = 0 AND NEW.update_tag <> 0 THEN
        UPDATE pass_timeline SET detail = json_build_object('serialNumber', NEW.serial_number,
                                                            'tag', NEW.update_tag::TEXT)::TEXT
            WHERE pass_id = NEW.id AND n = 1 AND type = 'created';
    ELSIF NEW.update_tag <> OLD.update_tag THEN
        PERFORM insight_count_day(NEW.template_id, insight_today(), 0, 1, 0, 0, 0);
        PERFORM insight_note(NEW.id, insight_now_ms(), 'updated',
            json_build_object('tag', NEW.update_tag::TEXT, 'lastModified', NEW.last_modified)::TEXT);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER insight_pass_changed AFTER UPDATE OF update_tag, voided ON passes
    FOR EACH ROW EXECUTE FUNCTION insight_pass_changed();

-- A pass's registrations and install marker go first, while the pass is still there for their
-- triggers to find its template (the cascade would run after the pass is gone).
CREATE FUNCTION insight_pass_removed() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM registrations WHERE pass_id = OLD.id;
    DELETE FROM pass_installs WHERE pass_id = OLD.id;
    UPDATE template_totals SET passes = passes - 1,
        voided = voided - (CASE WHEN OLD.voided THEN 1 ELSE 0 END)
        WHERE template_id = OLD.template_id;
    RETURN OLD;
END $$;
CREATE TRIGGER insight_pass_removed BEFORE DELETE ON passes
    FOR EACH ROW EXECUTE FUNCTION insight_pass_removed();

CREATE FUNCTION insight_registration_added() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE tpl TEXT;
BEGIN
    SELECT template_id INTO tpl FROM passes WHERE id = NEW.pass_id;
    UPDATE template_totals SET devices = devices + 1
        WHERE template_id = tpl
        AND NOT EXISTS (SELECT 1 FROM template_devices d WHERE d.template_id = tpl
                        AND d.device_library_identifier = NEW.device_library_identifier);
    INSERT INTO template_devices (template_id, device_library_identifier, passes)
        SELECT t.template_id, NEW.device_library_identifier, 1 FROM template_totals t
        WHERE t.template_id = tpl
        ON CONFLICT (template_id, device_library_identifier)
        DO UPDATE SET passes = template_devices.passes + 1;
    PERFORM insight_note(NEW.pass_id, NEW.updated_at, 'registered',
        json_build_object('deviceLibraryIdentifier', NEW.device_library_identifier)::TEXT);
    RETURN NULL;
END $$;
CREATE TRIGGER insight_registration_added AFTER INSERT ON registrations
    FOR EACH ROW EXECUTE FUNCTION insight_registration_added();

CREATE FUNCTION insight_registration_refreshed() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    PERFORM insight_note(NEW.pass_id, NEW.updated_at, 'reregistered',
        json_build_object('deviceLibraryIdentifier', NEW.device_library_identifier,
                          'pushTokenChanged', NEW.push_token <> OLD.push_token)::TEXT);
    RETURN NULL;
END $$;
CREATE TRIGGER insight_registration_refreshed AFTER UPDATE ON registrations
    FOR EACH ROW EXECUTE FUNCTION insight_registration_refreshed();

CREATE FUNCTION insight_registration_removed() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE tpl TEXT; left_over BIGINT;
BEGIN
    SELECT template_id INTO tpl FROM passes WHERE id = OLD.pass_id;
    UPDATE template_devices SET passes = passes - 1
        WHERE template_id = tpl AND device_library_identifier = OLD.device_library_identifier
        RETURNING passes INTO left_over;
    IF left_over IS NOT NULL AND left_over <= 0 THEN
        DELETE FROM template_devices
            WHERE template_id = tpl AND device_library_identifier = OLD.device_library_identifier;
        UPDATE template_totals SET devices = devices - 1 WHERE template_id = tpl;
    END IF;
    PERFORM insight_note(OLD.pass_id, insight_now_ms(), 'unregistered',
        json_build_object('deviceLibraryIdentifier', OLD.device_library_identifier)::TEXT);
    RETURN NULL;
END $$;
CREATE TRIGGER insight_registration_removed AFTER DELETE ON registrations
    FOR EACH ROW EXECUTE FUNCTION insight_registration_removed();

CREATE FUNCTION insight_install_added() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE tpl TEXT;
BEGIN
    SELECT template_id INTO tpl FROM passes WHERE id = NEW.pass_id;
    UPDATE template_totals SET installed = installed + 1 WHERE template_id = tpl;
    PERFORM insight_count_day(tpl, insight_today(), 0, 0, 1, 0, 0);
    PERFORM insight_note(NEW.pass_id, insight_now_ms(), 'installed', '{}');
    RETURN NULL;
END $$;
CREATE TRIGGER insight_install_added AFTER INSERT ON pass_installs
    FOR EACH ROW EXECUTE FUNCTION insight_install_added();

CREATE FUNCTION insight_install_removed() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE tpl TEXT;
BEGIN
    SELECT template_id INTO tpl FROM passes WHERE id = OLD.pass_id;
    UPDATE template_totals SET installed = installed - 1 WHERE template_id = tpl;
    PERFORM insight_count_day(tpl, insight_today(), 0, 0, 0, 1, 0);
    PERFORM insight_note(OLD.pass_id, insight_now_ms(), 'uninstalled', '{}');
    RETURN NULL;
END $$;
CREATE TRIGGER insight_install_removed AFTER DELETE ON pass_installs
    FOR EACH ROW EXECUTE FUNCTION insight_install_removed();
