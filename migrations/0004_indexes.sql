-- 0004_indexes: indexes for admin and audit reads that scanned whole tables:
-- removing a stage asks whether any stack holds it; an audit list by time
-- alone walked the chain from its end.

CREATE INDEX stage_stack_stage ON stage_stack(stage);
CREATE INDEX audit_ts ON audit_log(ts);
