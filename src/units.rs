//! Quantities with explicit units, as written in YAML model files.
//!
//! Every physical quantity in a model file carries its unit in the text, so a
//! reader never has to guess whether `3` meant seconds or milliseconds:
//!
//! | Type         | Stored as                 | Accepted forms                                                  |
//! |--------------|---------------------------|-----------------------------------------------------------------|
//! | [`Seconds`]  | seconds (`f64`)           | `"250ms"`, `"1.5s"`, `"5m"`, `"1h"`, `"2m 30s"`, `"0"`          |
//! | [`Fraction`] | share in `[0, 1]` (`f64`) | `"70%"`, `"0.5%"`, or a bare number `0.7`                       |
//! | [`Bytes`]    | bytes (`u64`)             | `"2GiB"`, `"512MiB"`, `"50MB"`, `"1.5GiB"`, `"100B"`            |
//! | [`Price`]    | US dollars per one unit   | `"$0.10/Mtok"`, `"$0.03/100k"`, `"$0.000024/vCPU-s"`            |
//! | [`PerSecond`]| events per second (`f64`) | `2.5`, `"2/s"`, `"120/min"`, `"3/h"`, `"50/day"`, `"50/60"`      |
//!
//! Duration units are `ns`, `us` (or `µs`), `ms`, `s`, `m`/`min`, `h` and `d`;
//! compound forms such as `"2m 30s"` or `"1h30m"` go through `humantime`.
//! Size units `KB`/`MB`/`GB`/`TB` are decimal (powers of 1000) and
//! `KiB`/`MiB`/`GiB`/`TiB` are binary (powers of 1024).
//! A price is `$<amount>/<scale><unit words>`: the scale is an optional number
//! with an optional `k` (thousand) or `M` (million) suffix, and the words after it
//! are a free label, so `"$0.10/Mtok"` is 0.10 dollars per million tokens,
//! stored as `1e-7` dollars per token. A `k`/`M` directly followed by `iB`
//! (as in `MiB`) is part of the label, not a scale.
//!
//! A rate is a count per unit of time: `"120/min"` is 2 per second. After the `/` comes a
//! duration (`s`, `min`, `h`, `day`, or `10s`, `5m`, with the number 1 implied when only the
//! unit is written) or a bare number of seconds, so `"50/60"` is 50 per 60 s. A bare number is
//! already per second and is stored exactly as written.
//!
//! Bare numbers are rejected wherever they would be ambiguous (durations other
//! than `0`, sizes, prices). Each type serializes back to a canonical string
//! that parses to exactly the same value.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

const DURATION_EXAMPLE: &str = "e.g. \"250ms\" or \"1.5s\"";
const SIZE_EXAMPLE: &str = "e.g. \"512MiB\"";
const PRICE_EXAMPLE: &str = "e.g. \"$0.10/Mtok\"";
/// The forms a rate may take, for error messages.
pub const RATE_FORMS: &str = "a rate is a number per second (2.5), a count per unit of time \
                              (\"2/s\", \"120/min\", \"3/h\", \"50/day\") or a count per \
                              number of seconds (\"50/60\" is 50 per 60 s)";

/// A duration in seconds, written with a unit (`"250ms"`, `"1.5s"`, `"2m 30s"`).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Seconds(pub f64);

/// A share in `[0, 1]`, written as a percentage (`"70%"`) or a bare number (`0.7`).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Fraction(pub f64);

/// An amount of memory in bytes, written with a unit (`"512MiB"`, `"2GB"`).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Bytes(pub u64);

/// A price in US dollars per single unit, written like `"$0.10/Mtok"`.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Price(pub f64);

/// A rate in events per second, written as a bare number (`2.5`) or with its unit of time
/// (`"2/s"`, `"120/min"`, `"50/60"`). Only read: the experiment keeps the `f64` it holds.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct PerSecond(pub f64);

impl Bytes {
    /// The size in gibibytes (2^30 bytes).
    pub fn gib(&self) -> f64 {
        self.0 as f64 / (1u64 << 30) as f64
    }

    /// The size in mebibytes (2^20 bytes).
    pub fn mib(&self) -> f64 {
        self.0 as f64 / (1u64 << 20) as f64
    }
}

impl Price {
    /// The price of one million units, in US dollars.
    pub fn per_million(&self) -> f64 {
        self.0 * 1e6
    }
}

