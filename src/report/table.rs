//! Plain tables of text cells, for the comparison and validation reports: left-aligned
//! columns for the terminal, or Markdown. The first row is the header.

/// Columns padded to their widest cell, two spaces apart.
pub fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// A Markdown table.
pub fn markdown(rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        out.push_str(&format!("| {} |\n", r.join(" | ")));
        if i == 0 {
            out.push_str(&format!("|{}\n", "---|".repeat(r.len())));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Vec<String>> {
        vec![
            vec!["name".into(), "p95".into()],
            vec!["a-long-name".into(), "2.41".into()],
        ]
    }

    #[test]
    fn aligned_pads_to_the_widest_cell() {
        assert_eq!(aligned(&rows()), "name         p95\na-long-name  2.41\n");
    }

    #[test]
    fn markdown_has_a_separator_after_the_header() {
        assert_eq!(
            markdown(&rows()),
            "| name | p95 |\n|---|---|\n| a-long-name | 2.41 |\n"
        );
    }
}
