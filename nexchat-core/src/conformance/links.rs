//! Checks of [`crate::store::FriendStore`].

use super::Fixture;
use super::support::{create_users, get_link, link, sorted_links};
use crate::store::{FriendStore, LinkStatus};

/// A request is one pending link, found from either side; it is not a friendship.
pub async fn links_request_seen_from_both_sides<X: Fixture>(fixture: X) {
    let store = fixture.store();
    create_users(store, &["alice", "bob", "carol"]).await;
    assert_eq!(get_link(store, "alice", "bob").await, None);
    assert!(
        store
            .create_request("alice", "bob")
            .await
            .expect("create_request failed"),
        "the first request of a pair must be recorded"
    );
    let pending = link("alice", "bob", LinkStatus::Pending);
    assert_eq!(get_link(store, "alice", "bob").await, Some(pending.clone()));
    assert_eq!(
        get_link(store, "bob", "alice").await,
        Some(pending.clone()),
        "link(b, a) must find the link a -> b"
    );
    assert_eq!(get_link(store, "alice", "carol").await, None);
    assert_eq!(get_link(store, "carol", "bob").await, None);
    for (a, b) in [("alice", "bob"), ("bob", "alice")] {
        assert!(
            !store.are_friends(a, b).await.expect("are_friends failed"),
            "a pending request is not a friendship"
        );
    }
    assert_eq!(
        store.links_of("alice").await.expect("links_of failed"),
        vec![pending.clone()]
    );
    assert_eq!(
        store.links_of("bob").await.expect("links_of failed"),
        vec![pending],
        "links_of must list links where the user is the receiver"
    );
    assert!(
        store
            .links_of("carol")
            .await
            .expect("links_of failed")
            .is_empty()
    );
}

/// While a pair has a pending or accepted link, no request (either direction) changes it.
pub async fn links_request_refused_while_pending_or_accepted<X: Fixture>(fixture: X) {
    let store = fixture.store();
    create_users(store, &["alice", "bob"]).await;
    assert!(
        store
            .create_request("alice", "bob")
            .await
            .expect("create_request failed")
    );
    for (s, r) in [("alice", "bob"), ("bob", "alice")] {
        assert!(
            !store
                .create_request(s, r)
                .await
                .expect("create_request failed"),
            "create_request({s}, {r}) must be false while the pair has a pending link"
        );
    }
    assert_eq!(
        get_link(store, "alice", "bob").await,
        Some(link("alice", "bob", LinkStatus::Pending)),
        "a refused request must not change the pending link"
    );
    assert!(
        store
            .transition_link("alice", "bob", LinkStatus::Pending, LinkStatus::Accepted)
            .await
            .expect("transition_link failed")
    );
    for (s, r) in [("alice", "bob"), ("bob", "alice")] {
        assert!(
            !store
                .create_request(s, r)
                .await
                .expect("create_request failed"),
            "create_request({s}, {r}) must be false between friends"
        );
    }
    assert_eq!(
        get_link(store, "bob", "alice").await,
        Some(link("alice", "bob", LinkStatus::Accepted)),
        "a refused request must not change the friendship"
    );
}

/// `transition_link` moves only the link in that direction, and only from the stated state.
pub async fn links_transition_is_conditional<X: Fixture>(fixture: X) {
    let store = fixture.store();
    create_users(store, &["alice", "bob", "carol"]).await;
    let transition = |s: &'static str, r: &'static str, from, to| async move {
        store
            .transition_link(s, r, from, to)
            .await
            .expect("transition_link failed")
    };
    use LinkStatus::{Accepted, Pending, Rejected};
    assert!(
        !transition("alice", "bob", Pending, Accepted).await,
        "transition_link without a link must be false"
    );
    assert_eq!(
        get_link(store, "alice", "bob").await,
        None,
        "and must create nothing"
    );
    assert!(
        store
            .create_request("alice", "bob")
            .await
            .expect("create_request failed")
    );
    assert!(
        !transition("bob", "alice", Pending, Accepted).await,
        "transition_link names the direction: bob -> alice is not alice -> bob"
    );
    assert!(
        !transition("alice", "bob", Rejected, Accepted).await,
        "transition_link from a state the link is not in must be false"
    );
    assert!(!transition("alice", "carol", Pending, Accepted).await);
    assert_eq!(
        get_link(store, "alice", "bob").await,
        Some(link("alice", "bob", Pending)),
        "failed transitions must change nothing"
    );
    assert!(transition("alice", "bob", Pending, Accepted).await);
    assert!(
        !transition("alice", "bob", Pending, Rejected).await,
        "once accepted, the link is no longer pending"
    );
    for (a, b) in [("alice", "bob"), ("bob", "alice")] {
        assert!(store.are_friends(a, b).await.expect("are_friends failed"));
    }
    assert!(
        !store
            .are_friends("alice", "carol")
            .await
            .expect("are_friends failed")
    );
    assert_eq!(
        get_link(store, "bob", "alice").await,
        Some(link("alice", "bob", Accepted))
    );
}