/// Splits `s` into its leading run of digits and dots and the rest.
fn split_number(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    s.split_at(end)
}

/// Formats `x` with at most nine decimals, without trailing zeros.
fn short_num(x: f64) -> String {
    let s = format!("{x:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// Parses a duration such as `"250ms"`, `"1.5s"`, `"5m"` or `"2m 30s"` into seconds.
///
/// A bare `"0"` is accepted; any other number without a unit is an error.
pub fn parse_duration(s: &str) -> Result<f64, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(format!("empty duration; write one {DURATION_EXAMPLE}"));
    }
    if t.starts_with('-') {
        return Err(format!("a duration cannot be negative (got \"{t}\")"));
    }
    let (num, unit) = split_number(t);
    if let Ok(n) = num.parse::<f64>() {
        let unit = unit.trim_start();
        if unit.is_empty() {
            return if n == 0.0 {
                Ok(0.0)
            } else {
                Err(format!(
                    "a duration needs a unit, {DURATION_EXAMPLE} (got \"{t}\")"
                ))
            };
        }
        let secs = match unit {
            "ns" => Some(n / 1e9),
            "us" | "µs" => Some(n / 1e6),
            "ms" => Some(n / 1e3),
            "s" | "sec" | "secs" => Some(n),
            "m" | "min" | "mins" => Some(n * 60.0),
            "h" | "hr" | "hrs" => Some(n * 3600.0),
            "d" => Some(n * 86400.0),
            _ => None,
        };
        if let Some(v) = secs {
            return if v.is_finite() {
                Ok(v)
            } else {
                Err(format!("duration \"{t}\" is too large"))
            };
        }
    }
    humantime::parse_duration(t)
        .map(|d| d.as_secs_f64())
        .map_err(|e| {
            format!(
                "invalid duration \"{t}\" ({e}); write one e.g. \"250ms\", \"1.5s\" or \"2m 30s\""
            )
        })
}

/// Parses a rate such as `"120/min"`, `"2/s"`, `"50/60"` or `"2.5"` into events per second.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (count, per) = match t.split_once('/') {
        Some((count, per)) => (count.trim(), Some(per.trim())),
        None => (t, None),
    };
    let n = count
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .ok_or_else(|| format!("\"{t}\" does not start with a number; {RATE_FORMS}"))?;
    let Some(per) = per else {
        return Ok(n);
    };
    let seconds = match per.parse::<f64>() {
        Ok(x) => Ok(x),
        // `/min` means per one minute.
        Err(_) if per.starts_with(|c: char| c.is_alphabetic()) => parse_duration(&format!("1{per}")),
        Err(_) => parse_duration(per),
    }
    .map_err(|_| {
        format!("\"{t}\": after \"/\" comes a unit of time (s, min, h, day) or a number of seconds; {RATE_FORMS}")
    })?;
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(format!(
            "\"{t}\": the time after \"/\" must be more than 0 s; {RATE_FORMS}"
        ));
    }
    Ok(n / seconds)
}

fn format_seconds(v: f64) -> String {
    if v == 0.0 {
        return "0s".to_string();
    }
    if !v.is_finite() || v < 0.0 {
        return format!("{v}s");
    }
    if v >= 60.0 {
        for (size, unit) in [(86400.0, "d"), (3600.0, "h"), (60.0, "m")] {
            let n = v / size;
            if n.fract() == 0.0 && n * size == v {
                return format!("{n}{unit}");
            }
        }
    }
    // A smaller unit only when it reads better: under 1,000, at most three decimals, and
    // exact. Otherwise the shortest exact form in seconds (never `664639300.459483385ns`).
    if v < 1.0 {
        for (scale, unit) in [(1e3, "ms"), (1e6, "us"), (1e9, "ns")] {
            let x = v * scale;
            if x >= 1.0 {
                let digits = short_num(x);
                let decimals = digits.split_once('.').map_or(0, |(_, d)| d.len());
                let s = format!("{digits}{unit}");
                if x < 1000.0 && decimals <= 3 && parse_duration(&s) == Ok(v) {
                    return s;
                }
            }
        }
    }
    format!("{v}s")
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (body, percent) = match t.strip_suffix('%') {
        Some(b) => (b.trim_end(), true),
        None => (t, false),
    };
    let n: f64 = body
        .parse()
        .map_err(|_| format!("invalid fraction \"{t}\"; write one e.g. \"70%\" or 0.7"))?;
    check_fraction(n, percent, &format!("\"{t}\""))
}

