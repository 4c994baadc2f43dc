//! Reading Campaign YAML: every `*.yaml`/`*.yml` file named or below a named folder, split
//! into documents that remember the line they start on.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// One YAML document of a file.
#[derive(Debug, Clone)]
pub struct Document {
    pub path: PathBuf,
    /// The 1-based line of the file on which the document's text starts.
    pub first_line: usize,
    pub text: String,
    pub value: Value,
}

/// Every YAML file of `paths`, sorted within each folder; a folder is walked recursively.
pub fn yaml_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
        if meta.is_dir() {
            walk(path, &mut out)?;
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("{}", dir.display()))?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    Ok(())
}

/// The documents of one file, without empty ones. Malformed YAML is an error that names the
/// file and line.
pub fn documents(path: &Path) -> Result<Vec<Document>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let mut out = Vec::new();
    for (first_line, chunk) in split(&text) {
        let value: Value = match serde_yaml::from_str(&chunk) {
            Ok(v) => v,
            Err(e) => {
                let line = e
                    .location()
                    .map_or(first_line, |l| first_line + l.line() - 1);
                bail!("{}:{line}: malformed YAML: {e}", path.display());
            }
        };
        if !value.is_null() {
            out.push(Document {
                path: path.to_path_buf(),
                first_line,
                text: chunk,
                value,
            });
        }
    }
    Ok(out)
}

/// Splits a stream at `---` separator lines; each part with its first line (1-based).
fn split(text: &str) -> Vec<(usize, String)> {
    let mut parts = vec![(1, String::new())];
    for (i, line) in text.lines().enumerate() {
        if line == "---" || line.starts_with("--- ") {
            parts.push((i + 2, String::new()));
        } else if let Some((_, part)) = parts.last_mut() {
            part.push_str(line);
            part.push('\n');
        }
    }
    parts
}

/// Every document of every YAML file of `paths`.
pub fn all_documents(paths: &[PathBuf]) -> Result<Vec<Document>> {
    let mut out = Vec::new();
    for file in yaml_files(paths)? {
        out.extend(documents(&file)?);
    }
    Ok(out)
}
