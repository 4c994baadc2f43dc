//! `loyalty-campaigns`: marketing's tools for Campaign YAML before it merges (docs/campaigns.md).
//!
//! Exit codes: 0 clean, 1 lint findings, 2 a usage, input or database error.

use std::process::ExitCode;

use clap::Parser;
use loyalty_campaigns::cli::{Cli, Outcome, run};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Findings) => ExitCode::from(1),
        Err(e) => {
            eprintln!("loyalty-campaigns: {e:#}");
            ExitCode::from(2)
        }
    }
}