fn check_fraction(n: f64, percent: bool, got: &str) -> Result<f64, String> {
    if !n.is_finite() {
        return Err(format!(
            "invalid fraction {got}; write one e.g. \"70%\" or 0.7"
        ));
    }
    if n < 0.0 {
        return Err(format!("a fraction cannot be negative (got {got})"));
    }
    if percent {
        if n > 100.0 {
            return Err(format!("a fraction cannot exceed 100% (got {got})"));
        }
        Ok(n / 100.0)
    } else if n > 1.0 {
        Err(format!(
            "a bare fraction must be between 0 and 1; write a percentage such as \"70%\" instead (got {got})"
        ))
    } else {
        Ok(n)
    }
}

fn format_fraction(v: f64) -> String {
    let s = format!("{}%", short_num(v * 100.0));
    if parse_fraction(&s) == Ok(v) {
        s
    } else {
        format!("{v}")
    }
}

fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, unit) = split_number(t);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid size \"{t}\"; write one {SIZE_EXAMPLE} or \"2GB\""))?;
    let unit = unit.trim_start();
    if unit.is_empty() {
        return Err(format!("a size needs a unit, {SIZE_EXAMPLE} (got \"{t}\")"));
    }
    let mult: f64 = match unit.to_ascii_lowercase().as_str() {
        "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" | "ki" => 1024.0,
        "mib" | "mi" => 1024.0 * 1024.0,
        "gib" | "gi" => 1024.0 * 1024.0 * 1024.0,
        "tib" | "ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "unknown size unit \"{unit}\" in \"{t}\"; use B, KB, MB, GB, KiB, MiB or GiB, {SIZE_EXAMPLE}"
            ));
        }
    };
    let bytes = (n * mult).round();
    if bytes >= u64::MAX as f64 {
        return Err(format!("size \"{t}\" is too large"));
    }
    Ok(bytes as u64)
}

fn format_bytes(b: u64) -> String {
    const UNITS: [(u64, &str); 8] = [
        (1 << 40, "TiB"),
        (1_000_000_000_000, "TB"),
        (1 << 30, "GiB"),
        (1_000_000_000, "GB"),
        (1 << 20, "MiB"),
        (1_000_000, "MB"),
        (1 << 10, "KiB"),
        (1_000, "KB"),
    ];
    UNITS
        .iter()
        .find(|(size, _)| b > 0 && b.is_multiple_of(*size))
        .map(|(size, unit)| format!("{}{unit}", b / size))
        .unwrap_or_else(|| format!("{b}B"))
}

fn parse_price(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let Some(rest) = t.strip_prefix('$') else {
        return Err(format!(
            "a price needs \"$\" and a unit, {PRICE_EXAMPLE} (got \"{t}\")"
        ));
    };
    let Some((amount, per)) = rest.split_once('/') else {
        return Err(format!(
            "a price needs a unit after \"/\", {PRICE_EXAMPLE} (got \"{t}\")"
        ));
    };
    let amount = amount.trim();
    let dollars: f64 = match amount.parse() {
        Ok(d) if d >= 0.0 && f64::is_finite(d) => d,
        _ => {
            return Err(format!(
                "invalid amount \"{amount}\" in price \"{t}\"; write one {PRICE_EXAMPLE}"
            ));
        }
    };
    let per = per.trim_start();
    let (num, after) = split_number(per);
    let mut scale: f64 = if num.is_empty() {
        1.0
    } else {
        num.parse().map_err(|_| {
            format!("invalid scale \"{num}\" in price \"{t}\"; write one {PRICE_EXAMPLE}")
        })?
    };
    let mut label = after;
    let mut chars = after.chars();
    let suffix = match chars.next() {
        Some('k' | 'K') => Some(1e3),
        Some('M') => Some(1e6),
        _ => None,
    };
    if let Some(mult) = suffix
        && !chars.as_str().starts_with("iB")
    {
        scale *= mult;
        label = chars.as_str();
    }
    if num.is_empty() && suffix.is_none() && label.trim().is_empty() {
        return Err(format!(
            "a price needs a unit after \"/\", {PRICE_EXAMPLE} (got \"{t}\")"
        ));
    }
    if label_looks_numeric(label) {
        return Err(format!(
            "the scale in price \"{t}\" must be a plain number with an optional k or M (no sign or exponent), {PRICE_EXAMPLE}"
        ));
    }
    if scale <= 0.0 || !scale.is_finite() {
        return Err(format!(
            "the scale in price \"{t}\" must be positive, {PRICE_EXAMPLE}"
        ));
    }
    Ok(dollars / scale)
}

