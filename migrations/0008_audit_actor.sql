-- 0008_audit_actor: an index for the audit log by actor (GET
-- /api/v1/audit?actor=, `mlreg audit --actor`, the console's audit filter):
-- "what did this principal do" is an auditor's first question, and without
-- it a rare actor walked the chain from its end.

CREATE INDEX audit_actor ON audit_log(actor, seq);
