//! Groups: membership with its limits and roles, group messages with a receipt per member,
//! and what a removal takes with it.

use std::sync::Arc;

use super::Fixture;
use super::support::{T0, race};
use crate::protocol::{GroupMember, GroupMessage, GroupRole, MessageStatus, Receipt, SealedField};
use crate::store::{
    GroupInserted, GroupLimits, GroupRecord, GroupStore, Joined, Removal, RoleSet, Settled,
    StoreError,
};

const ROOMY: GroupLimits = GroupLimits {
    max_members: 256,
    max_groups: 100,
};

fn group(id: &str) -> GroupRecord {
    GroupRecord {
        id: id.to_owned(),
        created_at: T0,
        title: None,
        avatar: None,
    }
}

fn member(name: &str, joined_at: i64) -> GroupMember {
    GroupMember {
        username: name.to_owned(),
        role: GroupRole::Member,
        joined_at,
    }
}

/// A chat message of `sender` to group `group`, under sender key `k1`.
fn gmsg(id: &str, group: &str, sender: &str, timestamp: i64) -> GroupMessage {
    GroupMessage {
        id: id.to_owned(),
        group: group.to_owned(),
        sender: sender.to_owned(),
        to: None,
        key_id: Some("k1".into()),
        ciphertext: format!("Z3JvdXA-{id}"),
        iv: format!("aXY-{id}"),
        timestamp,
        status: MessageStatus::Sent,
    }
}

/// A key message of `sender` for `to` in `group`.
fn key_msg(id: &str, group: &str, sender: &str, to: &str, timestamp: i64) -> GroupMessage {
    GroupMessage {
        to: Some(to.to_owned()),
        key_id: None,
        ..gmsg(id, group, sender, timestamp)
    }
}

/// A group `g` made by `alice` at [`T0`], with `others` added (in order, one ms apart).
async fn group_of(store: &impl GroupStore, g: &str, others: &[&str]) {
    assert!(
        store
            .create_group(&group(g), "alice", 100)
            .await
            .expect("create_group failed"),
        "create_group under the limit must succeed"
    );
    for (i, name) in others.iter().enumerate() {
        let joined = store
            .add_member(g, &member(name, T0 + 1 + i as i64), ROOMY)
            .await
            .expect("add_member failed");
        assert_eq!(joined, Joined::Added, "add_member({g}, {name})");
    }
}

async fn names(store: &impl GroupStore, g: &str) -> Vec<(String, GroupRole)> {
    store
        .members(g)
        .await
        .expect("members failed")
        .into_iter()
        .map(|m| (m.username, m.role))
        .collect()
}

async fn insert(store: &impl GroupStore, message: &GroupMessage) -> (GroupMessage, Vec<String>) {
    match store
        .insert_group_message(message)
        .await
        .expect("insert_group_message failed")
    {
        GroupInserted::New {
            message,
            recipients,
        } => (message, recipients),
        other => panic!(
            "insert_group_message({}) must store it, got {other:?}",
            message.id
        ),
    }
}

fn ids(messages: &[GroupMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.id.as_str()).collect()
}

fn receipt(name: &str, status: MessageStatus) -> Receipt {
    Receipt {
        username: name.to_owned(),
        status,
    }
}

/// A new group has its creator as its one admin; an id is unique; the creator's groups limit
/// is kept.
pub async fn groups_create_find_and_limit<X: Fixture>(fixture: X) {
    let store = fixture.store();
    assert!(
        store
            .create_group(&group("g1"), "alice", 2)
            .await
            .expect("create_group")
    );
    assert_eq!(store.group("g1").await.expect("group"), Some(group("g1")));
    assert_eq!(store.group("nope").await.expect("group"), None);
    assert_eq!(
        names(store, "g1").await,
        [("alice".to_owned(), GroupRole::Admin)]
    );
    assert_eq!(
        store.members("g1").await.expect("members")[0].joined_at,
        T0,
        "the creator joins at the group's creation"
    );
    assert!(store.members("nope").await.expect("members").is_empty());
    match store.create_group(&group("g1"), "bob", 2).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a second group with one id must be Conflict, got {other:?}"),
    }
    assert!(
        store
            .create_group(&group("g2"), "alice", 2)
            .await
            .expect("create_group")
    );
    assert!(
        !store
            .create_group(&group("g3"), "alice", 2)
            .await
            .expect("create_group"),
        "a creator in max_groups groups must be refused"
    );
    assert_eq!(store.group("g3").await.expect("group"), None);
    let mut mine = store.groups_of("alice").await.expect("groups_of");
    mine.sort();
    assert_eq!(mine, ["g1", "g2"]);
}