/// A rejected link becomes a pending request again when either side asks.
pub async fn links_rejected_can_be_asked_again<X: Fixture>(fixture: X) {
    let store = fixture.store();
    create_users(store, &["alice", "bob"]).await;
    use LinkStatus::{Pending, Rejected};
    assert!(
        store
            .create_request("alice", "bob")
            .await
            .expect("create_request failed")
    );
    assert!(
        store
            .transition_link("alice", "bob", Pending, Rejected)
            .await
            .expect("transition_link failed")
    );
    assert_eq!(
        get_link(store, "bob", "alice").await,
        Some(link("alice", "bob", Rejected))
    );
    assert!(
        !store
            .are_friends("alice", "bob")
            .await
            .expect("are_friends failed")
    );
    assert!(
        store
            .create_request("alice", "bob")
            .await
            .expect("create_request failed"),
        "the rejected sender may ask again"
    );
    assert_eq!(
        get_link(store, "alice", "bob").await,
        Some(link("alice", "bob", Pending))
    );
    assert!(
        store
            .transition_link("alice", "bob", Pending, Rejected)
            .await
            .expect("transition_link failed")
    );
    assert!(
        store
            .create_request("bob", "alice")
            .await
            .expect("create_request failed"),
        "the side that rejected may ask too"
    );
    assert_eq!(
        get_link(store, "alice", "bob").await,
        Some(link("bob", "alice", Pending)),
        "the re-request is a pending link from its sender, still the pair's only link"
    );
    let links = store.links_of("alice").await.expect("links_of failed");
    assert_eq!(
        links,
        vec![link("bob", "alice", Pending)],
        "a pair never has two links"
    );
}

/// `delete_link` removes only the link in that direction and state.
pub async fn links_delete_is_conditional<X: Fixture>(fixture: X) {
    let store = fixture.store();
    create_users(store, &["alice", "bob"]).await;
    use LinkStatus::{Accepted, Pending};
    let delete = |s: &'static str, r: &'static str, status| async move {
        store
            .delete_link(s, r, status)
            .await
            .expect("delete_link failed")
    };
    assert!(
        !delete("alice", "bob", Pending).await,
        "nothing to delete yet"
    );
    assert!(
        store
            .create_request("alice", "bob")
            .await
            .expect("create_request failed")
    );
    assert!(!delete("alice", "bob", Accepted).await, "wrong state");
    assert!(!delete("bob", "alice", Pending).await, "wrong direction");
    assert_eq!(
        get_link(store, "alice", "bob").await,
        Some(link("alice", "bob", Pending))
    );
    assert!(
        delete("alice", "bob", Pending).await,
        "withdrawing a request"
    );
    assert_eq!(get_link(store, "alice", "bob").await, None);
    assert!(!delete("alice", "bob", Pending).await, "already gone");
    assert!(
        store
            .links_of("alice")
            .await
            .expect("links_of failed")
            .is_empty()
    );

    assert!(
        store
            .create_request("bob", "alice")
            .await
            .expect("create_request failed"),
        "after a delete the pair may start over"
    );
    assert!(
        store
            .transition_link("bob", "alice", Pending, Accepted)
            .await
            .expect("transition_link failed")
    );
    assert!(
        delete("bob", "alice", Accepted).await,
        "ending a friendship"
    );
    assert!(
        !store
            .are_friends("alice", "bob")
            .await
            .expect("are_friends failed")
    );
    assert_eq!(get_link(store, "bob", "alice").await, None);
}

/// `links_of` lists every link with the user on either end, in any state, and no other.
pub async fn links_of_lists_every_link_of_a_user<X: Fixture>(fixture: X) {
    let store = fixture.store();
    create_users(store, &["alice", "bob", "carol", "dave", "erin"]).await;
    use LinkStatus::{Accepted, Pending, Rejected};
    for (s, r) in [
        ("alice", "bob"),
        ("carol", "alice"),
        ("alice", "dave"),
        ("bob", "carol"),
    ] {
        assert!(
            store
                .create_request(s, r)
                .await
                .expect("create_request failed")
        );
    }
    assert!(
        store
            .transition_link("carol", "alice", Pending, Accepted)
            .await
            .expect("transition_link failed")
    );
    assert!(
        store
            .transition_link("alice", "dave", Pending, Rejected)
            .await
            .expect("transition_link failed")
    );
    let of = |user: &'static str| async move {
        sorted_links(store.links_of(user).await.expect("links_of failed"))
    };
    assert_eq!(
        of("alice").await,
        vec![
            link("alice", "bob", Pending),
            link("alice", "dave", Rejected),
            link("carol", "alice", Accepted),
        ]
    );
    assert_eq!(
        of("carol").await,
        vec![
            link("bob", "carol", Pending),
            link("carol", "alice", Accepted)
        ]
    );
    assert_eq!(of("dave").await, vec![link("alice", "dave", Rejected)]);
    assert!(of("erin").await.is_empty());
}
