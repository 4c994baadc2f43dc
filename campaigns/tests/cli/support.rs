//! Running the binary, and writing campaign folders.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("campaigns/ lives in the workspace")
        .to_path_buf()
}

/// The marketing example repository's campaigns.
pub fn marketing_campaigns() -> PathBuf {
    workspace().join("manifests/examples/marketing/campaigns")
}

/// What a run printed and how it exited.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Self {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// The binary under test.
pub fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_loyalty-campaigns"))
}

/// Runs the binary with `args`.
pub fn run(args: &[&str]) -> Run {
    binary()
        .args(args)
        .output()
        .expect("the binary runs")
        .into()
}

/// A folder holding `files` (name, YAML).
pub fn folder(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary folder");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("writable");
    }
    dir
}

/// A Campaign document; `spec` is YAML indented for `spec:`.
pub fn campaign(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: loyalty.travel.example/v1alpha1\nkind: Campaign\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

/// An Exclusive campaign of priority 0 with the given window and recurrence lines.
pub fn exclusive(name: &str, window: &str) -> String {
    campaign(
        name,
        &format!(
            "  displayName: {name}\n  window:\n{window}  effect:\n    multiplierMilli: 2000\n  stacking:\n    mode: Exclusive\n"
        ),
    )
}

/// `path` as a string argument.
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}