/// Adding a member keeps both limits and refuses a member twice; members come oldest first.
pub async fn groups_add_member_keeps_the_limits<X: Fixture>(fixture: X) {
    let store = fixture.store();
    let small = GroupLimits {
        max_members: 3,
        max_groups: 2,
    };
    group_of(store, "g1", &[]).await;
    // Joined out of time order: the list is by `joined_at`, not by insertion.
    assert_eq!(
        store
            .add_member("g1", &member("carol", T0 + 5), small)
            .await
            .expect("add"),
        Joined::Added
    );
    assert_eq!(
        store
            .add_member("g1", &member("bob", T0 + 2), small)
            .await
            .expect("add"),
        Joined::Added
    );
    assert_eq!(
        names(store, "g1").await,
        [
            ("alice".to_owned(), GroupRole::Admin),
            ("bob".to_owned(), GroupRole::Member),
            ("carol".to_owned(), GroupRole::Member),
        ]
    );
    assert_eq!(
        store
            .add_member("g1", &member("bob", T0 + 9), small)
            .await
            .expect("add"),
        Joined::AlreadyMember
    );
    assert_eq!(
        store
            .add_member("g1", &member("dave", T0 + 9), small)
            .await
            .expect("add"),
        Joined::GroupFull
    );
    assert_eq!(
        store
            .add_member("nope", &member("dave", T0 + 9), small)
            .await
            .expect("add"),
        Joined::NoGroup
    );
    assert_eq!(store.members("g1").await.expect("members").len(), 3);
    // Dave in two groups already: a third is refused.
    for g in ["g2", "g3", "g4"] {
        group_of(store, g, &[]).await;
    }
    assert_eq!(
        store
            .add_member("g2", &member("dave", T0), small)
            .await
            .expect("add"),
        Joined::Added
    );
    assert_eq!(
        store
            .add_member("g3", &member("dave", T0), small)
            .await
            .expect("add"),
        Joined::Added
    );
    assert_eq!(
        store
            .add_member("g4", &member("dave", T0), small)
            .await
            .expect("add"),
        Joined::TooManyGroups
    );
    let mut daves = store.groups_of("dave").await.expect("groups_of");
    daves.sort();
    assert_eq!(daves, ["g2", "g3"]);
}

/// When the last admin leaves the longest-standing member becomes admin; the last member's
/// leaving deletes the group with its messages.
pub async fn groups_removal_promotes_and_deletes<X: Fixture>(fixture: X) {
    let store = fixture.store();
    group_of(store, "g1", &["bob", "carol"]).await;
    insert(store, &gmsg("m1", "g1", "bob", T0 + 10)).await;
    assert_eq!(
        store.remove_member("g1", "dave").await.expect("remove"),
        None
    );
    assert_eq!(
        store.remove_member("g1", "alice").await.expect("remove"),
        Some(Removal {
            promoted: Some("bob".into()),
            deleted: false
        })
    );
    assert_eq!(
        names(store, "g1").await,
        [
            ("bob".to_owned(), GroupRole::Admin),
            ("carol".to_owned(), GroupRole::Member),
        ]
    );
    assert_eq!(
        store.remove_member("g1", "carol").await.expect("remove"),
        Some(Removal {
            promoted: None,
            deleted: false
        }),
        "a member leaving while an admin stays promotes nobody"
    );
    assert_eq!(
        store.remove_member("g1", "bob").await.expect("remove"),
        Some(Removal {
            promoted: None,
            deleted: true
        })
    );
    assert_eq!(store.group("g1").await.expect("group"), None);
    assert!(store.groups_of("bob").await.expect("groups_of").is_empty());
    assert_eq!(
        store.get_group_message("m1").await.expect("get"),
        None,
        "a deleted group's messages go with it"
    );
}

