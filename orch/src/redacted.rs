//! Keeping sensitive values out of the journal and the logs.

use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// What a [`Redacted`] value is journaled as.
const MARK: &str = "$orch:redacted";

/// A value that is never written to the journal, nor printed by `Debug`: a card number in a
/// payload, an access token in an output.
///
/// It serializes as the string `"$orch:redacted"`, whatever it holds, so a payload or an output
/// holding one is journaled with that string in its place. In a durable orchestration, an
/// output holding one cannot be read back: on resume, its service runs again (make it safe to
/// repeat with [`Context::idempotency_key`](crate::Context::idempotency_key)).
///
/// ```
/// use orch::Redacted;
///
/// #[derive(serde::Serialize)]
/// struct Payment { amount: u32, card: Redacted<String> }
///
/// let payment = Payment { amount: 40, card: Redacted("4242 4242 4242 4242".into()) };
/// assert_eq!(
///     serde_json::to_string(&payment).unwrap(),
///     r#"{"amount":40,"card":"$orch:redacted"}"#
/// );
/// assert_eq!(format!("{:?}", payment.card), "Redacted");
/// assert_eq!(payment.card.len(), 19);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Redacted<T>(pub T);

impl<T> Redacted<T> {
    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Redacted<T> {
    fn from(value: T) -> Self {
        Redacted(value)
    }
}

impl<T> Deref for Redacted<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Redacted<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Redacted")
    }
}

impl<T> Serialize for Redacted<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(MARK)
    }
}

/// Always fails: the value was never journaled. It exists so that an output holding a
/// `Redacted` can be part of a durable orchestration, whose outputs must be deserializable;
/// resuming never calls it (see [`Redacted`]).
impl<'de, T> Deserialize<'de> for Redacted<T> {
    fn deserialize<D: Deserializer<'de>>(_deserializer: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom(
            "a redacted value is not in the journal",
        ))
    }
}

/// Whether a journaled value holds a [`Redacted`] one anywhere.
pub(crate) fn is_redacted(value: &Value) -> bool {
    match value {
        Value::String(text) => text == MARK,
        Value::Array(items) => items.iter().any(is_redacted),
        Value::Object(fields) => fields.values().any(is_redacted),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redacted_value_is_found_at_any_depth() {
        let value = serde_json::json!({"a": [1, {"b": MARK}]});
        assert!(is_redacted(&value));
        assert!(!is_redacted(&serde_json::json!({"a": [1, {"b": "card"}]})));
        assert!(serde_json::from_value::<Redacted<u32>>(Value::String(MARK.into())).is_err());
    }
}
