//! The line of a field in a YAML document, from its path (`spec.window.end`,
//! `spec.eligibility.tiers[1]`): each key is looked for below the previous one, deeper
//! indented. Good enough for the block style Kubernetes YAML is written in; a key it cannot
//! find leaves the line of the deepest key it found.

/// The 0-based line within `text` of the field at `path`.
pub fn line_of(text: &str, path: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = first_content_line(&lines);
    let mut from = 0;
    let mut parent_indent: Option<usize> = None;
    for key in path.split('.').map(|k| k.split('[').next().unwrap_or(k)) {
        if key.is_empty() {
            continue;
        }
        match find_key(&lines, from, parent_indent, key) {
            Some((line, indent)) => {
                found = line;
                from = line + 1;
                parent_indent = Some(indent);
            }
            None => break,
        }
    }
    found
}

fn first_content_line(lines: &[&str]) -> usize {
    lines
        .iter()
        .position(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .unwrap_or(0)
}

/// The first line at or after `from` that holds `key:` deeper than `parent_indent`, before
/// the parent's block ends.
fn find_key(
    lines: &[&str],
    from: usize,
    parent_indent: Option<usize>,
    key: &str,
) -> Option<(usize, usize)> {
    for (i, line) in lines.iter().enumerate().skip(from) {
        let content = line.trim_start();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let indent = line.len() - content.len();
        if parent_indent.is_some_and(|p| indent <= p) {
            return None;
        }
        let content = content.strip_prefix("- ").unwrap_or(content);
        let unquoted = content.trim_start_matches(['"', '\'']);
        if let Some(rest) = unquoted.strip_prefix(key)
            && rest.trim_start_matches(['"', '\'']).starts_with(':')
        {
            return Some((i, indent));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::line_of;

    const DOC: &str = "# a comment\napiVersion: v1\nkind: Campaign\nmetadata:\n  name: x\nspec:\n  window:\n    start: a\n    end: b\n  effect:\n    multiplierMilli: 3\n";

    #[test]
    fn nested_keys_are_found_below_their_parents() {
        assert_eq!(line_of(DOC, "spec.window.end"), 8);
        assert_eq!(line_of(DOC, "spec.effect.multiplierMilli"), 10);
        assert_eq!(line_of(DOC, "metadata.name"), 4);
    }

    #[test]
    fn a_missing_key_points_at_its_deepest_present_parent() {
        assert_eq!(line_of(DOC, "spec.window.recurrence.endTime"), 6);
        assert_eq!(line_of(DOC, ""), 1);
        // `end` under `effect` does not exist; `window.end` must not be taken for it.
        assert_eq!(line_of(DOC, "spec.effect.end"), 9);
    }
}