/// Roles change one at a time and a group never loses its last admin.
pub async fn groups_roles_keep_an_admin<X: Fixture>(fixture: X) {
    let store = fixture.store();
    group_of(store, "g1", &["bob"]).await;
    assert_eq!(
        store
            .set_role("g1", "alice", GroupRole::Member)
            .await
            .expect("set_role"),
        RoleSet::LastAdmin
    );
    assert_eq!(
        store
            .set_role("g1", "bob", GroupRole::Admin)
            .await
            .expect("set_role"),
        RoleSet::Set
    );
    assert_eq!(
        store
            .set_role("g1", "alice", GroupRole::Member)
            .await
            .expect("set_role"),
        RoleSet::Set
    );
    assert_eq!(
        store
            .set_role("g1", "bob", GroupRole::Member)
            .await
            .expect("set_role"),
        RoleSet::LastAdmin
    );
    assert_eq!(
        store
            .set_role("g1", "carol", GroupRole::Admin)
            .await
            .expect("set_role"),
        RoleSet::NotMember
    );
    assert_eq!(
        store
            .set_role("nope", "bob", GroupRole::Admin)
            .await
            .expect("set_role"),
        RoleSet::NotMember
    );
    assert_eq!(
        names(store, "g1").await,
        [
            ("alice".to_owned(), GroupRole::Member),
            ("bob".to_owned(), GroupRole::Admin),
        ]
    );
}

/// Title and avatar are stored as given and replaced together.
pub async fn groups_details_round_trip<X: Fixture>(fixture: X) {
    let store = fixture.store();
    group_of(store, "g1", &[]).await;
    let title = SealedField {
        ciphertext: "dGl0bGU=".into(),
        iv: "aXY=".into(),
        key_id: "k1".into(),
        by: Some("alice".into()),
    };
    assert!(
        store
            .set_group_details("g1", Some(&title), None)
            .await
            .expect("details")
    );
    let stored = store.group("g1").await.expect("group").expect("the group");
    assert_eq!((stored.title, stored.avatar), (Some(title.clone()), None));
    assert!(
        store
            .set_group_details("g1", None, Some(&title))
            .await
            .expect("details")
    );
    let stored = store.group("g1").await.expect("group").expect("the group");
    assert_eq!((stored.title, stored.avatar), (None, Some(title.clone())));
    assert!(
        !store
            .set_group_details("nope", None, None)
            .await
            .expect("details")
    );
}

/// A message is stored only from a member (and to a member), with a receipt per member it is
/// sent to; an id is stored once; timestamps never go back.
pub async fn group_messages_reach_the_members_of_the_moment<X: Fixture>(fixture: X) {
    let store = fixture.store();
    group_of(store, "g1", &["bob", "carol"]).await;
    let (first, recipients) = insert(store, &gmsg("m1", "g1", "bob", T0 + 10)).await;
    assert_eq!(
        recipients,
        ["alice", "bob", "carol"],
        "every member, the sender's own receipt too"
    );
    assert_eq!(
        (first.timestamp, first.status),
        (T0 + 10, MessageStatus::Sent)
    );
    assert_eq!(
        store.receipts("m1").await.expect("receipts"),
        [
            receipt("alice", MessageStatus::Sent),
            receipt("carol", MessageStatus::Sent)
        ],
        "receipts list the members it was sent to, not the sender"
    );
    assert_eq!(
        store.get_group_message("m1").await.expect("get"),
        Some(first.clone())
    );
    let (earlier, _) = insert(store, &gmsg("m2", "g1", "alice", T0 + 5)).await;
    assert_eq!(
        earlier.timestamp,
        T0 + 10,
        "a timestamp is never earlier than a stored one"
    );
    assert_eq!(
        store
            .insert_group_message(&gmsg("m1", "g1", "carol", T0 + 20))
            .await
            .expect("insert"),
        GroupInserted::Existing(first),
        "an id is stored once, whoever sends it again"
    );
    assert_eq!(
        store
            .insert_group_message(&gmsg("m3", "g1", "dave", T0 + 20))
            .await
            .expect("insert"),
        GroupInserted::NotMember("dave".into())
    );
    assert_eq!(
        store
            .insert_group_message(&gmsg("m4", "nope", "alice", T0 + 20))
            .await
            .expect("insert"),
        GroupInserted::NotMember("alice".into())
    );
    assert_eq!(
        store
            .insert_group_message(&key_msg("m5", "g1", "alice", "dave", T0 + 20))
            .await
            .expect("insert"),
        GroupInserted::NotMember("dave".into())
    );
    for id in ["m3", "m4", "m5"] {
        assert_eq!(
            store.get_group_message(id).await.expect("get"),
            None,
            "{id} must not be stored"
        );
    }
    let (_, recipients) = insert(store, &key_msg("k1", "g1", "alice", "carol", T0 + 20)).await;
    assert_eq!(recipients, ["carol"], "a key message reaches `to` only");
    let (_, recipients) = insert(store, &key_msg("k2", "g1", "alice", "alice", T0 + 20)).await;
    assert_eq!(
        recipients,
        ["alice"],
        "a key message to oneself reaches one's own devices"
    );
}

