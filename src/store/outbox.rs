//! Queries on `mail_outbox`, the queue between the transactions that raise notices and the
//! mail workers of every instance.
//!
//! Invariants: a row is sent by one worker at a time: [`claim_next`] takes it with a
//! conditional `UPDATE` (only a row with no live claim changes, so of several workers
//! racing for it, on either backend, exactly one sees its update count as 1), and only the
//! holder of a claim ([`Claim::token`]) can delete or reschedule the row. A claim lasts
//! [`Claim::until`]; past it the row is free again (its worker died mid-send), at the
//! cost of a possible second delivery, which is why the lease is far longer than a send.

use diesel::prelude::*;

use super::schema::mail_outbox as o;
use super::{DbConn, StoreError};

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = o)]
pub struct NewOutboxRow<'a> {
    pub recipient: &'a str,
    pub subject: &'a str,
    pub text_body: &'a str,
    pub html_body: &'a str,
    pub created_at: i64,
    pub attempts: i32,
    pub next_attempt_at: i64,
}

/// A row as stored; the worker gets one from [`claim_next`].
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = o)]
pub struct OutboxRow {
    pub id: i64,
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub created_at: i64,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<i64>,
    pub failed_at: Option<i64>,
    pub last_error: Option<String>,
}

/// A worker's hold on one row.
#[derive(Debug, Clone)]
pub struct Claim {
    pub token: String,
    pub until: i64,
}

thread_local! {
    /// Set by [`insert`] on the thread that ran it; [`super::Store::run`] takes it after its
    /// closure (and so after the closure's transaction) to wake this instance's mail worker
    /// at once instead of at its next poll. A rolled-back insert only causes a spurious wake.
    static INSERTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread inserted a row since the last call.
pub(super) fn take_inserted() -> bool {
    INSERTED.with(|flag| flag.replace(false))
}

pub fn insert(conn: &mut DbConn, row: &NewOutboxRow<'_>) -> Result<(), StoreError> {
    diesel::insert_into(o::table).values(row).execute(conn)?;
    INSERTED.with(|flag| flag.set(true));
    Ok(())
}

/// How many claims one call tries before it reports nothing to do: another worker took each
/// candidate first, so the queue is being drained anyway.
const CLAIM_TRIES: usize = 5;

/// Claims the oldest row due at `now` for `claim` (counting the attempt), if any. A row whose
/// `max_attempts` claims are spent (its worker died or could not record the result each
/// time) is never claimed again: it is given up here, with its bodies erased, instead of
/// being sent again every lease.
pub fn claim_next(
    conn: &mut DbConn,
    claim: &Claim,
    now: i64,
    max_attempts: i32,
) -> Result<Option<OutboxRow>, StoreError> {
    let free = o::claimed_until.is_null().or(o::claimed_until.le(now));
    diesel::update(
        o::table
            .filter(o::failed_at.is_null())
            .filter(o::attempts.ge(max_attempts))
            .filter(free),
    )
    .set(given_up(
        now,
        "gave up: every attempt was claimed without a recorded result",
    ))
    .execute(conn)?;
    for _ in 0..CLAIM_TRIES {
        let free = o::claimed_until.is_null().or(o::claimed_until.le(now));
        let candidate: Option<i64> = o::table
            .filter(o::failed_at.is_null())
            .filter(o::next_attempt_at.le(now))
            .filter(o::attempts.lt(max_attempts))
            .filter(free)
            .order(o::id.asc())
            .select(o::id)
            .first(conn)
            .optional()?;
        let Some(id) = candidate else {
            return Ok(None);
        };
        // The same conditions again: another worker may have claimed or rescheduled the row
        // since it was read.
        let free = o::claimed_until.is_null().or(o::claimed_until.le(now));
        let taken = diesel::update(
            o::table
                .find(id)
                .filter(o::failed_at.is_null())
                .filter(o::next_attempt_at.le(now))
                .filter(o::attempts.lt(max_attempts))
                .filter(free),
        )
        .set((
            o::claimed_by.eq(&claim.token),
            o::claimed_until.eq(claim.until),
            o::attempts.eq(o::attempts + 1),
        ))
        .execute(conn)?;
        if taken == 1 {
            return Ok(o::table
                .find(id)
                .filter(o::claimed_by.eq(&claim.token))
                .select(OutboxRow::as_select())
                .first(conn)
                .optional()?);
        }
    }
    Ok(None)
}

/// Removes a sent row; false if the claim was lost (another worker holds it now).
pub fn delete_sent(conn: &mut DbConn, id: i64, claim: &Claim) -> Result<bool, StoreError> {
    let deleted =
        diesel::delete(o::table.find(id).filter(o::claimed_by.eq(&claim.token))).execute(conn)?;
    Ok(deleted == 1)
}

/// Releases a row whose send failed, to be tried again at `next_attempt_at`.
pub fn reschedule(
    conn: &mut DbConn,
    id: i64,
    claim: &Claim,
    next_attempt_at: i64,
    error: &str,
) -> Result<bool, StoreError> {
    let updated = diesel::update(o::table.find(id).filter(o::claimed_by.eq(&claim.token)))
        .set((
            o::claimed_by.eq(None::<String>),
            o::claimed_until.eq(None::<i64>),
            o::next_attempt_at.eq(next_attempt_at),
            o::last_error.eq(error),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}

/// What giving a row up writes: no claim, the time, the reason, and no bodies (they may hold
/// a one-time link); recipient and subject stay for the operator.
#[derive(AsChangeset)]
#[diesel(table_name = o, treat_none_as_null = true)]
struct GivenUp<'a> {
    claimed_by: Option<&'a str>,
    claimed_until: Option<i64>,
    failed_at: Option<i64>,
    last_error: Option<&'a str>,
    text_body: &'a str,
    html_body: &'a str,
}

fn given_up(now: i64, error: &str) -> GivenUp<'_> {
    GivenUp {
        claimed_by: None,
        claimed_until: None,
        failed_at: Some(now),
        last_error: Some(error),
        text_body: "",
        html_body: "",
    }
}

/// Gives a row up: it is never tried again, and its bodies (which may hold a one-time link)
/// are erased; recipient, subject and the last error stay for the operator.
pub fn give_up(
    conn: &mut DbConn,
    id: i64,
    claim: &Claim,
    now: i64,
    error: &str,
) -> Result<bool, StoreError> {
    let updated = diesel::update(o::table.find(id).filter(o::claimed_by.eq(&claim.token)))
        .set(given_up(now, error))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Deletes the rows given up before `before`; returns how many.
pub fn purge_failed(conn: &mut DbConn, before: i64) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(o::table.filter(o::failed_at.is_not_null().and(o::failed_at.lt(before))))
            .execute(conn)?,
    )
}

/// Every row, oldest first.
pub fn all(conn: &mut DbConn) -> Result<Vec<OutboxRow>, StoreError> {
    Ok(o::table
        .order(o::id.asc())
        .select(OutboxRow::as_select())
        .load(conn)?)
}
