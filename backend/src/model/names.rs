//! The small enums that are stored, sent and shown by name: the list type and format asked for, a
//! list's status, a callback's delivery status, the format a spec was submitted in and the
//! operation a submission asks for. Each name is written once, in [`named!`]; `as_str`,
//! `FromStr`, `Display` and serde all read it from there.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A name that is not one of an enum's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{given}\" is not a {what} (expected {expected})")]
pub struct UnknownName {
    /// What kind of name was expected.
    pub what: &'static str,
    /// The name given.
    pub given: String,
    /// The names there are.
    pub expected: String,
}

/// Declares an enum whose variants are known by one lower-case name each.
macro_rules! named {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value's name, as stored and sent.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, UnknownName> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| UnknownName {
                    what: $what,
                    given: s.to_owned(),
                    expected: $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "),
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some($name::ALL.iter().map(|v| v.as_str())))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<str>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

named! {
    /// The kind of list document to write.
    #[derive(Default)]
    ListType, "list type" {
        /// Docker manifest list (schema 2).
        Docker = "docker",
        /// OCI image index.
        Oci = "oci",
        /// OCI when any child is OCI or any annotation is asked for, else Docker.
        #[default]
        Auto = "auto",
    }
}

impl clap::ValueEnum for ListType {
    fn value_variants<'a>() -> &'a [Self] {
        Self::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let help = match self {
            Self::Docker => "Docker manifest list",
            Self::Oci => "OCI image index",
            Self::Auto => "OCI when a child is OCI or annotations are given, else Docker",
        };
        Some(clap::builder::PossibleValue::new(self.as_str()).help(help))
    }
}

named! {
    /// How the list document is written: manifold's compact JSON, or byte for byte as
    /// manifest-tool v2 writes it (indented as Go's `json.MarshalIndent`, its field order, its
    /// default type), so that a list keeps the digest manifest-tool gave it.
    #[derive(Default)]
    ListFormat, "list format" {
        /// Compact JSON, entries' fields in the OCI order, annotations sorted.
        #[default]
        Manifold = "manifold",
        /// manifest-tool's bytes: indented by two spaces, `<`, `>`, `&` escaped as Go does, a
        /// Docker list unless `oci` is asked for.
        ManifestTool = "manifest-tool",
    }
}

impl clap::ValueEnum for ListFormat {
    fn value_variants<'a>() -> &'a [Self] {
        Self::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let help = match self {
            Self::Manifold => "compact JSON",
            Self::ManifestTool => {
                "the bytes manifest-tool v2 pushes (its digest): Docker unless --type oci or annotations"
            }
        };
        Some(clap::builder::PossibleValue::new(self.as_str()).help(help))
    }
}

named! {
    /// Where a list is in its life.
    ListStatus, "list status" {
        /// Waiting for a worker (or for its next attempt).
        Queued = "queued",
        /// A worker is pushing it.
        Running = "running",
        /// Part of a staged release: its children are in the target repository; the tag moves
        /// when the release has every platform it expects.
        Staged = "staged",
        /// Pushed; the digest is recorded.
        Succeeded = "succeeded",
        /// Failed for good; the error is recorded.
        Failed = "failed",
        /// Canceled before it ran.
        Canceled = "canceled",
        /// Not pushed: a newer list for the same target landed first.
        Superseded = "superseded",
    }
}

impl ListStatus {
    /// Whether the list will not change any more by itself.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Queued | Self::Running | Self::Staged)
    }

    /// Whether `retry` may queue the list again (a superseded list then becomes the newest).
    pub fn can_retry(self) -> bool {
        matches!(self, Self::Failed | Self::Canceled | Self::Superseded)
    }
}

named! {
    /// What the watch last found a pushed list to be in its registry.
    DriftStatus, "drift status" {
        /// The tag holds the list, its children are there, its sources have not moved.
        InSync = "in_sync",
        /// Something changed: the reasons say what.
        Drifted = "drifted",
        /// The registry could not be asked (the error says why).
        Unknown = "unknown",
    }
}

named! {
    /// How the delivery of a list's callback goes.
    CallbackStatus, "callback status" {
        /// Queued, not tried yet.
        Pending = "pending",
        /// Tried and failed; it will be tried again.
        Retrying = "retrying",
        /// The receiver answered 2xx.
        Delivered = "delivered",
        /// Given up on.
        Failed = "failed",
    }
}

named! {
    /// The format a spec was submitted in.
    SpecFormat, "spec format" {
        /// JSON.
        Json = "json",
        /// manifest-tool's YAML.
        Yaml = "yaml",
    }
}

named! {
    /// What a submission does to its target: push a list (replacing what the tag holds), append
    /// entries to the list it holds, remove entries from it, or copy another reference there.
    #[derive(Default)]
    Operation, "operation" {
        /// Push the spec's list; the tag then holds exactly it.
        #[default]
        Push = "push",
        /// Merge the spec's entries into the list the tag holds.
        Append = "append",
        /// Push the list the tag holds without some of its entries.
        Remove = "remove",
        /// Copy a list or image from another reference, byte for byte.
        Copy = "copy",
        /// Bring one job's platforms of a staged release into the target repository; the tag
        /// moves with the release.
        Stage = "stage",
        /// Push a staged release's list once it has every platform it expects.
        Release = "release",
        /// Make the target hold an earlier list's digest again.
        Rollback = "rollback",
        /// Make a watched list whole again: its missing children present, the same document
        /// under its tags.
        Repair = "repair",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_as_its_value() {
        for s in ListStatus::ALL {
            assert_eq!(s.as_str().parse::<ListStatus>(), Ok(*s));
        }
        for t in ListType::ALL {
            assert_eq!(serde_json::to_string(t).unwrap(), format!("\"{t}\""));
        }
        assert_eq!("yaml".parse::<SpecFormat>(), Ok(SpecFormat::Yaml));
        assert_eq!("copy".parse::<Operation>(), Ok(Operation::Copy));
        assert_eq!(
            "manifest-tool".parse::<ListFormat>(),
            Ok(ListFormat::ManifestTool)
        );
    }

    #[test]
    fn an_unknown_name_says_which_names_there_are() {
        let err = "done".parse::<ListStatus>().unwrap_err().to_string();
        assert_eq!(
            err,
            "\"done\" is not a list status (expected queued, running, staged, succeeded, failed, canceled, superseded)"
        );
        let json = serde_json::from_str::<ListType>("\"zip\"").unwrap_err();
        assert!(json.to_string().contains("docker, oci, auto"), "{json}");
    }
}
