//! Number formatting shared by the report writers: thousands separators, about three
//! significant digits, adaptive units (`850 ms`, `2.41 s`, `$0.0028`, `$1,234`), estimates
//! with their half-widths, and axis ticks for the charts.

use crate::stats::Estimate;

/// Decimals giving about three significant digits (two below 1), at most six.
pub(super) fn decimals(v: f64) -> usize {
    let a = v.abs();
    if !a.is_finite() || a == 0.0 {
        return 0;
    }
    let mag = a.log10().floor() as i32;
    let d = if a >= 1.0 { 2 - mag } else { 1 - mag };
    d.clamp(0, 6) as usize
}

/// Fixed-point with thousands separators; `n/a` for NaN.
pub(super) fn number(v: f64, decimals: usize) -> String {
    if v.is_nan() {
        return "n/a".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let s = format!("{v:.decimals$}");
    let (sign, rest) = s.strip_prefix('-').map_or(("", s.as_str()), |r| ("-", r));
    let (int, frac) = rest.split_once('.').map_or((rest, ""), |(i, f)| (i, f));
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

/// About three significant digits with thousands separators (`2.41`, `1,234`, `0.0125`).
pub fn about(v: f64) -> String {
    number(v, decimals(v))
}

/// An integer count with thousands separators.
pub(super) fn count(n: u64) -> String {
    number(n as f64, 0)
}

/// `value unit ±half-width` (value and half-width scaled by `scale`), `±?` when the CI is NaN.
pub(super) fn plain_est(e: Estimate, scale: f64, unit: &str) -> String {
    let v = e.value * scale;
    if v.is_nan() {
        return "n/a".to_string();
    }
    let hw = e.half_width() * scale;
    let d = if v == 0.0 { decimals(hw) } else { decimals(v) };
    format!("{}{unit} {}", number(v, d), plus_minus(hw, d))
}

pub(super) fn plus_minus(hw: f64, d: usize) -> String {
    if hw.is_finite() {
        format!("±{}", number(hw, d))
    } else {
        "±?".to_string()
    }
}

/// `[lo, hi]` scaled, or `[?, ?]` when the bounds are NaN.
pub(super) fn interval(e: Estimate, scale: f64, d: usize) -> String {
    let [lo, hi] = e.ci95;
    if lo.is_finite() && hi.is_finite() {
        format!("[{}, {}]", number(lo * scale, d), number(hi * scale, d))
    } else {
        "[?, ?]".to_string()
    }
}

/// A share as a percentage (`63.1 %`).
pub(super) fn pct(share: f64) -> String {
    let v = share * 100.0;
    if v > 0.0 && v < 0.05 {
        return "<0.1 %".to_string();
    }
    format!("{} %", number(v, decimals(v).min(1)))
}

/// An estimate of a fraction as a percentage with its half-width.
pub(super) fn pct_est(e: Estimate) -> String {
    plain_est(e, 100.0, " %")
}

/// Milliseconds below one second, seconds otherwise.
pub(super) fn secs_unit(v: f64) -> (f64, &'static str) {
    if v.is_finite() && v != 0.0 && v.abs() < 1.0 {
        (1000.0, " ms")
    } else {
        (1.0, " s")
    }
}

/// Seconds with two or three significant digits: `2.41 s`, `850 ms`.
pub(super) fn secs(v: f64) -> String {
    if v.is_nan() {
        return "n/a".to_string();
    }
    let (scale, unit) = secs_unit(v);
    format!("{}{unit}", number(v * scale, decimals(v * scale)))
}

/// `2.41 s ±0.11`.
pub(super) fn secs_est(e: Estimate) -> String {
    let (scale, unit) = secs_unit(e.value);
    plain_est(e, scale, unit)
}

/// A simulated duration: `1 h`, `5 min 12 s`, `850 ms`.
pub(crate) fn duration(s: f64) -> String {
    if !s.is_finite() || s < 1.0 {
        return secs(s);
    }
    let total = s.round() as u64;
    let (h, m, sec) = (total / 3600, total / 60 % 60, total % 60);
    let parts: Vec<String> = [(h, "h"), (m, "min"), (sec, "s")]
        .iter()
        .filter(|p| p.0 > 0)
        .map(|(n, unit)| format!("{n} {unit}"))
        .collect();
    parts.join(" ")
}

pub(super) fn money_decimals(v: f64) -> usize {
    let a = v.abs();
    if !a.is_finite() || a == 0.0 || a >= 1000.0 {
        0
    } else if a >= 1.0 {
        2
    } else {
        (1 - a.log10().floor() as i32).clamp(2, 8) as usize
    }
}

/// Dollars, adaptively: `$0.0028`, `$1.40`, `$1,234`.
pub(super) fn money(v: f64) -> String {
    if v.is_nan() {
        return "n/a".to_string();
    }
    let digits = number(v.abs(), money_decimals(v));
    if v < 0.0 {
        format!("-${digits}")
    } else {
        format!("${digits}")
    }
}

/// `$0.0028 ±0.0001`.
pub(super) fn money_est(e: Estimate) -> String {
    if e.value.is_nan() {
        return "n/a".to_string();
    }
    let hw = e.half_width();
    format!(
        "{} {}",
        money(e.value),
        plus_minus(hw, money_decimals(e.value))
    )
}

/// An axis tick: up to six decimals, trailing zeros dropped (`10`, `2.5`, `0.002`).
pub(super) fn tick(v: &f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// A dollar axis tick: `$0.002`, `$200`, `$1,000`.
pub(super) fn money_tick(v: &f64) -> String {
    if v.abs() >= 1000.0 {
        money(*v)
    } else {
        format!("${}", tick(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::est;

    #[test]
    fn formats() {
        assert_eq!(money(0.0028), "$0.0028");
        assert_eq!(money(1.4), "$1.40");
        assert_eq!(money(1234.4), "$1,234");
        assert_eq!(money(0.0), "$0");
        assert_eq!(secs(0.85), "850 ms");
        assert_eq!(secs(2.414), "2.41 s");
        assert_eq!(secs(12.34), "12.3 s");
        assert_eq!(secs(0.0), "0 s");
        assert_eq!(secs(f64::NAN), "n/a");
        assert_eq!(number(-1_234_567.891, 1), "-1,234,567.9");
        assert_eq!(duration(3600.0), "1 h");
        assert_eq!(duration(3725.0), "1 h 2 min 5 s");
        assert_eq!(plain_est(est(0.05, 0.01), 1.0, ""), "0.050 ±0.010");
        assert_eq!(pct_est(est(0.631, 0.02)), "63.1 % ±2.0");
        assert_eq!(pct(0.00016), "<0.1 %");
        assert_eq!(pct(0.0), "0 %");
    }

    #[test]
    fn ticks() {
        assert_eq!(tick(&10.0), "10");
        assert_eq!(tick(&2.5), "2.5");
        assert_eq!(tick(&-0.0), "0");
        assert_eq!(money_tick(&0.002), "$0.002");
        assert_eq!(money_tick(&1000.0), "$1,000");
    }
}
