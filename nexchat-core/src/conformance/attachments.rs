//! Attachments: quota reserved in one step, references all or nothing, and collection that
//! never takes what a message names.

use std::sync::Arc;

use super::Fixture;
use super::support::{T0, race, to_bob, upload};
use crate::store::{AttachmentRef, AttachmentState, AttachmentStore, Reserved, StoreError};

/// Reserves and finishes `id` for `owner` at `size` bytes.
async fn stored(store: &impl AttachmentStore, id: &str, owner: &str, size: u64, at: i64) {
    let reserved = store
        .reserve_attachment(&upload(id, owner, size, at), u64::MAX)
        .await
        .expect("reserve");
    assert_eq!(reserved, Reserved::Reserved);
    assert!(store.finish_attachment(id, size).await.expect("finish"));
}

/// An upload is let in while the owner's attachments and it stay within the quota, counting
/// uploads in progress at what they reserved; others' uploads do not count; a taken id is a
/// conflict.
pub async fn attachments_reserve_within_the_quota<X: Fixture>(fixture: X) {
    let s = fixture.store();
    assert_eq!(
        s.reserve_attachment(&upload("a1", "alice", 600, T0), 1000)
            .await
            .expect("the store answers"),
        Reserved::Reserved
    );
    assert_eq!(
        s.reserve_attachment(&upload("a2", "alice", 401, T0), 1000)
            .await
            .expect("the store answers"),
        Reserved::OverQuota { used: 600 },
        "an upload in progress counts at what it reserved"
    );
    assert_eq!(
        s.attachment("a2").await.expect("the store answers"),
        None,
        "a refusal writes nothing"
    );
    assert_eq!(
        s.reserve_attachment(&upload("b1", "bob", 1000, T0), 1000)
            .await
            .expect("the store answers"),
        Reserved::Reserved,
        "another user's attachments do not count"
    );
    assert!(
        s.finish_attachment("a1", 100)
            .await
            .expect("the store answers")
    );
    assert_eq!(
        s.attachment_usage("alice")
            .await
            .expect("the store answers"),
        100
    );
    assert_eq!(
        s.reserve_attachment(&upload("a2", "alice", 900, T0), 1000)
            .await
            .expect("the store answers"),
        Reserved::Reserved,
        "finishing takes the quota down to the stored size"
    );
    assert_eq!(
        s.attachment_usage("alice")
            .await
            .expect("the store answers"),
        1000
    );
    match s
        .reserve_attachment(&upload("a1", "carol", 1, T0), 1000)
        .await
    {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a taken id must be a conflict, got {other:?}"),
    }
    let a1 = s
        .attachment("a1")
        .await
        .expect("the store answers")
        .expect("a1 is stored");
    assert_eq!(a1.owner, "alice", "a conflict leaves the record alone");
}

/// Finishing moves an upload to stored once; forgetting deletes the record and its references
/// and frees its bytes; `attachments_of` lists an owner's, in every state.
pub async fn attachments_finish_and_forget<X: Fixture>(fixture: X) {
    let s = fixture.store();
    s.reserve_attachment(&upload("a1", "alice", 50, T0), 1000)
        .await
        .expect("the store answers");
    assert_eq!(
        s.attachment("a1").await.expect("the store answers"),
        Some(upload("a1", "alice", 50, T0))
    );
    assert!(
        s.finish_attachment("a1", 42)
            .await
            .expect("the store answers")
    );
    assert!(
        !s.finish_attachment("a1", 7)
            .await
            .expect("the store answers"),
        "a stored attachment is not finished twice"
    );
    assert!(
        !s.finish_attachment("missing", 7)
            .await
            .expect("the store answers")
    );
    let a1 = s
        .attachment("a1")
        .await
        .expect("the store answers")
        .expect("the store answers");
    assert_eq!((a1.state, a1.size), (AttachmentState::Stored, 42));
    s.reserve_attachment(&upload("a2", "alice", 10, T0 + 1), 1000)
        .await
        .expect("the store answers");
    stored(s, "b1", "bob", 5, T0).await;
    let mut mine = s.attachments_of("alice").await.expect("the store answers");
    mine.sort();
    assert_eq!(mine, ["a1", "a2"]);
    assert!(
        s.reference_attachments("alice", &["a1".into()], &to_bob("m1"))
            .await
            .expect("the store answers")
    );
    s.forget_attachment("a1").await.expect("the store answers");
    s.forget_attachment("a1").await.expect("the store answers");
    assert_eq!(s.attachment("a1").await.expect("the store answers"), None);
    assert_eq!(
        s.attachment_refs("a1").await.expect("the store answers"),
        []
    );
    assert_eq!(
        s.attachment_usage("alice")
            .await
            .expect("the store answers"),
        10
    );
    assert_eq!(
        s.attachments_of("alice").await.expect("the store answers"),
        ["a2"]
    );
    assert_eq!(
        s.attachment_usage("bob").await.expect("the store answers"),
        5
    );
}

