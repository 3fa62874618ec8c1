//! A source's failures outlive its lock: the purge job forgets a source only after
//! `lockout.source_memory_secs` without a failure or a lock, so the lock keeps doubling
//! instead of starting over with a fresh budget once a day-long lock ends.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use portcullis::store::schema::login_sources as ls;

use crate::helpers::{spawn_app_with, TestApp, PASSWORD};

const DAY: i64 = 86_400;

async fn insert_source(
    app: &TestApp,
    user_id: &str,
    source: &'static str,
    failures: i32,
    updated_ago: i64,
    lock_ended_ago: Option<i64>,
) {
    let user_id = user_id.to_owned();
    let now = portcullis::time::now();
    app.db(move |c| {
        Ok(diesel::insert_into(ls::table)
            .values((
                ls::user_id.eq(user_id),
                ls::source.eq(source),
                ls::failures.eq(failures),
                ls::updated_at.eq(now - updated_ago),
                ls::locked_until.eq(lock_ended_ago.map(|ago| now - ago)),
            ))
            .execute(c)?)
    })
    .await;
}

async fn failures(app: &TestApp, source: &'static str) -> Option<i32> {
    app.db(move |c| {
        Ok(ls::table
            .filter(ls::source.eq(source))
            .select(ls::failures)
            .first(c)
            .optional()?)
    })
    .await
}

#[tokio::test]
async fn a_source_whose_day_long_lock_just_ended_keeps_its_failures() {
    let app = spawn_app_with(|f| f.merge(("session.purge_interval_secs", 1))).await;
    let alice = app.create_user("alice", PASSWORD).await;
    // Locked for the longest time (a day) after its last failure; the lock just ended.
    insert_source(&app, &alice, "ip:198.51.100.1", 12, DAY + 60, Some(10)).await;
    // Quiet for longer than the default memory (30 days): forgotten.
    insert_source(
        &app,
        &alice,
        "ip:198.51.100.2",
        12,
        31 * DAY,
        Some(30 * DAY + 60),
    )
    .await;
    insert_source(&app, &alice, "ip:198.51.100.3", 2, 31 * DAY, None).await;

    let deadline = Instant::now() + Duration::from_secs(15);
    while failures(&app, "ip:198.51.100.2").await.is_some()
        || failures(&app, "ip:198.51.100.3").await.is_some()
    {
        assert!(Instant::now() < deadline, "the purge job did not run");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(failures(&app, "ip:198.51.100.1").await, Some(12));
}
