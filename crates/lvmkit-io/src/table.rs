//! The one table printer: rows of cells rendered as Markdown (files, and tables a user pastes
//! into an issue) or as aligned plain text (the terminal).
//!
//! ```
//! use lvmkit_io::table::{Align, Table};
//! let mut t = Table::new([("model", Align::Left), ("cosine", Align::Right)]);
//! t.row(["mlp", "0.4146"]);
//! t.row(["ridge", "0.4633"]);
//! assert_eq!(t.markdown(), "| model | cosine |\n|---|---:|\n| mlp | 0.4146 |\n| ridge | 0.4633 |\n");
//! assert_eq!(t.text(), "model  cosine\n-------------\nmlp    0.4146\nridge  0.4633\n");
//! ```
//!
//! Tables whose rows arrive over minutes (a training run's epochs) print their Markdown head
//! first and each row as it comes: [`Table::markdown_head`] and [`Table::markdown_row`].

/// Where a column's cells sit: names read left to right, numbers line up on the right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = (S, Align)>) -> Self {
        let (headers, align) = columns.into_iter().map(|(h, a)| (h.into(), a)).unzip();
        Self {
            headers,
            align,
            rows: Vec::new(),
        }
    }

    /// A table whose first column is left-aligned and every other one right-aligned: a name,
    /// then numbers.
    pub fn named<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Self::new(
            headers
                .into_iter()
                .enumerate()
                .map(|(i, h)| (h, if i == 0 { Align::Left } else { Align::Right })),
        )
    }

    /// Appends a row. Panics if it has another number of cells than the table has columns: a
    /// programming error, not an input one.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Self {
        let cells: Vec<String> = cells.into_iter().map(Into::into).collect();
        assert_eq!(
            cells.len(),
            self.headers.len(),
            "a row of {} cells in a table of {} columns",
            cells.len(),
            self.headers.len()
        );
        self.rows.push(cells);
        self
    }

    /// The header line and the alignment line, each ending in a newline.
    pub fn markdown_head(&self) -> String {
        let align: Vec<&str> = self
            .align
            .iter()
            .map(|a| match a {
                Align::Left => "---",
                Align::Right => "---:",
            })
            .collect();
        format!(
            "{}\n|{}|\n",
            Self::markdown_line(&self.headers),
            align.join("|")
        )
    }

    /// One row as a Markdown line (with its newline); `|` in a cell is escaped.
    pub fn markdown_row<S: AsRef<str>>(&self, cells: &[S]) -> String {
        format!("{}\n", Self::markdown_line(cells))
    }

    fn markdown_line<S: AsRef<str>>(cells: &[S]) -> String {
        let cells: Vec<String> = cells
            .iter()
            .map(|c| c.as_ref().replace('|', "\\|"))
            .collect();
        format!("| {} |", cells.join(" | "))
    }

    pub fn markdown(&self) -> String {
        let mut out = self.markdown_head();
        for r in &self.rows {
            out.push_str(&self.markdown_row(r));
        }
        out
    }

    /// Aligned plain text: columns two spaces apart, a rule under the header, no trailing
    /// spaces.
    pub fn text(&self) -> String {
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r[c].chars().count())
                    .chain([self.headers[c].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| -> String {
            let parts: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(c, s)| match self.align[c] {
                    Align::Left => format!("{s:<w$}", w = widths[c]),
                    Align::Right => format!("{s:>w$}", w = widths[c]),
                })
                .collect();
            parts.join("  ").trim_end().to_string()
        };
        let total = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
        let mut out = line(&self.headers);
        out.push('\n');
        out.push_str(&"-".repeat(total));
        out.push('\n');
        for r in &self.rows {
            out.push_str(&line(r));
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_escapes_pipes_and_aligns_numbers_right() {
        let mut t = Table::named(["name", "n"]);
        t.row(["a|b", "1"]);
        assert_eq!(t.markdown(), "| name | n |\n|---|---:|\n| a\\|b | 1 |\n");
    }

    #[test]
    fn text_columns_are_as_wide_as_their_widest_cell() {
        let mut t = Table::new([
            ("name", Align::Left),
            ("kind", Align::Left),
            ("x", Align::Right),
        ]);
        t.row(["mlp", "model", "0.5"]).row(["ridge", "", "10.25"]);
        assert_eq!(
            t.text(),
            "name   kind       x\n-------------------\nmlp    model    0.5\nridge         10.25\n"
        );
    }

    #[test]
    #[should_panic(expected = "a row of 1 cells in a table of 2 columns")]
    fn a_short_row_is_a_bug() {
        Table::named(["a", "b"]).row(["x"]);
    }
}
