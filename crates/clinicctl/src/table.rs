//! A plain aligned table: upper-case headers, two spaces between columns, no trailing padding.

pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return "(none)\n".to_owned();
    }
    let headers: Vec<String> = headers.iter().map(|h| h.to_uppercase()).collect();
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .chain([headers[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in std::iter::once(&headers).chain(rows) {
        let last = row.len().saturating_sub(1);
        for (i, c) in row.iter().enumerate() {
            if i == last {
                out += c;
            } else {
                let pad = widths[i] - c.chars().count();
                out += c;
                out += &" ".repeat(pad + 2);
            }
        }
        out += "\n";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_by_characters() {
        let rows = vec![
            vec!["1".to_owned(), "Đorđe".to_owned(), "x".to_owned()],
            vec!["22".to_owned(), "Ana".to_owned(), "y".to_owned()],
        ];
        assert_eq!(
            render(&["id", "name", "z"], &rows),
            "ID  NAME   Z\n1   Đorđe  x\n22  Ana    y\n"
        );
        assert_eq!(render(&["id"], &[]), "(none)\n");
    }
}
