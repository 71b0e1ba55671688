//! Typed ids. One rule for every id ([`check_id`]: 1–64 of `A–Z a–z 0–9 - _ . : @`), one
//! validator; the types keep a record id from being passed where a user id belongs.
//!
//! An id from outside (a device, a browser, a file) is made with `parse`, which checks it. The
//! `From<&str>`/`From<String>` conversions are for values already checked or made by the system
//! (a fresh UUID, a test literal); a record holding an id is checked again by `validate`.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::record::check_id;

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident, $field:literal) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Checks `s` against the id rule; the error names the field, never the value.
            pub fn parse(s: impl Into<String>) -> Result<Self> {
                let s = s.into();
                check_id($field, &s)?;
                Ok($name(s))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_string(self) -> String {
                self.0
            }
        }
        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_owned())
            }
        }
        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }
        impl From<&String> for $name {
            fn from(s: &String) -> Self {
                $name(s.clone())
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
        impl PartialEq<str> for $name {
            fn eq(&self, o: &str) -> bool {
                self.0 == o
            }
        }
        impl PartialEq<&str> for $name {
            fn eq(&self, o: &&str) -> bool {
                self.0 == *o
            }
        }
        impl PartialEq<String> for $name {
            fn eq(&self, o: &String) -> bool {
                &self.0 == o
            }
        }
        impl PartialEq<$name> for str {
            fn eq(&self, o: &$name) -> bool {
                self == o.0
            }
        }
        impl PartialEq<$name> for &str {
            fn eq(&self, o: &$name) -> bool {
                *self == o.0
            }
        }
        impl PartialEq<$name> for String {
            fn eq(&self, o: &$name) -> bool {
                *self == o.0
            }
        }
    };
}

id_type!(
    /// The id of a record (a UUIDv7 for records made by Gridwork).
    RecordId, "id"
);
id_type!(
    /// The id of a user (from the server's directory).
    UserId, "user_id"
);
id_type!(
    /// The id of a grid (a unit of the organisation, e.g. `furong-01`).
    GridId, "grid"
);

impl RecordId {
    /// A new, time-ordered record id.
    pub fn new_v7() -> RecordId {
        RecordId(uuid::Uuid::now_v7().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_applies_the_one_id_rule_and_names_the_field() {
        assert_eq!(GridId::parse("furong-01").unwrap(), "furong-01");
        let e = UserId::parse("has space").unwrap_err().to_string();
        assert!(e.contains("user_id") && !e.contains("has space"), "{e}");
        assert!(RecordId::parse("").is_err());
        assert!(RecordId::parse("x".repeat(65)).is_err());
        assert!(RecordId::parse(RecordId::new_v7().into_string()).is_ok());
    }

    #[test]
    fn ids_serialize_as_plain_strings() {
        let id = GridId::from("g1");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"g1\"");
        let back: GridId = serde_json::from_str("\"g1\"").unwrap();
        assert_eq!(back, id);
    }
}
