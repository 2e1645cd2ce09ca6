//! Compile-time choices on concrete types, by autoref specialization: what the journal can record
//! of a type depends on which traits it implements, and generated code (where every type is
//! concrete) asks a `Probe` of that type. The method found first, with the most `&`s, wins.

use std::fmt::{Debug, Display};
use std::marker::PhantomData;

use serde::Serialize;
use serde_json::Value;

use crate::retry::Retryable;

/// Asks what type `T` supports; see the module docs.
pub struct Probe<T: ?Sized>(PhantomData<fn(&T)>);

impl<T: ?Sized> Probe<T> {
    /// A probe.
    pub const fn new() -> Self {
        Probe(PhantomData)
    }
}

impl<T: ?Sized> Default for Probe<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// `Serialize` types are recorded as JSON.
pub trait JsonSerialize<T: ?Sized> {
    /// `value` as JSON.
    fn json(&self, value: &T) -> Option<Value>;
}
impl<T: Serialize + ?Sized> JsonSerialize<T> for &Probe<T> {
    fn json(&self, value: &T) -> Option<Value> {
        serde_json::to_value(value).ok()
    }
}
/// Other types are not recorded.
pub trait JsonNone<T: ?Sized> {
    /// Nothing.
    fn json(&self, value: &T) -> Option<Value>;
}
impl<T: ?Sized> JsonNone<T> for Probe<T> {
    fn json(&self, _: &T) -> Option<Value> {
        None
    }
}

/// `Display` types describe themselves with it.
pub trait DescribeDisplay<T: ?Sized> {
    /// `value` as text.
    fn describe(&self, value: &T) -> String;
}
impl<T: Display + ?Sized> DescribeDisplay<T> for &&Probe<T> {
    fn describe(&self, value: &T) -> String {
        value.to_string()
    }
}
/// Else `Debug` types with that.
pub trait DescribeDebug<T: ?Sized> {
    /// `value` as text.
    fn describe(&self, value: &T) -> String;
}
impl<T: Debug + ?Sized> DescribeDebug<T> for &Probe<T> {
    fn describe(&self, value: &T) -> String {
        format!("{value:?}")
    }
}
/// Else by their type's name.
pub trait DescribeType<T: ?Sized> {
    /// `value` as text.
    fn describe(&self, value: &T) -> String;
}
impl<T: ?Sized> DescribeType<T> for Probe<T> {
    fn describe(&self, _: &T) -> String {
        format!("a value of type `{}`", std::any::type_name::<T>())
    }
}

/// `Debug` types format with it.
pub trait FmtDebug<T: ?Sized> {
    /// Formats `value`.
    fn fmt_debug(&self, value: &T, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result;
}
impl<T: Debug + ?Sized> FmtDebug<T> for &Probe<T> {
    fn fmt_debug(&self, value: &T, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        value.fmt(f)
    }
}
/// Others print their type's name.
pub trait FmtType<T: ?Sized> {
    /// Formats `value`.
    fn fmt_debug(&self, value: &T, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result;
}
impl<T: ?Sized> FmtType<T> for Probe<T> {
    fn fmt_debug(&self, _: &T, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{}>", std::any::type_name::<T>())
    }
}

/// Errors are their own `source`.
pub trait SourceError<T: ?Sized> {
    /// `value` as an error.
    fn source<'a>(&self, value: &'a T) -> Option<&'a (dyn std::error::Error + 'static)>;
}
impl<T: std::error::Error + 'static> SourceError<T> for &Probe<T> {
    fn source<'a>(&self, value: &'a T) -> Option<&'a (dyn std::error::Error + 'static)> {
        Some(value)
    }
}
/// Other types have no source.
pub trait SourceNone<T: ?Sized> {
    /// Nothing.
    fn source<'a>(&self, value: &'a T) -> Option<&'a (dyn std::error::Error + 'static)>;
}
impl<T: ?Sized> SourceNone<T> for Probe<T> {
    fn source<'a>(&self, _: &'a T) -> Option<&'a (dyn std::error::Error + 'static)> {
        None
    }
}

/// Errors that implement [`Retryable`] say which are permanent.
pub trait PermanentByTrait<T: ?Sized> {
    /// Whether `error` is permanent.
    fn is_permanent(&self, error: &T) -> bool;
    /// The wait `error` asks for.
    fn retry_after(&self, error: &T) -> Option<std::time::Duration>;
}
impl<T: Retryable + ?Sized> PermanentByTrait<T> for &Probe<T> {
    fn is_permanent(&self, error: &T) -> bool {
        error.is_permanent()
    }
    fn retry_after(&self, error: &T) -> Option<std::time::Duration> {
        error.retry_after()
    }
}
/// Others are retried on every error.
pub trait PermanentNever<T: ?Sized> {
    /// `false`.
    fn is_permanent(&self, error: &T) -> bool;
    /// `None`.
    fn retry_after(&self, error: &T) -> Option<std::time::Duration>;
}
impl<T: ?Sized> PermanentNever<T> for Probe<T> {
    fn is_permanent(&self, _: &T) -> bool {
        false
    }
    fn retry_after(&self, _: &T) -> Option<std::time::Duration> {
        None
    }
}

#[cfg(test)]
#[allow(clippy::needless_borrow)] // The borrows are the point: see the module docs.
mod tests {
    use super::*;

    struct Opaque;
    #[derive(Debug)]
    struct OnlyDebug;
    #[derive(Debug, Serialize)]
    struct Both(u8);
    impl Display for Both {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "both {}", self.0)
        }
    }
    impl std::error::Error for Both {}
    impl Retryable for Both {
        fn is_permanent(&self) -> bool {
            self.0 == 0
        }
    }

    #[test]
    fn the_most_capable_implementation_wins() {
        assert_eq!((&&&Probe::<Both>::new()).describe(&Both(7)), "both 7");
        assert_eq!(
            (&&&Probe::<OnlyDebug>::new()).describe(&OnlyDebug),
            "OnlyDebug"
        );
        assert!(
            (&&&Probe::<Opaque>::new())
                .describe(&Opaque)
                .contains("Opaque")
        );

        assert_eq!(
            (&&Probe::<Both>::new()).json(&Both(7)),
            Some(serde_json::json!(7))
        );
        assert_eq!((&&Probe::<Opaque>::new()).json(&Opaque), None);

        assert!((&&Probe::<Both>::new()).source(&Both(1)).is_some());
        assert!((&&Probe::<OnlyDebug>::new()).source(&OnlyDebug).is_none());

        assert!((&&Probe::<Both>::new()).is_permanent(&Both(0)));
        assert!(!(&&Probe::<Both>::new()).is_permanent(&Both(1)));
        assert!(!(&&Probe::<Opaque>::new()).is_permanent(&Opaque));
    }
}