/// A member's receipts move forward only; a message settles when every other receipt has.
pub async fn group_ticks_move_forward_and_settle<X: Fixture>(fixture: X) {
    let store = fixture.store();
    group_of(store, "g1", &["bob", "carol"]).await;
    insert(store, &gmsg("m1", "g1", "alice", T0 + 10)).await;
    insert(store, &gmsg("m2", "g1", "alice", T0 + 11)).await;
    insert(store, &gmsg("m3", "g1", "bob", T0 + 12)).await;
    let m1 = ["m1".to_owned()];
    let ticks = store
        .advance_group_status("g1", "bob", Some(&m1), MessageStatus::Delivered)
        .await
        .expect("advance");
    assert_eq!(
        (ticks.moved, ticks.settled),
        (vec!["m1".to_owned()], vec![]),
        "carol has not got it yet"
    );
    let ticks = store
        .advance_group_status("g1", "bob", Some(&m1), MessageStatus::Delivered)
        .await
        .expect("advance");
    assert!(ticks.moved.is_empty(), "a receipt moves once");
    let ticks = store
        .advance_group_status("g1", "bob", Some(&[]), MessageStatus::Seen)
        .await
        .expect("advance");
    assert!(ticks.moved.is_empty(), "no ids moves nothing");
    let ticks = store
        .advance_group_status("g1", "carol", None, MessageStatus::Delivered)
        .await
        .expect("advance");
    let mut moved = ticks.moved.clone();
    moved.sort();
    assert_eq!(moved, ["m1", "m2", "m3"]);
    assert_eq!(
        ticks.settled,
        [Settled {
            id: "m1".into(),
            sender: "alice".into(),
            status: MessageStatus::Delivered,
        }],
        "m1 had every other receipt delivered; m2 waits for bob, m3 for alice"
    );
    let ticks = store
        .advance_group_status("g1", "carol", None, MessageStatus::Delivered)
        .await
        .expect("advance");
    assert!(ticks.moved.is_empty() && ticks.settled.is_empty());
    let ticks = store
        .advance_group_status("g1", "bob", None, MessageStatus::Seen)
        .await
        .expect("advance");
    let mut settled: Vec<_> = ticks
        .settled
        .iter()
        .map(|r| (r.id.as_str(), r.status))
        .collect();
    settled.sort();
    assert_eq!(
        settled,
        [("m2", MessageStatus::Delivered)],
        "bob went straight to seen on m2, past carol's delivered: m2 is delivered to all; \
         carol has seen nothing yet"
    );
    let ticks = store
        .advance_group_status("g1", "carol", None, MessageStatus::Seen)
        .await
        .expect("advance");
    let mut settled: Vec<_> = ticks
        .settled
        .iter()
        .map(|r| (r.id.as_str(), r.status))
        .collect();
    settled.sort();
    assert_eq!(
        settled,
        [("m1", MessageStatus::Seen), ("m2", MessageStatus::Seen)],
        "m3 waits for alice"
    );
    let m1 = store
        .get_group_message("m1")
        .await
        .expect("get")
        .expect("m1");
    assert_eq!(m1.status, MessageStatus::Seen);
    assert_eq!(
        store.receipts("m1").await.expect("receipts"),
        [
            receipt("bob", MessageStatus::Seen),
            receipt("carol", MessageStatus::Seen)
        ]
    );
    let ticks = store
        .advance_group_status("g1", "bob", None, MessageStatus::Delivered)
        .await
        .expect("advance");
    assert!(ticks.moved.is_empty(), "seen never goes back to delivered");
}