/// A message names attachments only when every one is the sender's and stored; a resend names
/// them again without a second reference; 1:1 and group references round-trip.
pub async fn attachments_references_are_all_or_nothing<X: Fixture>(fixture: X) {
    let s = fixture.store();
    stored(s, "a1", "alice", 10, T0).await;
    stored(s, "a2", "alice", 10, T0).await;
    stored(s, "b1", "bob", 10, T0).await;
    s.reserve_attachment(&upload("a3", "alice", 10, T0), 1000)
        .await
        .expect("the store answers");
    let some = |ids: &[&str]| ids.iter().map(|id| (*id).to_owned()).collect::<Vec<_>>();
    for (ids, why) in [
        (some(&["a1", "b1"]), "someone else's attachment"),
        (
            some(&["a1", "missing"]),
            "an attachment that does not exist",
        ),
        (some(&["a1", "a3"]), "an upload still in progress"),
    ] {
        assert!(
            !s.reference_attachments("alice", &ids, &to_bob("m1"))
                .await
                .expect("the store answers"),
            "a message naming {why} names nothing"
        );
        assert_eq!(
            s.attachment_refs("a1").await.expect("the store answers"),
            [],
            "{why}: nothing recorded"
        );
    }
    let group = AttachmentRef::Group {
        message: "m2".into(),
        group: "g1".into(),
    };
    assert!(
        s.reference_attachments("alice", &some(&["a1", "a2"]), &to_bob("m1"))
            .await
            .expect("the store answers")
    );
    assert!(
        s.reference_attachments("alice", &some(&["a1"]), &to_bob("m1"))
            .await
            .expect("the store answers"),
        "a resend names them again"
    );
    assert!(
        s.reference_attachments("alice", &some(&["a1"]), &group)
            .await
            .expect("the store answers")
    );
    let mut refs = s.attachment_refs("a1").await.expect("the store answers");
    refs.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(refs, [to_bob("m1"), group], "one reference per message");
    assert_eq!(
        s.attachment_refs("a2").await.expect("the store answers"),
        [to_bob("m1")]
    );
    assert!(
        s.reference_attachments("alice", &[], &to_bob("m3"))
            .await
            .expect("the store answers"),
        "naming nothing is fine"
    );
}

