//! Persistence of sessions, turns and per-user limits, behind [`Store`] (one method per datastore
//! operation the app makes, so a Firestore backend could implement it), with [`SqliteStore`] as
//! the backend: one SQLite file in WAL mode, every multi-step change in one transaction, so the
//! limits hold under concurrent requests and an acknowledged turn survives a kill of the process.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// A scene session (the app's `sessions` document).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// `sess_` + 16 hex digits.
    pub session_id: String,
    /// The owner.
    pub user_id: String,
    /// The optional display name given at start.
    pub user_name: Option<String>,
    /// `initialized`, `mc_welcome`, `game_select`, `suggestion_phase`, `active`, `scene_complete`,
    /// `closed` or `timeout`.
    pub status: String,
    /// Creation, ms since the epoch.
    pub created_at_ms: i64,
    /// Last change, ms since the epoch.
    pub updated_at_ms: i64,
    /// Expiry, ms since the epoch (creation + the session timeout).
    pub expires_at_ms: i64,
    /// Turns completed.
    pub turn_count: u32,
    /// `Phase 1 (Supportive)` or `Phase 2 (Fallible)`.
    pub current_phase: String,
    /// The game the MC selected.
    pub selected_game: Option<String>,
    /// The audience suggestion the MC took.
    pub audience_suggestion: Option<String>,
    /// MC welcome steps done (0-4).
    pub mc_step: u32,
    /// The agent that replied last (where the next turn resumes), none before turn 1.
    pub active_agent: Option<String>,
}

/// One completed scene turn (an item of the app's `conversation_history`).
#[derive(Debug, Clone, PartialEq)]
pub struct TurnRecord {
    /// 1-based.
    pub turn_number: u32,
    /// What the user said.
    pub user_input: String,
    /// The Partner's line.
    pub partner_response: String,
    /// The Room's analysis.
    pub room_analysis: String,
    /// The Coach's feedback, if the Coach ran.
    pub coach_feedback: Option<String>,
    /// The phase of the turn.
    pub phase: String,
    /// When it completed, ms since the epoch.
    pub timestamp_ms: i64,
}

/// A user's limit counters (the app's `user_limits` document).
#[derive(Debug, Clone, PartialEq)]
pub struct UserLimitsRecord {
    /// Sessions started in the current UTC day.
    pub daily_used: u32,
    /// When the daily counter resets, ms since the epoch.
    pub daily_reset_at_ms: i64,
    /// Open sessions.
    pub active_session_ids: Vec<String>,
}

/// A datastore failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// The datastore operations of the app, one call each.
pub trait Store: Send + Sync {
    /// Checks and increments the daily session counter in one transaction: `Ok(used)` after the
    /// increment, or `Err(reset_at_ms)` if `limit` is already reached.
    fn reserve_daily(
        &self,
        user: &str,
        now_ms: i64,
        limit: u32,
    ) -> Result<Result<u32, i64>, StoreError>;
    /// Creates a session.
    fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError>;
    /// Adds `session_id` to the user's open sessions unless `limit` are open; whether it did.
    fn admit_concurrent(
        &self,
        user: &str,
        session_id: &str,
        limit: u32,
    ) -> Result<bool, StoreError>;
    /// Reads a session.
    fn get_session(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Writes a session's fields.
    fn update_session(&self, session: &SessionRecord) -> Result<(), StoreError>;
    /// Appends a turn and advances the session in one transaction, only if the session has exactly
    /// `turn.turn_number - 1` turns; whether it did.
    fn append_turn(&self, session: &SessionRecord, turn: &TurnRecord) -> Result<bool, StoreError>;
    /// A session's turns, in order.
    fn history(&self, session_id: &str) -> Result<Vec<TurnRecord>, StoreError>;
    /// Removes `session_id` from the user's open sessions.
    fn release_concurrent(&self, user: &str, session_id: &str) -> Result<(), StoreError>;
    /// The user's limit counters as of `now_ms`.
    fn user_limits(&self, user: &str, now_ms: i64) -> Result<UserLimitsRecord, StoreError>;
    /// A whole tool-data collection (the app streams these on every tool call).
    fn collection(&self, name: &str) -> Result<Vec<String>, StoreError>;
    /// Writes and deletes a health-check document (the app's `/ready`).
    fn health_check(&self) -> Result<(), StoreError>;
}

/// Runs one datastore operation inside a `db OPERATION` client span (`db.system.name` sqlite,
/// `db.operation.name` the operation).
pub fn traced<T>(
    ctx: &crate::trace::SpanCtx,
    operation: &'static str,
    op: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    use crate::trace::{KIND_CLIENT, KeyValue};
    let mut span = ctx.start(format!("db {operation}"), KIND_CLIENT);
    span.set(KeyValue::str("db.system.name", "sqlite"));
    span.set(KeyValue::str("db.operation.name", operation));
    let result = op();
    span.end(result.as_ref().err().map(|e| e.to_string()).as_deref());
    result
}

/// The next UTC midnight after `now_ms`.
pub fn next_utc_midnight_ms(now_ms: i64) -> i64 {
    const DAY_MS: i64 = 86_400_000;
    (now_ms.div_euclid(DAY_MS) + 1) * DAY_MS
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, user_name TEXT, status TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL,
    turn_count INTEGER NOT NULL, current_phase TEXT NOT NULL, selected_game TEXT,
    audience_suggestion TEXT, mc_step INTEGER NOT NULL, active_agent TEXT);
CREATE TABLE IF NOT EXISTS turns (
    session_id TEXT NOT NULL, turn_number INTEGER NOT NULL, user_input TEXT NOT NULL,
    partner_response TEXT NOT NULL, room_analysis TEXT NOT NULL, coach_feedback TEXT,
    phase TEXT NOT NULL, timestamp_ms INTEGER NOT NULL, PRIMARY KEY (session_id, turn_number));
CREATE TABLE IF NOT EXISTS user_limits (
    user_id TEXT PRIMARY KEY, daily_count INTEGER NOT NULL, daily_reset_at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS active_sessions (
    user_id TEXT NOT NULL, session_id TEXT NOT NULL, PRIMARY KEY (user_id, session_id));
CREATE TABLE IF NOT EXISTS tool_data (collection TEXT NOT NULL, item TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS health_check (id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL);
";

const TOOL_DATA: &[(&str, &str)] = &[
    ("improv_games", "Freeze Tag"),
    ("improv_games", "Questions Only"),
    ("improv_games", "Emotional Rollercoaster"),
    ("improv_games", "Expert Interview"),
    ("improv_games", "Genre Shift"),
    ("sentiment_keywords", "laugh"),
    ("sentiment_keywords", "love"),
    ("sentiment_keywords", "great"),
    ("sentiment_keywords", "boring"),
    ("audience_archetypes", "The Enthusiast"),
    ("audience_archetypes", "The Skeptic"),
    ("improv_principles", "Yes, and"),
    ("improv_principles", "Make your partner look good"),
    ("improv_principles", "Specificity"),
];

/// The SQLite backend: one connection behind a mutex (SQLite serialises writers anyway).
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, in WAL mode.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        let seeded: i64 = conn.query_row("SELECT COUNT(*) FROM tool_data", [], |r| r.get(0))?;
        if seeded == 0 {
            for (collection, item) in TOOL_DATA {
                conn.execute(
                    "INSERT INTO tool_data VALUES (?1, ?2)",
                    params![collection, item],
                )?;
            }
        }
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut conn)
    }
}

