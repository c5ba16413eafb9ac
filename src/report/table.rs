//! Plain tables of text cells, for the comparison and validation reports: left-aligned
//! columns for the terminal, or Markdown. The first row is the header.

/// How a column's cells are padded.
#[derive(Clone, Copy, Debug)]
pub enum Align {
    /// Text: padded on the right.
    Left,
    /// Numbers: padded on the left.
    Right,
}

/// Rows with each column padded to its widest cell, two spaces apart; columns beyond `align`
/// are left-aligned.
pub fn lines(rows: &[Vec<String>], align: &[Align]) -> Vec<String> {
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
    rows.iter()
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .zip(&widths)
                .enumerate()
                .map(
                    |(i, (c, w))| match align.get(i).copied().unwrap_or(Align::Left) {
                        Align::Left => format!("{c:<w$}"),
                        Align::Right => format!("{c:>w$}"),
                    },
                )
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect()
}

/// Left-aligned columns, one line per row.
pub fn aligned(rows: &[Vec<String>]) -> String {
    lines(rows, &[]).into_iter().map(|l| l + "\n").collect()
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
    fn right_aligned_columns_pad_on_the_left() {
        assert_eq!(
            lines(&rows(), &[Align::Left, Align::Right]),
            ["name          p95", "a-long-name  2.41"]
        );
    }

    #[test]
    fn markdown_has_a_separator_after_the_header() {
        assert_eq!(
            markdown(&rows()),
            "| name | p95 |\n|---|---|\n| a-long-name | 2.41 |\n"
        );
    }
}
