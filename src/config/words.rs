//! Parser errors restated in the experiment file's own words.
//!
//! serde words its errors for Rust programmers: `invalid type: string "5s", expected struct
//! MeanFields`, `unknown variant`, `expected u32`. [`explain`] turns each into what the file
//! holds and what the field takes (`expected {mean: …}, got "5s"; write {mean: 5s}`), points
//! the field path at the key the error is about (`workload.users.too`, the missing
//! `app.context.compaction.max_tokens`) and, for a misspelt name, suggests the closest known
//! one. Whatever it does not recognise passes through [`scrub`], which replaces any Rust type
//! name left in the text, so none reaches the user.

use serde_yaml::Value;

/// A parser error as the user reads it.
#[derive(Debug, PartialEq)]
pub(super) struct Explained {
    /// Dotted path of the key the error is about.
    pub field: String,
    /// What is wrong, in the file's words.
    pub message: String,
    /// Whether the key is missing (so it has no line of its own).
    pub missing: bool,
}

/// The field path and message to report for serde's error `raw` at `field`; `tree` is the
/// merged experiment the error came from and `tags` the names of every choice that is
/// written as a one-key mapping (`threshold:`, `lognormal:`).
pub(super) fn explain(field: &str, raw: &str, tree: &Value, tags: &[&str]) -> Explained {
    let found = |field: String, message: String| Explained {
        field,
        message,
        missing: false,
    };
    if let Some((name, known)) = unknown("field", raw) {
        let field = with_key(field, &name);
        let message = match known.as_slice() {
            [] => format!("unknown field `{name}`: this setting takes no fields"),
            _ => format!(
                "unknown field `{name}`{}: the fields here are {}",
                did_you_mean(&name, &known),
                listed(&known)
            ),
        };
        return found(field, message);
    }
    for what in ["variant", "distribution family"] {
        if let Some((name, known)) = unknown(what, raw) {
            let field = if has_key(tree, field, &name) {
                with_key(field, &name)
            } else {
                field.to_string()
            };
            let choices = if what == "variant" { "choice" } else { what };
            let message = format!(
                "`{name}` is not a {choices} here{}: expected one of {}",
                hint(&name, &known).unwrap_or_else(|| did_you_mean(&name, &known)),
                listed(&known),
            );
            return found(field, message);
        }
    }
    if raw.contains("expected map with a single key")
        && let Some(Value::Mapping(m)) = at(tree, field)
    {
        // A misspelt choice in a file over one that names the real choice: both keys are
        // there after the merge. Blame the key that names no choice.
        let keys: Vec<String> = m
            .keys()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        let (known, strange): (Vec<String>, Vec<String>) = keys
            .iter()
            .cloned()
            .partition(|k| tags.contains(&k.as_str()));
        let message = match strange.first() {
            Some(name) => format!(
                "`{name}` is not a choice here{}: this setting names one choice, as a single key",
                did_you_mean(name, &known)
            ),
            None => format!(
                "this setting names one choice, as a single key; found {}",
                listed(&keys)
            ),
        };
        let field = strange
            .first()
            .map_or(field.to_string(), |k| with_key(field, k));
        return found(field, message);
    }
    if let Some(name) = between(raw, "missing field `", "`") {
        let parent = if field.is_empty() { "the file" } else { field };
        return Explained {
            field: with_key(field, name),
            message: format!("required field `{name}` is missing from {}", shown(parent)),
            missing: true,
        };
    }
    let message = if raw.contains("expected string or map") {
        // serde_json's words for any choice; say which choices this one has.
        let got = raw
            .strip_prefix("invalid type: ")
            .and_then(|r| r.split_once(", expected"))
            .map_or_else(|| "something else".to_string(), |(got, _)| value_words(got));
        format!("expected {}, got {got}", choices(field))
    } else {
        scrub(&restate(raw))
    };
    found(field.to_string(), message)
}

/// What a choice-valued field takes, by its name.
fn choices(field: &str) -> &'static str {
    match field.rsplit(['.', ']']).next().unwrap_or(field) {
        "autoscaler" => "a scaling policy, {threshold: {...}} or {cloud_run: {...}}",
        "arrivals" => {
            "an arrival rate: {per_second: 2}, {per_day: {sessions: 5000}}, \
             {piecewise: [[0s, 1], [1h, 2]]} or {stages: [{at: 0s, per_second: 2}]}"
        }
        "pending_deadline" => "{fixed: 10s} or {startup_multiple: {multiplier: 3.5, floor: 10s}}",
        "latency" => "{tokens: {ttft: ..., decode_rate: ...}} or {end_to_end: ...}",
        _ => "one of the names this setting takes",
    }
}

