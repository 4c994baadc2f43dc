//! The command line: `lint`, `simulate` and `backtest`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};

use crate::backtest::{self, Options};
use crate::lint::report::Format;
use crate::pricing::Pricer;
use crate::{campaign_set, lint, load, simulate};

#[derive(Parser)]
#[command(name = "loyalty-campaigns", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check Campaign YAML as the API server and the operator would, each campaign and all
    /// of them together. Exit 0 clean, 1 findings, 2 unreadable input.
    Lint {
        /// Files, or folders searched for `*.yaml` and `*.yml`.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// The namespace of campaigns that name none (the one GitOps applies them to).
        #[arg(long, default_value = "default")]
        namespace: String,
    },
    /// The points each booking would earn under a campaign set, explained as the earn
    /// records it, with the programme's reference rates and tiers.
    Simulate {
        /// The campaign set: files or folders (they must lint clean).
        #[arg(long, required = true, num_args = 1..)]
        campaigns: Vec<PathBuf>,
        /// A booking, `at=…,product=hotel,amountMinor=15000,currency=EUR[,tier=gold,…]`.
        #[arg(long, conflicts_with = "bookings")]
        booking: Vec<String>,
        /// A YAML or JSON file with a list of bookings (same fields).
        #[arg(long)]
        bookings: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "human")]
        format: simulate::Format,
        #[arg(long, default_value = "default")]
        namespace: String,
    },
    /// Re-price the recorded earns of a period under a proposed campaign set and compare
    /// with what was granted. Read-only.
    Backtest(Options),
}

/// What a command concluded, as an exit code.
pub enum Outcome {
    Clean,
    Findings,
}

/// Runs a parsed command line, printing its result.
pub fn run(cli: Cli) -> Result<Outcome> {
    match cli.command {
        Command::Lint {
            paths,
            format,
            namespace,
        } => {
            let files = load::yaml_files(&paths)?;
            let docs = load::all_documents(&files)?;
            let findings = lint::lint(&docs, &namespace).findings;
            print!("{}", lint::report::render(&findings, files.len(), format));
            Ok(if findings.is_empty() {
                Outcome::Clean
            } else {
                Outcome::Findings
            })
        }
        Command::Simulate {
            campaigns,
            booking,
            bookings,
            format,
            namespace,
        } => {
            let list = match bookings {
                Some(path) => simulate::read_bookings(&path)?,
                None => booking
                    .iter()
                    .map(|b| simulate::parse_booking(b))
                    .collect::<Result<_>>()?,
            };
            if list.is_empty() {
                bail!("no booking: give --booking or --bookings");
            }
            let mut pricer = Pricer::new(campaign_set::load(&campaigns, &namespace)?);
            let priced = simulate::simulate(&mut pricer, &list)?;
            print!("{}", simulate::render(&list, &priced, format)?);
            Ok(Outcome::Clean)
        }
        Command::Backtest(options) => {
            backtest::run(&options)?;
            Ok(Outcome::Clean)
        }
    }
}