/// History holds what the member was sent, newest first, paged; a later member sees only what
/// came after they joined, and nobody sees others' key messages.
pub async fn group_history_is_what_the_member_was_sent<X: Fixture>(fixture: X) {
    let store = fixture.store();
    group_of(store, "g1", &["bob"]).await;
    insert(store, &gmsg("m1", "g1", "alice", T0 + 10)).await;
    insert(store, &key_msg("k1", "g1", "alice", "bob", T0 + 11)).await;
    assert_eq!(
        store
            .add_member("g1", &member("carol", T0 + 12), ROOMY)
            .await
            .expect("add"),
        Joined::Added
    );
    insert(store, &gmsg("m2", "g1", "bob", T0 + 13)).await;
    insert(store, &gmsg("m3", "g1", "carol", T0 + 14)).await;
    let page = store
        .group_history("g1", "bob", None, 10)
        .await
        .expect("history");
    assert_eq!(
        (ids(&page.items), page.has_more),
        (vec!["m3", "m2", "k1", "m1"], false)
    );
    let page = store
        .group_history("g1", "alice", None, 2)
        .await
        .expect("history");
    assert_eq!((ids(&page.items), page.has_more), (vec!["m3", "m2"], true));
    let page = store
        .group_history("g1", "alice", Some("m2"), 2)
        .await
        .expect("history");
    assert_eq!(
        (ids(&page.items), page.has_more),
        (vec!["m1"], false),
        "k1 was for bob only"
    );
    let page = store
        .group_history("g1", "carol", None, 10)
        .await
        .expect("history");
    assert_eq!(ids(&page.items), ["m3", "m2"], "carol joined after m1");
    for (who, before) in [("carol", "m1"), ("alice", "k1"), ("alice", "nope")] {
        match store.group_history("g1", who, Some(before), 10).await {
            Err(StoreError::NotFound(_)) => {}
            other => panic!("history of {who} before {before} must be NotFound, got {other:?}"),
        }
    }
    assert!(
        store
            .group_history("g1", "dave", None, 10)
            .await
            .expect("history")
            .items
            .is_empty()
    );
}

/// The backlog is every receipt still `sent`, across groups, oldest first, paged by `after`.
pub async fn group_undelivered_oldest_first_across_groups<X: Fixture>(fixture: X) {
    let store = fixture.store();
    group_of(store, "g1", &["bob"]).await;
    group_of(store, "g2", &["bob"]).await;
    insert(store, &gmsg("m1", "g1", "alice", T0 + 10)).await;
    insert(store, &gmsg("m2", "g2", "alice", T0 + 11)).await;
    insert(store, &gmsg("m3", "g1", "bob", T0 + 12)).await;
    insert(store, &key_msg("k1", "g2", "alice", "bob", T0 + 13)).await;
    insert(store, &gmsg("m4", "g1", "alice", T0 + 14)).await;
    let all = store
        .undelivered_group_messages("bob", None, 10)
        .await
        .expect("undelivered");
    assert_eq!(
        (ids(&all.items), all.has_more),
        (vec!["m1", "m2", "k1", "m4"], false)
    );
    let first = store
        .undelivered_group_messages("bob", None, 2)
        .await
        .expect("undelivered");
    assert_eq!(
        (ids(&first.items), first.has_more),
        (vec!["m1", "m2"], true)
    );
    let rest = store
        .undelivered_group_messages("bob", Some("m2"), 2)
        .await
        .expect("undelivered");
    assert_eq!((ids(&rest.items), rest.has_more), (vec!["k1", "m4"], false));
    store
        .advance_group_status("g2", "bob", None, MessageStatus::Delivered)
        .await
        .expect("advance");
    let left = store
        .undelivered_group_messages("bob", Some("m1"), 10)
        .await
        .expect("undelivered");
    assert_eq!(
        ids(&left.items),
        ["m4"],
        "`after` may name a message no longer sent"
    );
    let unknown = store
        .undelivered_group_messages("bob", Some("nope"), 10)
        .await
        .expect("undelivered");
    assert!(
        unknown.items.is_empty() && !unknown.has_more,
        "an unknown `after` gives an empty page"
    );
    let alices = store
        .undelivered_group_messages("alice", None, 10)
        .await
        .expect("undelivered");
    assert_eq!(
        ids(&alices.items),
        ["m3"],
        "a sender's own messages are not in their backlog"
    );
}

