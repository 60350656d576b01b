//! JSON Schemas (draft 2020-12) of the socket events, derived from the protocol types.
//!
//! The repository publishes them as `docs/schema/client-events.json` and
//! `docs/schema/server-events.json`; a test fails when those files differ from what these
//! functions make, and the protocol suite checks every frame it sends and receives against them.
//!
//! The two directions describe different things. [`client_events`] is what the server
//! *accepts*: optional fields may be left out, and members it does not know are ignored.
//! [`server_events`] is what the server *sends*, exactly: every member it always writes is
//! required (`friendship_activated.publicKey` is there as `null` when there is no key), and a
//! member the schema does not name is an error.

use std::borrow::Cow;

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value};

use super::types::PublicKey;
use super::{ClientEvent, ServerEvent};

/// The schema of one client → server text frame: one of the [`ClientEvent`]s, tagged by `type`.
pub fn client_events() -> Schema {
    SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<ClientEvent>()
}

/// The schema of one server → client text frame: one of the [`ServerEvent`]s, tagged by `type`.
pub fn server_events() -> Schema {
    let mut schema = SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<ServerEvent>();
    let definitions = schema.get("$defs").cloned().unwrap_or_default();
    if let Some(root) = schema.as_object_mut() {
        exact(root, &definitions, false);
    }
    schema
}

/// Makes a schema of what the server writes exact, in place:
///
/// - every object is closed (`unevaluatedProperties: false`): a member the schema does not name
///   is an error. A definition itself stays open and each use of it is closed instead, because
///   a variant may add members to a referenced record (`receive_message` is a stored message
///   plus its `type`), and only a keyword beside the reference sees both.
/// - an optional member is never `null`: the server leaves out what it does not have (serde's
///   `skip_serializing_if`) and writes `null` only in a member it always writes.
fn exact(schema: &mut Map<String, Value>, definitions: &Value, is_definition: bool) {
    let required: Vec<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        for (name, member) in properties.iter_mut() {
            if !required.contains(name) {
                never_null(member);
            }
        }
    }
    let references_object = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|target| target.strip_prefix("#/$defs/"))
        .is_some_and(|name| definitions[name]["type"] == "object");
    if !is_definition && (schema.contains_key("properties") || references_object) {
        schema
            .entry("unevaluatedProperties")
            .or_insert(Value::Bool(false));
    }
    for (keyword, value) in schema.iter_mut() {
        match (keyword.as_str(), value) {
            ("$defs", Value::Object(named)) => {
                for definition in named.values_mut().filter_map(Value::as_object_mut) {
                    exact(definition, definitions, true);
                }
            }
            (_, Value::Object(inner)) => exact(inner, definitions, false),
            (_, Value::Array(items)) => {
                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                    exact(item, definitions, false);
                }
            }
            _ => {}
        }
    }
}

/// Takes `null` out of a member's schema: `"type": [T, "null"]` becomes `"type": T`, and
/// `"anyOf": [S, {"type": "null"}]` becomes S.
fn never_null(member: &mut Value) {
    let Some(member) = member.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(types)) = member.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            member.insert("type".into(), only);
        }
    }
    if let Some(Value::Array(choices)) = member.get_mut("anyOf") {
        choices.retain(|choice| choice.get("type").is_none_or(|t| t != "null"));
        if let [Value::Object(only)] = choices.as_slice() {
            let only = only.clone();
            member.remove("anyOf");
            member.extend(only);
        }
    }
}

impl JsonSchema for PublicKey {
    fn schema_name() -> Cow<'static, str> {
        "PublicKey".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let coordinate = json_schema!({"type": "string", "minLength": 1, "maxLength": 128});
        let mut schema = json_schema!({
            "description": "An ECDH P-256 public key as a JWK. Never with a private part `d`.",
            "type": "object",
            "properties": {
                "kty": {"const": "EC"},
                "crv": {"const": "P-256"},
                "x": coordinate.clone(),
                "y": coordinate,
            },
            "required": ["kty", "crv", "x", "y"],
        });
        if generator.contract().is_deserialize() {
            // What a browser's key export adds (`ext`, `key_ops`) is accepted and dropped; a
            // private part is refused.
            schema.insert("not".into(), serde_json::json!({"required": ["d"]}));
        }
        schema
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde_json::{Value, json};

    use super::*;

