"""Migration ``004_evals`` in both dialects: eval runs, per-case results and scores, gate evidence and
the human review queue.

A result row is one case x target x repeat; its scores are rows of their own (one per scorer), so
agreement and comparisons can select one scorer without parsing documents. ``cache_key`` is the
content hash of what was sent: a later run finds a reusable output by it (index below).
"""

from __future__ import annotations

SQLITE_004_EVALS = """
CREATE TABLE eval_runs (
    run_id TEXT PRIMARY KEY,
    suite TEXT NOT NULL,
    suite_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    gate INTEGER NOT NULL DEFAULT 0,
    gate_passed INTEGER,
    record TEXT NOT NULL
);
CREATE INDEX eval_runs_suite ON eval_runs(suite, run_id);
CREATE TABLE eval_results (
    run_id TEXT NOT NULL REFERENCES eval_runs(run_id),
    case_id TEXT NOT NULL,
    target_id TEXT NOT NULL,
    repeat_no INTEGER NOT NULL,
    cache_key TEXT NOT NULL,
    status TEXT NOT NULL,
    output TEXT NOT NULL,
    error TEXT,
    trace_id TEXT,
    latency_ms REAL NOT NULL DEFAULT 0,
    cost_nanousd INTEGER NOT NULL DEFAULT 0,
    cached INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    PRIMARY KEY (run_id, case_id, target_id, repeat_no)
);
CREATE INDEX eval_results_cache ON eval_results(cache_key, created_at);
CREATE TABLE eval_scores (
    run_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    target_id TEXT NOT NULL,
    repeat_no INTEGER NOT NULL,
    scorer TEXT NOT NULL,
    score_key TEXT NOT NULL,
    value REAL NOT NULL,
    passed INTEGER,
    reason TEXT NOT NULL,
    details TEXT NOT NULL,
    PRIMARY KEY (run_id, case_id, target_id, repeat_no, scorer)
);
CREATE TABLE eval_gate_passes (
    prompt TEXT NOT NULL,
    version INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (prompt, version, run_id)
);
CREATE TABLE review_items (
    item_id TEXT PRIMARY KEY,
    dedupe_key TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    run_id TEXT,
    case_id TEXT,
    target_id TEXT,
    repeat_no INTEGER NOT NULL DEFAULT 0,
    trace_id TEXT,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    label TEXT,
    comment TEXT,
    reviewer TEXT,
    labelled_at TEXT
);
CREATE INDEX review_items_run ON review_items(run_id, item_id);
CREATE INDEX review_items_pending ON review_items(label, item_id);
"""

PG_004_EVALS = """
CREATE TABLE eval_runs (
    run_id TEXT COLLATE "C" PRIMARY KEY,
    suite TEXT NOT NULL,
    suite_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    gate BOOLEAN NOT NULL DEFAULT FALSE,
    gate_passed BOOLEAN,
    record JSONB NOT NULL
);
CREATE INDEX eval_runs_suite ON eval_runs(suite, run_id);
CREATE TABLE eval_results (
    run_id TEXT COLLATE "C" NOT NULL REFERENCES eval_runs(run_id),
    case_id TEXT COLLATE "C" NOT NULL,
    target_id TEXT COLLATE "C" NOT NULL,
    repeat_no INTEGER NOT NULL,
    cache_key TEXT NOT NULL,
    status TEXT NOT NULL,
    output JSONB NOT NULL,
    error TEXT,
    trace_id TEXT,
    latency_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
    cost_nanousd BIGINT NOT NULL DEFAULT 0,
    cached BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, case_id, target_id, repeat_no)
);
CREATE INDEX eval_results_cache ON eval_results(cache_key, created_at);
CREATE TABLE eval_scores (
    run_id TEXT COLLATE "C" NOT NULL,
    case_id TEXT COLLATE "C" NOT NULL,
    target_id TEXT COLLATE "C" NOT NULL,
    repeat_no INTEGER NOT NULL,
    scorer TEXT COLLATE "C" NOT NULL,
    score_key TEXT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    passed BOOLEAN,
    reason TEXT NOT NULL,
    details JSONB NOT NULL,
    PRIMARY KEY (run_id, case_id, target_id, repeat_no, scorer)
);
CREATE TABLE eval_gate_passes (
    prompt TEXT NOT NULL,
    version INTEGER NOT NULL,
    run_id TEXT COLLATE "C" NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (prompt, version, run_id)
);
CREATE TABLE review_items (
    item_id TEXT COLLATE "C" PRIMARY KEY,
    dedupe_key TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    run_id TEXT COLLATE "C",
    case_id TEXT,
    target_id TEXT,
    repeat_no INTEGER NOT NULL DEFAULT 0,
    trace_id TEXT,
    payload JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    label TEXT,
    comment TEXT,
    reviewer TEXT,
    labelled_at TIMESTAMPTZ
);
CREATE INDEX review_items_run ON review_items(run_id, item_id);
CREATE INDEX review_items_pending ON review_items(label, item_id);
"""


def review_dedupe_key(
    source: str,
    run_id: str | None,
    case_id: str | None,
    target_id: str | None,
    repeat: int,
    trace_id: str | None,
) -> str:
    """One queue entry per run result or per trace, however often ``review sample`` runs."""
    if source == "trace":
        return f"trace:{trace_id}"
    return f"run:{run_id}:{case_id}:{target_id}:{repeat}"