/// A removed member's receipts go: they are out of the backlog and the message info, and no
/// longer hold back a message's status.
pub async fn group_removal_takes_the_members_receipts<X: Fixture>(fixture: X) {
    let store = fixture.store();
    group_of(store, "g1", &["bob", "carol"]).await;
    insert(store, &gmsg("m1", "g1", "alice", T0 + 10)).await;
    store
        .advance_group_status("g1", "bob", None, MessageStatus::Seen)
        .await
        .expect("advance");
    store.remove_member("g1", "carol").await.expect("remove");
    assert!(
        store
            .undelivered_group_messages("carol", None, 10)
            .await
            .expect("undelivered")
            .items
            .is_empty()
    );
    assert_eq!(
        store.receipts("m1").await.expect("receipts"),
        [receipt("bob", MessageStatus::Seen)]
    );
    let m1 = store
        .get_group_message("m1")
        .await
        .expect("get")
        .expect("m1");
    assert_eq!(m1.status, MessageStatus::Seen, "only carol held m1 back");
    match store
        .insert_group_message(&gmsg("m2", "g1", "carol", T0 + 20))
        .await
        .expect("insert")
    {
        GroupInserted::NotMember(who) => assert_eq!(who, "carol"),
        other => panic!("a removed member's message must be refused, got {other:?}"),
    }
    let (_, recipients) = insert(store, &gmsg("m3", "g1", "alice", T0 + 21)).await;
    assert_eq!(
        recipients,
        ["alice", "bob"],
        "a new message does not reach a removed member"
    );
}

/// A member's list entry: the latest chat message they may see and their unread count.
pub async fn group_entries_last_message_and_unread<X: Fixture>(fixture: X) {
    let store = fixture.store();
    group_of(store, "g1", &["bob"]).await;
    group_of(store, "g2", &["bob"]).await;
    insert(store, &gmsg("m1", "g1", "alice", T0 + 10)).await;
    insert(store, &gmsg("m2", "g1", "alice", T0 + 11)).await;
    insert(store, &gmsg("m3", "g1", "bob", T0 + 12)).await;
    insert(store, &key_msg("k1", "g1", "alice", "bob", T0 + 13)).await;
    let mut entries = store.group_entries("bob").await.expect("entries");
    entries.sort_by(|a, b| a.group.cmp(&b.group));
    assert_eq!(entries.len(), 2);
    assert_eq!(
        entries[0].last_message.as_ref().map(|m| m.id.as_str()),
        Some("m3"),
        "key messages are not chat"
    );
    assert_eq!((entries[0].unread, entries[0].joined_at), (2, T0 + 1));
    assert_eq!(
        (entries[1].last_message.clone(), entries[1].unread),
        (None, 0)
    );
    let m1 = ["m1".to_owned()];
    store
        .advance_group_status("g1", "bob", Some(&m1), MessageStatus::Seen)
        .await
        .expect("advance");
    let entries = store.group_entries("bob").await.expect("entries");
    let g1 = entries.iter().find(|e| e.group == "g1").expect("g1");
    assert_eq!(g1.unread, 1);
    assert!(
        store
            .group_entries("dave")
            .await
            .expect("entries")
            .is_empty()
    );
}

/// An erased account's group messages go, with their receipts.
pub async fn group_messages_of_an_erased_user_go<X: Fixture>(fixture: X) {
    let store = fixture.store();
    group_of(store, "g1", &["bob"]).await;
    insert(store, &gmsg("m1", "g1", "bob", T0 + 10)).await;
    insert(store, &gmsg("m2", "g1", "alice", T0 + 11)).await;
    store.remove_member("g1", "bob").await.expect("remove");
    store.delete_group_messages_of("bob").await.expect("delete");
    assert_eq!(store.get_group_message("m1").await.expect("get"), None);
    let page = store
        .group_history("g1", "alice", None, 10)
        .await
        .expect("history");
    assert_eq!(ids(&page.items), ["m2"]);
    assert!(
        store
            .undelivered_group_messages("alice", None, 10)
            .await
            .expect("undelivered")
            .items
            .is_empty()
    );
}

