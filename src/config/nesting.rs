//! A guard in front of the YAML parser: brackets nested past [`MAX_FLOW_DEPTH`] are refused
//! before parsing. libyaml's scanner does work per open level for every token, so 100,000
//! nested `[` take it tens of seconds before its own recursion limit answers.

/// Deepest nesting of flow collections (`[...]`, `{...}`) a file may hold; the shipped files
/// nest at most four levels.
pub(super) const MAX_FLOW_DEPTH: usize = 64;

/// The 1-based line on which `text` first opens more than [`MAX_FLOW_DEPTH`] nested flow
/// collections, if it does. Quoted strings and comments are skipped; a quote counts only where
/// a YAML scalar can start (after a space, `[`, `{`, `,`, `:` or at the start of a line), so an
/// apostrophe inside a word is not taken for one.
pub(super) fn too_deep(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut line = 1;
    let mut previous = '\n';
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        let starts_scalar = previous.is_whitespace() || matches!(previous, '[' | '{' | ',' | ':');
        match c {
            '\n' => line += 1,
            '#' if previous.is_whitespace() => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
                previous = '\n';
                continue;
            }
            '"' | '\'' if starts_scalar => {
                let mut escaped = false;
                for s in chars.by_ref() {
                    match s {
                        '\n' => line += 1,
                        '\\' if c == '"' && !escaped => {
                            escaped = true;
                            continue;
                        }
                        s if s == c && !escaped => break,
                        _ => {}
                    }
                    escaped = false;
                }
            }
            '[' | '{' => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Some(line);
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        previous = c;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_brackets_are_found_on_their_line() {
        let deep = format!(
            "name: x\nplatform: {}{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(too_deep(&deep), Some(2));
        let at_limit = format!(
            "a: {}{}",
            "{".repeat(MAX_FLOW_DEPTH),
            "}".repeat(MAX_FLOW_DEPTH)
        );
        assert_eq!(too_deep(&at_limit), None);
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let many = "[".repeat(200);
        for text in [
            format!("a: \"{many}\"\n"),
            format!("a: '{many}'\n"),
            format!("a: 1 # {many}\n"),
            format!("a: \"x\\\" {many}\"\n"),
        ] {
            assert_eq!(too_deep(&text), None, "{text}");
        }
        // An apostrophe inside a word opens no string, so what follows still counts.
        let text = format!("a: Partner's {many}\n");
        assert_eq!(too_deep(&text), Some(1));
    }

    #[test]
    fn every_shipped_file_is_within_the_limit() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut seen = 0;
        for folder in ["models", "experiments", "experiments/validation"] {
            for entry in std::fs::read_dir(root.join(folder)).expect("folder") {
                let path = entry.expect("entry").path();
                if path.extension().is_some_and(|e| e == "yaml") {
                    let text = std::fs::read_to_string(&path).expect("read");
                    assert_eq!(too_deep(&text), None, "{}", path.display());
                    seen += 1;
                }
            }
        }
        assert!(seen > 20, "only {seen} files");
    }
}