/// The collector sees and claims old attachments no message names (uploads that died too),
/// never a named or a recent one; a claimed attachment can no longer be named, and stays
/// collectable until it is forgotten.
pub async fn attachments_collect_only_what_nothing_names<X: Fixture>(fixture: X) {
    let s = fixture.store();
    let cutoff = T0 + 1000;
    stored(s, "old-named", "alice", 1, T0).await;
    stored(s, "old-unnamed", "alice", 1, T0 + 1).await;
    stored(s, "new-unnamed", "alice", 1, cutoff).await;
    s.reserve_attachment(&upload("old-uploading", "alice", 1, T0 + 2), 1000)
        .await
        .expect("the store answers");
    s.reference_attachments("alice", &["old-named".into()], &to_bob("m1"))
        .await
        .expect("the store answers");
    let mut found = s
        .collectable_attachments(cutoff, 10)
        .await
        .expect("the store answers");
    found.sort();
    assert_eq!(found, ["old-unnamed", "old-uploading"]);
    assert_eq!(
        s.collectable_attachments(cutoff, 1)
            .await
            .expect("the store answers")
            .len(),
        1,
        "at most `limit`"
    );
    assert!(
        !s.claim_attachment("old-named", cutoff)
            .await
            .expect("the store answers")
    );
    assert!(
        !s.claim_attachment("new-unnamed", cutoff)
            .await
            .expect("the store answers")
    );
    assert!(
        !s.claim_attachment("missing", cutoff)
            .await
            .expect("the store answers")
    );
    assert!(
        s.claim_attachment("old-unnamed", cutoff)
            .await
            .expect("the store answers")
    );
    assert!(
        s.claim_attachment("old-unnamed", cutoff)
            .await
            .expect("the store answers"),
        "a claimed attachment can be claimed again (a pass that died midway)"
    );
    assert_eq!(
        s.attachment("old-unnamed")
            .await
            .expect("the store answers")
            .expect("the store answers")
            .state,
        AttachmentState::Collecting
    );
    assert!(
        !s.reference_attachments("alice", &["old-unnamed".into()], &to_bob("m2"))
            .await
            .expect("the store answers"),
        "a claimed attachment cannot be named"
    );
    assert!(
        s.collectable_attachments(T0, 10)
            .await
            .expect("the store answers")
            .contains(&"old-unnamed".to_owned()),
        "a claimed attachment is collectable whatever the cutoff"
    );
    s.forget_attachment("old-unnamed")
        .await
        .expect("the store answers");
    assert_eq!(
        s.collectable_attachments(cutoff, 10)
            .await
            .expect("the store answers"),
        ["old-uploading"]
    );
}

/// Many uploads of one user at once: exactly as many are let in as fit the quota.
pub async fn race_reserve_attachments_past_the_quota<X: Fixture>(fixture: X) {
    let fixture = Arc::new(fixture);
    let results = race(&fixture, 16, |f, i| async move {
        f.store()
            .reserve_attachment(&upload(&format!("a{i}"), "alice", 100, T0), 500)
            .await
            .expect("reserve")
    })
    .await;
    let let_in = results.iter().filter(|r| **r == Reserved::Reserved).count();
    assert_eq!(let_in, 5, "500 bytes of quota hold five uploads of 100");
    assert_eq!(
        fixture
            .store()
            .attachment_usage("alice")
            .await
            .expect("the store answers"),
        500
    );
}

/// A message naming an attachment and the collector claiming it, at once, many times over:
/// exactly one of the two wins each time, and a named attachment is never claimed.
pub async fn race_reference_and_claim_attachment<X: Fixture>(fixture: X) {
    let fixture = Arc::new(fixture);
    let s = fixture.store();
    for i in 0..16 {
        stored(s, &format!("a{i}"), "alice", 1, T0).await;
    }
    let results = race(&fixture, 32, |f, i| async move {
        let id = format!("a{}", i / 2);
        if i % 2 == 0 {
            let named = f
                .store()
                .reference_attachments("alice", std::slice::from_ref(&id), &to_bob(&id))
                .await
                .expect("reference");
            (id, named, true)
        } else {
            let claimed = f
                .store()
                .claim_attachment(&id, T0 + 1)
                .await
                .expect("claim");
            (id, claimed, false)
        }
    })
    .await;
    for pair in results.chunks(2) {
        let (id, named, _) = &pair[0];
        let (_, claimed, _) = &pair[1];
        assert!(
            named != claimed,
            "{id}: exactly one of naming ({named}) and claiming ({claimed}) must win"
        );
        let refs = s.attachment_refs(id).await.expect("the store answers");
        let state = s
            .attachment(id)
            .await
            .expect("the store answers")
            .expect("the store answers")
            .state;
        if *named {
            assert_eq!(refs.len(), 1, "{id}: the message's reference is kept");
            assert_eq!(state, AttachmentState::Stored, "{id}: a named one is kept");
        } else {
            assert!(refs.is_empty(), "{id}: a claimed one has no reference");
            assert_eq!(state, AttachmentState::Collecting);
        }
    }
}
