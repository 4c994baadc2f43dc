//! The forms a lint result is printed in: for a person, as GitHub Actions workflow commands
//! (annotations on the pull request), and as a GitLab Code Quality report.

use std::fmt::Write as _;

use clap::ValueEnum;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::Finding;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// `path:line: [check] field: message`, then a count.
    Human,
    /// `::error file=…,line=…,title=…::message`, one line a finding.
    Github,
    /// A GitLab Code Quality JSON report (`artifacts: reports: codequality`).
    Gitlab,
}

/// `findings` in `format`.
pub fn render(findings: &[Finding], files: usize, format: Format) -> String {
    match format {
        Format::Human => human(findings, files),
        Format::Github => findings.iter().map(github).collect(),
        Format::Gitlab => gitlab(findings),
    }
}

fn what(f: &Finding) -> String {
    if f.field.is_empty() {
        f.message.clone()
    } else {
        format!("{}: {}", f.field, f.message)
    }
}

fn human(findings: &[Finding], files: usize) -> String {
    let mut out = String::new();
    for f in findings {
        let _ = writeln!(
            out,
            "{}:{}: [{}] {}",
            f.path.display(),
            f.line,
            f.check,
            what(f)
        );
    }
    let _ = writeln!(out, "{} finding(s) in {files} file(s)", findings.len());
    out
}

/// Escapes a workflow command's message (`%`, CR, LF) or, with `property`, a property value
/// (also `:` and `,`).
fn escape(s: &str, property: bool) -> String {
    let mut out = s
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    if property {
        out = out.replace(':', "%3A").replace(',', "%2C");
    }
    out
}

fn github(f: &Finding) -> String {
    format!(
        "::error file={},line={},title={}::{}\n",
        escape(&f.path.display().to_string(), true),
        f.line,
        escape(&format!("campaign lint: {}", f.check), true),
        escape(&what(f), false),
    )
}

fn gitlab(findings: &[Finding]) -> String {
    let issues: Vec<_> = findings
        .iter()
        .map(|f| {
            let path = f.path.display().to_string();
            let digest = Sha256::digest(format!("{path}\0{}\0{}", f.check, what(f)));
            let fingerprint: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            json!({
                "description": what(f),
                "check_name": f.check,
                "fingerprint": fingerprint,
                "severity": "major",
                "location": { "path": path, "lines": { "begin": f.line } },
            })
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&issues).unwrap_or_else(|_| "[]".into());
    out.push('\n');
    out
}