fn session_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        session_id: row.get(0)?,
        user_id: row.get(1)?,
        user_name: row.get(2)?,
        status: row.get(3)?,
        created_at_ms: row.get(4)?,
        updated_at_ms: row.get(5)?,
        expires_at_ms: row.get(6)?,
        turn_count: row.get(7)?,
        current_phase: row.get(8)?,
        selected_game: row.get(9)?,
        audience_suggestion: row.get(10)?,
        mc_step: row.get(11)?,
        active_agent: row.get(12)?,
    })
}

fn write_session(conn: &Connection, s: &SessionRecord) -> rusqlite::Result<usize> {
    conn.execute(
        "INSERT OR REPLACE INTO sessions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            s.session_id,
            s.user_id,
            s.user_name,
            s.status,
            s.created_at_ms,
            s.updated_at_ms,
            s.expires_at_ms,
            s.turn_count,
            s.current_phase,
            s.selected_game,
            s.audience_suggestion,
            s.mc_step,
            s.active_agent
        ],
    )
}

impl Store for SqliteStore {
    fn reserve_daily(
        &self,
        user: &str,
        now_ms: i64,
        limit: u32,
    ) -> Result<Result<u32, i64>, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let row: Option<(u32, i64)> = tx
                .query_row(
                    "SELECT daily_count, daily_reset_at_ms FROM user_limits WHERE user_id = ?1",
                    [user],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let (used, reset_at) = match row {
                Some((used, reset_at)) if reset_at > now_ms => (used, reset_at),
                _ => (0, next_utc_midnight_ms(now_ms)),
            };
            if used >= limit {
                return Ok(Err(reset_at));
            }
            tx.execute(
                "INSERT OR REPLACE INTO user_limits VALUES (?1, ?2, ?3)",
                params![user, used + 1, reset_at],
            )?;
            tx.commit()?;
            Ok(Ok(used + 1))
        })
    }

    fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        self.with(|conn| Ok(write_session(conn, session).map(drop)?))
    }

    fn admit_concurrent(
        &self,
        user: &str,
        session_id: &str,
        limit: u32,
    ) -> Result<bool, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let open: u32 = tx.query_row(
                "SELECT COUNT(*) FROM active_sessions WHERE user_id = ?1",
                [user],
                |r| r.get(0),
            )?;
            if open >= limit {
                return Ok(false);
            }
            tx.execute(
                "INSERT OR IGNORE INTO active_sessions VALUES (?1, ?2)",
                params![user, session_id],
            )?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn get_session(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.with(|conn| {
            Ok(conn
                .query_row(
                    "SELECT * FROM sessions WHERE session_id = ?1",
                    [session_id],
                    session_from_row,
                )
                .optional()?)
        })
    }

    fn update_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        self.with(|conn| Ok(write_session(conn, session).map(drop)?))
    }

    fn append_turn(&self, session: &SessionRecord, turn: &TurnRecord) -> Result<bool, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let stored: Option<u32> = tx
                .query_row(
                    "SELECT turn_count FROM sessions WHERE session_id = ?1",
                    [&session.session_id],
                    |r| r.get(0),
                )
                .optional()?;
            if stored != Some(turn.turn_number - 1) {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO turns VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    session.session_id,
                    turn.turn_number,
                    turn.user_input,
                    turn.partner_response,
                    turn.room_analysis,
                    turn.coach_feedback,
                    turn.phase,
                    turn.timestamp_ms
                ],
            )?;
            write_session(&tx, session)?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn history(&self, session_id: &str) -> Result<Vec<TurnRecord>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT turn_number, user_input, partner_response, room_analysis, coach_feedback, phase, timestamp_ms
                 FROM turns WHERE session_id = ?1 ORDER BY turn_number",
            )?;
            let turns = stmt
                .query_map([session_id], |r| {
                    Ok(TurnRecord {
                        turn_number: r.get(0)?,
                        user_input: r.get(1)?,
                        partner_response: r.get(2)?,
                        room_analysis: r.get(3)?,
                        coach_feedback: r.get(4)?,
                        phase: r.get(5)?,
                        timestamp_ms: r.get(6)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(turns)
        })
    }

    fn release_concurrent(&self, user: &str, session_id: &str) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.execute(
                "DELETE FROM active_sessions WHERE user_id = ?1 AND session_id = ?2",
                params![user, session_id],
            )?;
            Ok(())
        })
    }

    fn user_limits(&self, user: &str, now_ms: i64) -> Result<UserLimitsRecord, StoreError> {
        self.with(|conn| {
            let row: Option<(u32, i64)> = conn
                .query_row(
                    "SELECT daily_count, daily_reset_at_ms FROM user_limits WHERE user_id = ?1",
                    [user],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let (daily_used, daily_reset_at_ms) = match row {
                Some((used, reset_at)) if reset_at > now_ms => (used, reset_at),
                _ => (0, next_utc_midnight_ms(now_ms)),
            };
            let mut stmt = conn.prepare_cached(
                "SELECT session_id FROM active_sessions WHERE user_id = ?1 ORDER BY session_id",
            )?;
            let active_session_ids = stmt
                .query_map([user], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(UserLimitsRecord {
                daily_used,
                daily_reset_at_ms,
                active_session_ids,
            })
        })
    }

    fn collection(&self, name: &str) -> Result<Vec<String>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT item FROM tool_data WHERE collection = ?1 ORDER BY rowid",
            )?;
            let items = stmt
                .query_map([name], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(items)
        })
    }

    fn health_check(&self) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.execute(
                "INSERT OR REPLACE INTO health_check VALUES ('ping', ?1)",
                [crate::time::now_ms()],
            )?;
            conn.execute("DELETE FROM health_check WHERE id = 'ping'", [])?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str) -> SessionRecord {
        SessionRecord {
            session_id: id.to_string(),
            user_id: "u".to_string(),
            user_name: None,
            status: "initialized".to_string(),
            created_at_ms: 0,
            updated_at_ms: 0,
            expires_at_ms: 1,
            turn_count: 0,
            current_phase: "Phase 1 (Supportive)".to_string(),
            selected_game: None,
            audience_suggestion: None,
            mc_step: 0,
            active_agent: None,
        }
    }

    #[test]
    fn the_database_survives_reopening_and_refuses_an_out_of_order_turn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.db");
        let mut s = session("sess_1");
        {
            let store = SqliteStore::open(&path).unwrap();
            store.create_session(&s).unwrap();
            let turn = TurnRecord {
                turn_number: 1,
                user_input: "hi".into(),
                partner_response: "yes".into(),
                room_analysis: "ok".into(),
                coach_feedback: None,
                phase: s.current_phase.clone(),
                timestamp_ms: 5,
            };
            s.turn_count = 1;
            assert!(store.append_turn(&s, &turn).unwrap());
            assert!(!store.append_turn(&s, &turn).unwrap(), "turn 1 twice");
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.get_session("sess_1").unwrap(), Some(s));
        assert_eq!(store.history("sess_1").unwrap().len(), 1);
        assert_eq!(store.collection("improv_games").unwrap().len(), 5);
    }

    #[test]
    fn the_daily_counter_stops_at_its_limit_and_resets_at_midnight() {
        let store = SqliteStore::open(Path::new(":memory:")).unwrap();
        assert_eq!(store.reserve_daily("u", 1000, 2).unwrap(), Ok(1));
        assert_eq!(store.reserve_daily("u", 1000, 2).unwrap(), Ok(2));
        assert_eq!(store.reserve_daily("u", 1000, 2).unwrap(), Err(86_400_000));
        assert_eq!(store.reserve_daily("u", 86_400_001, 2).unwrap(), Ok(1));
    }
}