    /// Compares `schema` with the published file `docs/schema/<name>`, or writes the file when
    /// `NEXCHAT_WRITE_CONTRACTS=1`.
    fn published(name: &str, schema: &Schema) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../docs/schema")
            .join(name);
        let generated = serde_json::to_string_pretty(schema).expect("a schema is JSON") + "\n";
        if std::env::var_os("NEXCHAT_WRITE_CONTRACTS").is_some_and(|v| v == "1") {
            std::fs::create_dir_all(path.parent().expect("docs/schema")).expect("mkdir");
            std::fs::write(&path, &generated).expect("write the schema");
            return;
        }
        // Compared as JSON values, not text: the order of an object's members follows the
        // build's serde_json features (`preserve_order`, which some dependencies turn on), and
        // means nothing in a schema.
        let published: Option<Value> = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok());
        assert!(
            published.as_ref() == Some(schema.as_value()),
            "{} differs from the schema the protocol types make; regenerate it with\n  \
             NEXCHAT_WRITE_CONTRACTS=1 cargo test -p nexchat-core --all-features --lib schema",
            path.display()
        );
    }

    #[test]
    fn published_schemas_are_the_generated_ones() {
        published("client-events.json", &client_events());
        published("server-events.json", &server_events());
    }

    fn validator(schema: Schema) -> jsonschema::Validator {
        jsonschema::validator_for(schema.as_value()).expect("a valid JSON Schema")
    }

    fn key() -> Value {
        json!({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "BBBB"})
    }

    #[test]
    fn client_schema_takes_what_the_server_decodes() {
        let client = validator(client_events());
        let accepted = [
            json!({"type": "typing", "to": "bob", "isTyping": true}),
            json!({"type": "message_seen", "to": "bob"}),
            json!({"type": "fetch_history", "withUser": "bob", "limit": 10}),
            json!({"type": "call_offer", "to": "bob", "offer": {"sdp": "v=0"}, "withVideo": false}),
            // A browser's key export carries more than the four members; they are dropped.
            json!({"type": "join", "publicKey": {"kty": "EC", "crv": "P-256", "x": "A",
                    "y": "B", "ext": true, "key_ops": []}}),
        ];
        for frame in accepted {
            assert!(client.is_valid(&frame), "refused {frame}");
            assert!(ClientEvent::decode(&frame.to_string()).is_ok(), "{frame}");
        }
        let refused = [
            json!({"type": "typing", "to": "bob", "is_typing": true}),
            json!({"type": "Typing", "to": "bob", "isTyping": true}),
            json!({"type": "no_such_event"}),
            json!({"to": "bob", "isTyping": true}),
            json!({"type": "message_seen", "to": "bob", "ids": "not a list"}),
            json!({"type": "join", "publicKey": {"kty": "EC", "crv": "P-256", "x": "A",
                    "y": "B", "d": "private"}}),
            json!({"type": "join", "publicKey": {"kty": "RSA", "crv": "P-256", "x": "A", "y": "B"}}),
        ];
        for frame in refused {
            assert!(!client.is_valid(&frame), "accepted {frame}");
            assert!(ClientEvent::decode(&frame.to_string()).is_err(), "{frame}");
        }
    }

    #[test]
    fn server_schema_is_exactly_what_the_server_writes() {
        let server = validator(server_events());
        let events = [
            ServerEvent::SyncDone {},
            ServerEvent::FriendshipActivated {
                with: "bob".into(),
                online: false,
                public_key: None,
            },
            ServerEvent::Error {
                code: super::super::ErrorCode::NotFound,
                message: "no such call".into(),
                reference: None,
            },
        ];
        for event in events {
            let frame: Value = serde_json::from_str(&event.encode()).expect("JSON");
            assert!(server.is_valid(&frame), "refused {frame}");
        }
        let refused = [
            // A member the protocol does not name.
            json!({"type": "presence", "username": "bob", "online": true, "extra": 1}),
            json!({"type": "receive_message", "id": "1", "sender": "a", "receiver": "b",
                   "ciphertext": "AA==", "iv": "AA==", "timestamp": 1, "status": "sent",
                   "extra": 1}),
            // A member the server always writes, `null` when there is nothing.
            json!({"type": "friendship_activated", "with": "bob", "online": false}),
            json!({"type": "key_changed", "username": "bob",
                   "publicKey": {"kty": "EC", "crv": "P-256", "x": "A", "y": "B", "d": "C"}}),
            json!({"type": "error", "code": "no_such_code", "message": "m"}),
            // An optional member is left out, never `null`.
            json!({"type": "error", "code": "not_found", "message": "m", "ref": null}),
        ];
        for frame in refused {
            assert!(!server.is_valid(&frame), "accepted {frame}");
        }
        let accepted = [
            json!({"type": "friendship_activated", "with": "bob", "online": true,
                   "publicKey": key()}),
            // A record's members and the variant's tag, together.
            json!({"type": "receive_message", "id": "1", "sender": "a", "receiver": "b",
                   "ciphertext": "AA==", "iv": "AA==", "timestamp": 1, "status": "sent"}),
        ];
        for frame in accepted {
            assert!(server.is_valid(&frame), "refused {frame}");
        }
    }
}