/// Whether a price label starts like a number (`-1M`, `e6` after `1`, `.5k`): a scale the
/// grammar cannot read (a sign or an exponent), which would otherwise pass as a label and
/// make the price per single unit.
fn label_looks_numeric(label: &str) -> bool {
    let mut chars = label.trim_start().chars();
    match chars.next() {
        Some('e' | 'E') => chars
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '-' || c == '+'),
        Some(c) => c.is_ascii_digit() || matches!(c, '-' | '+' | '.'),
        None => false,
    }
}

fn format_price(v: f64) -> String {
    if v > 0.0 && v < 1e-5 {
        let s = format!("${}/M", short_num(v * 1e6));
        if parse_price(&s) == Ok(v) {
            return s;
        }
    }
    format!("${v}/unit")
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_seconds(self.0))
    }
}

impl fmt::Display for Fraction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_fraction(self.0))
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_bytes(self.0))
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_price(self.0))
    }
}

impl FromStr for Seconds {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_duration(s).map(Seconds)
    }
}

impl FromStr for Fraction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_fraction(s).map(Fraction)
    }
}

impl FromStr for Bytes {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_bytes(s).map(Bytes)
    }
}

impl FromStr for PerSecond {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_rate(s).map(PerSecond)
    }
}

impl FromStr for Price {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_price(s).map(Price)
    }
}

/// Deserializes a unit type from a string (via `FromStr`) or a bare YAML number
/// (via `from_num`, which gets the value and its text for error messages).
struct UnitVisitor<T> {
    expecting: &'static str,
    from_num: fn(f64, &str) -> Result<T, String>,
    marker: PhantomData<T>,
}

impl<T: FromStr<Err = String>> UnitVisitor<T> {
    fn run<'de, D: Deserializer<'de>>(
        deserializer: D,
        expecting: &'static str,
        from_num: fn(f64, &str) -> Result<T, String>,
    ) -> Result<T, D::Error> {
        deserializer.deserialize_any(UnitVisitor {
            expecting,
            from_num,
            marker: PhantomData,
        })
    }
}

impl<T: FromStr<Err = String>> Visitor<'_> for UnitVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        (self.from_num)(v as f64, &v.to_string()).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        (self.from_num)(v as f64, &v.to_string()).map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        (self.from_num)(v, &v.to_string()).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        UnitVisitor::run(
            deserializer,
            "a duration with a unit, e.g. \"250ms\" or \"1.5s\"",
            |v, got| {
                if v == 0.0 {
                    Ok(Seconds(0.0))
                } else {
                    Err(format!(
                        "a duration needs a unit, {DURATION_EXAMPLE} (got {got})"
                    ))
                }
            },
        )
    }
}

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        UnitVisitor::run(deserializer, "a fraction, e.g. \"70%\" or 0.7", |v, got| {
            check_fraction(v, false, got).map(Fraction)
        })
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        UnitVisitor::run(
            deserializer,
            "a size with a unit, e.g. \"512MiB\"",
            |_, got| Err(format!("a size needs a unit, {SIZE_EXAMPLE} (got {got})")),
        )
    }
}

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        UnitVisitor::run(deserializer, "a price, e.g. \"$0.10/Mtok\"", |_, got| {
            Err(format!(
                "a price needs \"$\" and a unit, {PRICE_EXAMPLE} (got {got})"
            ))
        })
    }
}

impl<'de> Deserialize<'de> for PerSecond {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        UnitVisitor::run(
            deserializer,
            "a rate per second, e.g. 2.5, \"2/s\" or \"120/min\"",
            |v, _| Ok(PerSecond(v)),
        )
    }
}

macro_rules! serialize_as_display {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
    )*};
}

