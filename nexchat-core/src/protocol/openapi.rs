//! The OpenAPI schema of the one REST type whose JSON is written by hand.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use super::types::PublicKey;

impl PartialSchema for PublicKey {
    fn schema() -> RefOr<Schema> {
        let coordinate = || {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(128))
        };
        let constant = |value: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([value.to_owned()]))
        };
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "An ECDH P-256 public key as a JWK. Members beyond these four are dropped; a \
                 key with a private part `d` is refused with 400.",
            ))
            .property("kty", constant("EC"))
            .property("crv", constant("P-256"))
            .property("x", coordinate())
            .property("y", coordinate())
            .required("kty")
            .required("crv")
            .required("x")
            .required("y")
            .into()
    }
}

impl ToSchema for PublicKey {
    fn name() -> Cow<'static, str> {
        "PublicKey".into()
    }
}