/// `invalid type: X, expected Y` and its kin as "expected Y, got X" in file words, with a
/// rewrite of the value when the field takes a one-field mapping (`{mean: 5s}`).
fn restate(raw: &str) -> String {
    for lead in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = raw.strip_prefix(lead)
            && let Some((got, expected)) = rest.split_once(", expected ")
        {
            let got = value_words(got);
            let expected = type_words(expected);
            let fix = only_field(&expected)
                .filter(|_| got.starts_with('"') || got.parse::<f64>().is_ok())
                .map(|name| format!("; write {{{name}: {}}}", got.trim_matches('"')))
                .unwrap_or_default();
            return format!("expected {expected}, got {got}{fix}");
        }
    }
    if raw.starts_with("data did not match any variant") {
        return "matches none of the forms this setting takes".into();
    }
    if let Some(rest) = raw.strip_prefix("invalid length ")
        && let Some((n, expected)) = rest.split_once(", expected ")
    {
        return format!(
            "expected {}, got a list of {n}",
            type_words(expected.split(" with ").next().unwrap_or(expected))
        );
    }
    raw.to_string()
}

/// serde's `unknown <what> `x`, expected one of `a`, `b`` (or `expected `a` or `b``, or
/// `there are no <what>s`): the unknown name and the known ones.
fn unknown(what: &str, raw: &str) -> Option<(String, Vec<String>)> {
    let name = between(raw, &format!("unknown {what} `"), "`")?.to_string();
    let after = raw.split_once(&format!("unknown {what} `{name}`"))?.1;
    let known = after
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((name, known))
}

/// A suggestion the closest name cannot give: a duration where a deadline rule is expected is
/// meant as the fixed rule.
fn hint(name: &str, known: &[String]) -> Option<String> {
    let fixed = known.iter().any(|k| k == "fixed");
    (fixed && crate::units::parse_duration(name).is_ok())
        .then(|| format!(" (for a fixed value write {{fixed: {name}}})"))
}

