//! The in-memory store against the storage conformance suite, one test per check, the same
//! suite the SQLite and MongoDB backends run in `nexchat-store/tests`.

use std::sync::Arc;

use nexchat_core::store::memory::MemoryStore;

async fn fresh() -> MemoryStore {
    MemoryStore::new()
}

mod conformance {
    nexchat_core::conformance_tests!(super::fresh());
}

/// The same suite through `Arc<MemoryStore>`: an application's shared handle is a store too,
/// and forwards every method (a forwarding slip would fail a check here).
mod shared_handle {
    nexchat_core::conformance_tests!(async { std::sync::Arc::new(super::fresh().await) });
}

/// A store the application keeps a handle to sees what the chat wrote through its own.
#[tokio::test]
async fn the_applications_handle_sees_the_chats_writes() {
    use nexchat_core::protocol::PublicKey;
    use nexchat_core::protocol::rest::RegisterRequest;
    use nexchat_core::store::UserStore;
    use nexchat_core::transport::ClientInfo;
    use nexchat_core::{Chat, Config};

    let store = Arc::new(MemoryStore::new());
    let mut config =
        Config::new("a test secret of at least thirty-two bytes").expect("a long enough secret");
    config.bcrypt_cost = 4;
    let chat = Chat::builder(config, Arc::clone(&store))
        .build()
        .await
        .expect("chat builds");
    let key = PublicKey::from_json(r#"{"kty":"EC","crv":"P-256","x":"eA","y":"eQ"}"#)
        .expect("a public key");
    let request = RegisterRequest {
        username: "Alice".into(),
        password: "correct horse".into(),
        public_key: key,
        encrypted_private_key: serde_json::json!({"wrapped": true}),
        kdf: None,
    };
    chat.register(request, &ClientInfo::default())
        .await
        .expect("register");
    let found = store.find_user("alice").await.expect("find_user");
    assert_eq!(found.map(|u| u.username), Some("Alice".to_owned()));
}

/// The blob store in memory, through the blob checks.
mod blobs {
    nexchat_core::blob_conformance_tests!(async {
        nexchat_core::blobs::memory::MemoryBlobStore::new()
    });
}
