//! How a value in a distribution spec is written: durations with units ([`Seconds`])
//! or plain counts ([`Count`]).

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::units::Seconds;

/// How a value in a distribution spec is written: seconds (durations with units) or plain counts.
pub trait DistValue:
    for<'de> Deserialize<'de> + Serialize + Clone + Copy + fmt::Debug + fmt::Display
{
    /// The value as a plain number (seconds for durations).
    fn value(self) -> f64;
}

impl DistValue for Seconds {
    fn value(self) -> f64 {
        self.0
    }
}

/// A plain number (tokens, calls, tokens per second).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Count(pub f64);

impl DistValue for Count {
    fn value(self) -> f64 {
        self.0
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Count {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            serializer.serialize_i64(v as i64)
        } else {
            serializer.serialize_f64(v)
        }
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CountVisitor;
        impl Visitor<'_> for CountVisitor {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a plain number, e.g. 400")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                Ok(Count(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
                Ok(Count(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Count, E> {
                Ok(Count(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Count, E> {
                Err(E::custom(format!(
                    "expected a plain number without a unit here, e.g. 400 (got \"{v}\")"
                )))
            }
        }
        deserializer.deserialize_any(CountVisitor)
    }
}