/// Many users joining a group at once: exactly as many as the limit allows get in.
pub async fn race_add_member_to_a_full_group<X: Fixture>(fixture: X) {
    let fixture = Arc::new(fixture);
    group_of(fixture.store(), "g1", &[]).await;
    let limits = GroupLimits {
        max_members: 5,
        max_groups: 100,
    };
    let results = race(&fixture, 16, |fx, i| async move {
        fx.store()
            .add_member("g1", &member(&format!("user{i}"), T0 + 1), limits)
            .await
            .expect("add_member failed")
    })
    .await;
    let added = results.iter().filter(|j| **j == Joined::Added).count();
    assert_eq!(added, 4, "the creator and four more: {results:?}");
    assert_eq!(
        fixture.store().members("g1").await.expect("members").len(),
        5
    );
}

/// One user added to many groups at once: exactly as many as their limit allows.
pub async fn race_add_member_past_the_groups_limit<X: Fixture>(fixture: X) {
    let fixture = Arc::new(fixture);
    for i in 0..12 {
        group_of(fixture.store(), &format!("g{i}"), &[]).await;
    }
    let limits = GroupLimits {
        max_members: 256,
        max_groups: 3,
    };
    let results = race(&fixture, 12, |fx, i| async move {
        fx.store()
            .add_member(&format!("g{i}"), &member("bob", T0 + 1), limits)
            .await
            .expect("add_member failed")
    })
    .await;
    let added = results.iter().filter(|j| **j == Joined::Added).count();
    assert_eq!(added, 3, "{results:?}");
    assert_eq!(
        fixture
            .store()
            .groups_of("bob")
            .await
            .expect("groups_of")
            .len(),
        3
    );
}

/// Messages racing a removal: once the removal has returned, the removed member has no receipt
/// of any message stored from then on, and their own sends are refused.
pub async fn race_group_messages_and_removal<X: Fixture>(fixture: X) {
    let fixture = Arc::new(fixture);
    let others: Vec<String> = (0..8).map(|i| format!("user{i}")).collect();
    let mut everyone: Vec<&str> = vec!["bob"];
    everyone.extend(others.iter().map(String::as_str));
    group_of(fixture.store(), "g1", &everyone).await;
    let senders = race(&fixture, 24, |fx, i| async move {
        if i == 12 {
            fx.store()
                .remove_member("g1", "bob")
                .await
                .expect("remove")
                .map(|_| String::new())
        } else {
            let sender = if i % 3 == 0 {
                "bob".to_owned()
            } else {
                format!("user{}", i % 8)
            };
            let message = gmsg(&format!("m{i}"), "g1", &sender, T0 + 10 + i as i64);
            match fx
                .store()
                .insert_group_message(&message)
                .await
                .expect("insert")
            {
                GroupInserted::New { .. } => Some(sender),
                _ => None,
            }
        }
    })
    .await;
    assert!(senders[12].is_some(), "bob was a member to remove");
    // From here on the removal has returned.
    let (_, recipients) = insert(fixture.store(), &gmsg("after", "g1", "user1", T0 + 99)).await;
    assert!(!recipients.contains(&"bob".to_owned()), "{recipients:?}");
    match fixture
        .store()
        .insert_group_message(&gmsg("after-bob", "g1", "bob", T0 + 99))
        .await
        .expect("insert")
    {
        GroupInserted::NotMember(who) => assert_eq!(who, "bob"),
        other => panic!("bob's send after the removal must be refused, got {other:?}"),
    }
    let backlog = fixture
        .store()
        .undelivered_group_messages("bob", None, 100)
        .await
        .expect("undelivered");
    assert!(
        backlog.items.is_empty(),
        "a removed member keeps no receipt: {:?}",
        ids(&backlog.items)
    );
    assert!(
        fixture
            .store()
            .receipts("after")
            .await
            .expect("receipts")
            .iter()
            .all(|r| r.username != "bob")
    );
}