/// " (did you mean `x`?)" for the known name closest to `name`, when one is close enough
/// to be a misspelling (at most a third of its letters differ), else nothing.
fn did_you_mean(name: &str, known: &[String]) -> String {
    known
        .iter()
        .map(|k| (strsim::levenshtein(name, k), k))
        .filter(|(d, k)| *d > 0 && *d <= (name.len().max(k.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

/// `a`, `b`, `c` as a readable list.
fn listed(known: &[String]) -> String {
    known
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `field` as shown in a message: in backticks, or "the file" for the top level.
fn shown(field: &str) -> String {
    if field == "the file" {
        field.into()
    } else {
        format!("`{field}`")
    }
}

/// The path of key `key` below `field`, unless the path already ends with it.
fn with_key(field: &str, key: &str) -> String {
    if field.is_empty() {
        key.to_string()
    } else if field.rsplit(['.', '[']).next() == Some(key) {
        field.to_string()
    } else {
        format!("{field}.{key}")
    }
}

/// Whether the mapping at `field` in `tree` holds `key`.
fn has_key(tree: &Value, field: &str, key: &str) -> bool {
    at(tree, field).is_some_and(|v| v.get(key).is_some())
}

/// The value at the dotted `field` (`a.b[0].c`) in `tree`.
fn at<'a>(tree: &'a Value, field: &str) -> Option<&'a Value> {
    let mut v = tree;
    for part in field.split('.').filter(|p| !p.is_empty()) {
        let (name, indices) = part.split_once('[').unwrap_or((part, ""));
        v = v.get(name)?;
        for index in indices.split('[').filter(|i| !i.is_empty()) {
            v = v.get(index.trim_end_matches(']').parse::<usize>().ok()?)?;
        }
    }
    Some(v)
}

/// The text between the first `start` and the next `end` in `s`.
fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = s.split_once(start)?.1;
    Some(rest.split_once(end)?.0)
}

/// The one field of a mapping written `{name: …}`, as the dist specs' `expecting` words it.
fn only_field(expected: &str) -> Option<&str> {
    let inner = expected.strip_prefix('{')?.split('}').next()?;
    let (name, rest) = inner.split_once(": …")?;
    (rest.is_empty() && !name.contains([',', ' '])).then_some(name)
}

/// A value as serde names it (`string "5s"`, `integer `3``, `map`) in file words.
fn value_words(got: &str) -> String {
    if let Some(s) = got.strip_prefix("string ") {
        return s.to_string();
    }
    for lead in ["integer ", "floating point ", "boolean ", "character "] {
        if let Some(v) = got.strip_prefix(lead) {
            return v.trim_matches('`').to_string();
        }
    }
    match got {
        "map" => "a mapping".into(),
        "sequence" => "a list".into(),
        "unit value" | "null" | "unit" => "nothing".into(),
        other => other.into(),
    }
}

/// What serde says a field expects, in file words (`u32` is a whole number).
fn type_words(expected: &str) -> String {
    let t = expected.trim();
    match t {
        "f64" | "f32" => return "a number".into(),
        "u8" | "u16" | "u32" | "u64" | "usize" => return "a whole number (0 or more)".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => return "a whole number".into(),
        "a sequence" => return "a list".into(),
        "a map" => return "a mapping".into(),
        "a string" => return "text".into(),
        "a boolean" => return "true or false".into(),
        "a tuple of size 2" | "tuple of size 2" => return "a pair [a, b]".into(),
        _ => {}
    }
    if let Some(n) = t.strip_prefix("an array of length ") {
        return format!("a list of {n} values");
    }
    if t.starts_with("struct ") {
        return "a mapping of settings (`name: value` lines, or {name: value, ...})".into();
    }
    if t.starts_with("internally tagged enum ") {
        return "a mapping that names its `kind`".into();
    }
    if t.starts_with("enum ") || t.starts_with("untagged enum ") || t == "variant identifier" {
        return "one of the choices this setting takes".into();
    }
    t.to_string()
}

/// `text` with every Rust type name serde may have left in it replaced by file words.
fn scrub(text: &str) -> String {
    let mut out = Vec::new();
    let mut words = text.split(' ').peekable();
    while let Some(w) = words.next() {
        let bare = w.trim_matches(|c: char| !c.is_alphanumeric());
        match bare {
            "internally" if words.peek() == Some(&"tagged") => {
                words.next();
                words.next();
                words.next();
                out.push("a mapping that names its `kind`".to_string());
            }
            "untagged" if words.peek() == Some(&"enum") => {
                words.next();
                words.next();
                out.push("one of the forms this setting takes".to_string());
            }
            "struct" | "enum" if words.peek().is_some() => {
                let next = words.next().unwrap_or_default();
                let tail: String = next
                    .chars()
                    .filter(|c| !c.is_alphanumeric() && *c != '_')
                    .collect();
                let words_for = if bare == "struct" {
                    "a mapping of settings"
                } else {
                    "one of the choices this setting takes"
                };
                out.push(format!("{words_for}{tail}"));
            }
            "f64" | "f32" | "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32"
            | "i64" | "isize" => out.push(w.replace(bare, &type_words(bare))),
            _ => out.push(w.to_string()),
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_closest_name_is_suggested_only_when_close() {
        let fields = known(&["vcpu", "memory", "max_concurrency", "max_instances"]);
        assert_eq!(
            did_you_mean("max_concurency", &fields),
            " (did you mean `max_concurrency`?)"
        );
        assert_eq!(did_you_mean("memroy", &fields), " (did you mean `memory`?)");
        assert_eq!(did_you_mean("colour", &fields), "");
    }

    #[test]
    fn rust_type_names_are_replaced() {
        for raw in [
            "invalid type: string \"x\", expected struct MeanFields",
            "data did not match any variant of untagged enum Users",
            "invalid value: integer `-3`, expected u32",
            "expected f64 here",
            "invalid type: map, expected enum AutoscalerSpec",
            "invalid type: integer `3`, expected internally tagged enum TheorySpec",
            "unknown thing, expected internally tagged enum TheorySpec",
        ] {
            let message = explain("a.b", raw, &Value::Null, &[]).message;
            for word in ["struct ", "enum ", "f64", "u32", "untagged", "MeanFields"] {
                assert!(!message.contains(word), "{raw} -> {message}");
            }
        }
        assert_eq!(
            explain(
                "platform.max_instances",
                "invalid value: integer `-3`, expected u32",
                &Value::Null,
                &[]
            )
            .message,
            "expected a whole number (0 or more), got -3"
        );
    }

    #[test]
    fn a_one_field_mapping_is_suggested_for_a_bare_value() {
        let message = explain(
            "platform.cold_start.exponential",
            "invalid type: string \"5s\", expected {mean: …}, e.g. {exponential: {mean: 1s}}",
            &Value::Null,
            &[],
        )
        .message;
        assert!(
            message.ends_with("got \"5s\"; write {mean: 5s}"),
            "{message}"
        );
    }

    #[test]
    fn unknown_and_missing_names_move_the_path_to_their_key() {
        let tree: Value = serde_yaml::from_str("a: {b: [{lognormel: 1}]}").unwrap();
        let e = explain(
            "a.b[0]",
            "unknown distribution family `lognormel`, expected one of `lognormal`, `normal`",
            &tree,
            &[],
        );
        assert_eq!(e.field, "a.b[0].lognormel");
        assert!(
            e.message.contains("did you mean `lognormal`?"),
            "{}",
            e.message
        );
        assert_eq!(
            explain("", "missing field `seed`", &tree, &[]),
            Explained {
                field: "seed".into(),
                message: "required field `seed` is missing from the file".into(),
                missing: true,
            }
        );
        let e = explain(
            "workload.users",
            "unknown field `too`, expected `to`",
            &tree,
            &[],
        );
        assert_eq!(e.field, "workload.users.too");
    }

    #[test]
    fn a_duration_given_for_a_deadline_rule_suggests_the_fixed_rule() {
        let message = explain(
            "platform.pending_deadline",
            "unknown variant `10s`, expected `fixed` or `startup_multiple`",
            &Value::Null,
            &[],
        )
        .message;
        assert!(message.contains("{fixed: 10s}"), "{message}");
    }
}