serialize_as_display!(Seconds, Fraction, Bytes, Price);

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml<T: for<'de> Deserialize<'de>>(s: &str) -> Result<T, String> {
        serde_yaml::from_str(s).map_err(|e| e.to_string())
    }

    fn secs(s: &str) -> f64 {
        yaml::<Seconds>(s).unwrap().0
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs()
    }

    #[test]
    fn durations_accept() {
        assert_eq!(secs("250ms"), 0.25);
        assert_eq!(secs("1.5s"), 1.5);
        assert_eq!(secs("5m"), 300.0);
        assert_eq!(secs("1h"), 3600.0);
        assert_eq!(secs("2m 30s"), 150.0);
        assert_eq!(secs("1h30m"), 5400.0);
        assert_eq!(secs("0.4s"), 0.4);
        assert_eq!(secs("0.45s"), 0.45);
        assert_eq!(secs("1.5ms"), 0.0015);
        assert_eq!(secs("20us"), 20e-6);
        assert_eq!(secs("100ns"), 100e-9);
        assert_eq!(secs("2 min"), 120.0);
        assert_eq!(secs("1d"), 86400.0);
        assert_eq!(secs("0"), 0.0);
        assert_eq!(secs("\"0\""), 0.0);
        assert_eq!(secs("0.0"), 0.0);
        assert_eq!(parse_duration("1h"), Ok(3600.0));
        assert_eq!(parse_duration(" 90s "), Ok(90.0));
    }

    #[test]
    fn durations_reject() {
        let e = yaml::<Seconds>("3").unwrap_err();
        assert!(
            e.contains("a duration needs a unit, e.g. \"250ms\" or \"1.5s\" (got 3)"),
            "{e}"
        );
        let e = yaml::<Seconds>("0.5").unwrap_err();
        assert!(e.contains("needs a unit") && e.contains("(got 0.5)"), "{e}");
        let e = yaml::<Seconds>("\"3\"").unwrap_err();
        assert!(e.contains("needs a unit") && e.contains("\"3\""), "{e}");
        let e = yaml::<Seconds>("-2").unwrap_err();
        assert!(e.contains("needs a unit"), "{e}");
        let e = yaml::<Seconds>("-2s").unwrap_err();
        assert!(e.contains("cannot be negative"), "{e}");
        let e = yaml::<Seconds>("fast").unwrap_err();
        assert!(
            e.contains("invalid duration \"fast\"") && e.contains("2m 30s"),
            "{e}"
        );
        let e = yaml::<Seconds>("3 parsecs").unwrap_err();
        assert!(e.contains("invalid duration \"3 parsecs\""), "{e}");
        let e = yaml::<Seconds>("[1s]").unwrap_err();
        assert!(e.contains("a duration with a unit"), "{e}");
        assert!(parse_duration("").is_err());
        assert!(parse_duration("10").unwrap_err().contains("needs a unit"));
    }

    #[test]
    fn durations_serialize() {
        let show = |v: f64| Seconds(v).to_string();
        assert_eq!(show(0.25), "250ms");
        assert_eq!(show(1.5), "1.5s");
        assert_eq!(show(300.0), "5m");
        assert_eq!(show(3600.0), "1h");
        assert_eq!(show(150.0), "150s");
        assert_eq!(show(0.0), "0s");
        assert_eq!(show(0.45), "450ms");
        assert_eq!(show(0.0015), "1.5ms");
        assert_eq!(show(20e-6), "20us");
        // No unit reads a long fraction better than seconds do.
        assert_eq!(show(0.6646393004594834), "0.6646393004594834s");
        assert_eq!(show(0.6646393), "0.6646393s");
        assert_eq!(show(0.000_664_5), "664.5us");
        for v in [
            0.6646393004594834,
            0.25,
            1.5,
            0.45,
            0.1 + 0.2,
            1.0 / 3.0,
            7e-8,
            12345.678,
            86400.0,
            1e-12,
        ] {
            let out = serde_yaml::to_string(&Seconds(v)).unwrap();
            assert_eq!(yaml::<Seconds>(&out).unwrap().0, v, "{out}");
        }
    }

    #[test]
    fn works_inside_untagged_enums() {
        #[derive(Deserialize, Debug, PartialEq)]
        #[serde(untagged)]
        enum Warmup {
            Fixed(Seconds),
            Auto(String),
        }
        assert_eq!(yaml::<Warmup>("5m").unwrap(), Warmup::Fixed(Seconds(300.0)));
        assert_eq!(yaml::<Warmup>("auto").unwrap(), Warmup::Auto("auto".into()));
    }

    #[test]
    fn fractions() {
        assert!(close(yaml::<Fraction>("70%").unwrap().0, 0.7));
        assert!(close(yaml::<Fraction>("0.5%").unwrap().0, 0.005));
        assert_eq!(yaml::<Fraction>("0.7").unwrap().0, 0.7);
        assert_eq!(yaml::<Fraction>("1").unwrap().0, 1.0);
        assert_eq!(yaml::<Fraction>("0").unwrap().0, 0.0);
        assert_eq!(yaml::<Fraction>("100%").unwrap().0, 1.0);
        let e = yaml::<Fraction>("-5%").unwrap_err();
        assert!(
            e.contains("cannot be negative") && e.contains("\"-5%\""),
            "{e}"
        );
        let e = yaml::<Fraction>("-0.1").unwrap_err();
        assert!(e.contains("cannot be negative"), "{e}");
        let e = yaml::<Fraction>("150%").unwrap_err();
        assert!(
            e.contains("cannot exceed 100%") && e.contains("\"150%\""),
            "{e}"
        );
        let e = yaml::<Fraction>("70").unwrap_err();
        assert!(
            e.contains("between 0 and 1") && e.contains("(got 70)"),
            "{e}"
        );
        let e = yaml::<Fraction>("lots").unwrap_err();
        assert!(e.contains("invalid fraction \"lots\""), "{e}");
        assert_eq!(Fraction(0.7).to_string(), "70%");
        assert_eq!(Fraction(0.005).to_string(), "0.5%");
        for v in [0.7, 0.005, 1.0 / 3.0, 0.0, 1.0, 0.123456789012345] {
            let out = serde_yaml::to_string(&Fraction(v)).unwrap();
            assert_eq!(yaml::<Fraction>(&out).unwrap().0, v, "{out}");
        }
    }

    #[test]
    fn bytes() {
        let b = |s: &str| yaml::<Bytes>(s).unwrap().0;
        assert_eq!(b("2GiB"), 2 << 30);
        assert_eq!(b("512MiB"), 512 << 20);
        assert_eq!(b("50MB"), 50_000_000);
        assert_eq!(b("2GB"), 2_000_000_000);
        assert_eq!(b("1024KiB"), 1 << 20);
        assert_eq!(b("100B"), 100);
        assert_eq!(b("1.5GiB"), 3 << 29);
        assert_eq!(b("512Mi"), 512 << 20);
        assert_eq!(b("2 GiB"), 2 << 30);
        assert_eq!(Bytes(2 << 30).gib(), 2.0);
        assert_eq!(Bytes(512 << 20).mib(), 512.0);
        let e = yaml::<Bytes>("1024").unwrap_err();
        assert!(
            e.contains("a size needs a unit, e.g. \"512MiB\" (got 1024)"),
            "{e}"
        );
        let e = yaml::<Bytes>("\"1024\"").unwrap_err();
        assert!(e.contains("a size needs a unit"), "{e}");
        let e = yaml::<Bytes>("2 parsecs").unwrap_err();
        assert!(e.contains("unknown size unit \"parsecs\""), "{e}");
        let e = yaml::<Bytes>("big").unwrap_err();
        assert!(e.contains("invalid size \"big\""), "{e}");
        assert_eq!(Bytes(2 << 30).to_string(), "2GiB");
        assert_eq!(Bytes(3 << 29).to_string(), "1536MiB");
        assert_eq!(Bytes(50_000_000).to_string(), "50MB");
        assert_eq!(Bytes(100).to_string(), "100B");
        assert_eq!(Bytes(0).to_string(), "0B");
        for v in [
            0,
            1,
            100,
            1 << 20,
            50_000_000,
            1_000_000_000_000,
            123_456_789,
        ] {
            let out = serde_yaml::to_string(&Bytes(v)).unwrap();
            assert_eq!(yaml::<Bytes>(&out).unwrap().0, v, "{out}");
        }
    }

    #[test]
    fn prices() {
        let p = |s: &str| yaml::<Price>(&format!("\"{s}\"")).unwrap();
        assert!(close(p("$0.10/Mtok").0, 1e-7));
        assert!(close(p("$0.30/1M").0, 3e-7));
        assert!(close(p("$0.03/100k").0, 3e-7));
        assert!(close(p("$0.40/M").0, 4e-7));
        assert!(close(p("$0.000024/vCPU-s").0, 0.000024));
        assert!(close(p("$0.0000025/GiB-s").0, 0.0000025));
        assert!(close(p("$1.5/k").0, 0.0015));
        assert!(close(p("$0.09/100k ops").0, 9e-7));
        assert!(close(p("$0.01/MiB-s").0, 0.01));
        assert!(close(p("$2/request").0, 2.0));
        assert!(close(Price(1e-7).per_million(), 0.1));
        let e = yaml::<Price>("0.1").unwrap_err();
        assert!(
            e.contains("a price needs \"$\" and a unit, e.g. \"$0.10/Mtok\" (got 0.1)"),
            "{e}"
        );
        let e = yaml::<Price>("0.10/Mtok").unwrap_err();
        assert!(
            e.contains("needs \"$\"") && e.contains("\"0.10/Mtok\""),
            "{e}"
        );
        let e = yaml::<Price>("\"$5\"").unwrap_err();
        assert!(e.contains("a unit after \"/\""), "{e}");
        let e = yaml::<Price>("\"$5/\"").unwrap_err();
        assert!(e.contains("a unit after \"/\""), "{e}");
        let e = yaml::<Price>("\"$abc/M\"").unwrap_err();
        assert!(e.contains("invalid amount \"abc\""), "{e}");
        for nonsense in ["$0.10/1e6", "$0.40/-1M", "$0.40/+1M", "$1/2E3tok"] {
            let e = yaml::<Price>(&format!("\"{nonsense}\"")).unwrap_err();
            assert!(
                e.contains(&format!(
                    "the scale in price \"{nonsense}\" must be a plain number"
                )),
                "{nonsense}: {e}"
            );
        }
        assert!(close(p("$2/request").0, 2.0));
        assert!(close(p("$0.30/1M").0, 3e-7));
        let e = yaml::<Price>("\"$1/0k\"").unwrap_err();
        assert!(e.contains("must be positive"), "{e}");
        assert_eq!(p("$0.10/Mtok").to_string(), "$0.1/M");
        assert_eq!(Price(2.5e-6).to_string(), "$2.5/M");
        assert_eq!(Price(0.000024).to_string(), "$0.000024/unit");
        for v in [
            1e-7,
            3e-7,
            0.000024,
            0.0000025,
            0.0015,
            2.0,
            1.0 / 3.0 * 1e-6,
        ] {
            let out = serde_yaml::to_string(&Price(v)).unwrap();
            assert_eq!(yaml::<Price>(&out).unwrap().0, v, "{out}");
        }
    }

    #[test]
    fn rates_accept_units_of_time() {
        let r = |s: &str| yaml::<PerSecond>(s).unwrap().0;
        // Plain numbers are per second and kept bit for bit.
        assert_eq!(r("2"), 2.0);
        assert_eq!(r("0.1"), 0.1);
        assert_eq!(r("\"2.5\""), 2.5);
        assert_eq!(r("\"2/s\""), 2.0);
        assert_eq!(r("\"2/sec\""), 2.0);
        assert_eq!(r("\"120/min\""), 2.0);
        assert_eq!(r("\"120/m\""), 2.0);
        assert_eq!(r("\"7200/h\""), 2.0);
        assert_eq!(r("\"3/h\""), 3.0 / 3600.0);
        assert_eq!(r("\"86400/day\""), 1.0);
        assert_eq!(r("\"86400/d\""), 1.0);
        assert_eq!(r("\"50/60\""), 50.0 / 60.0);
        assert_eq!(r("\"30 / 15s\""), 2.0);
        assert_eq!(r("\"10/5m\""), 10.0 / 300.0);
        assert_eq!(r("\"0/s\""), 0.0);
    }

    #[test]
    fn rates_reject_what_they_cannot_read() {
        for (text, says) in [
            ("\"2/fortnight\"", "after \"/\" comes a unit of time"),
            ("\"abc\"", "does not start with a number"),
            ("\"inf/s\"", "does not start with a number"),
            ("\"/s\"", "does not start with a number"),
            ("\"5/0\"", "must be more than 0 s"),
            ("\"5/-2\"", "must be more than 0 s"),
            ("\"5/0s\"", "must be more than 0 s"),
        ] {
            let e = yaml::<PerSecond>(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
            assert!(e.contains("\"120/min\""), "{text} lists the forms: {e}");
        }
        // A negative count parses; the field's own check refuses it with its name.
        assert_eq!(yaml::<PerSecond>("\"-2/s\"").unwrap().0, -2.0);
    }
}
