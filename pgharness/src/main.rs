//! `pgharness`: starts a private PostgreSQL server for a developer, prints its URL and stops it
//! on Ctrl-C (or SIGTERM).
//!
//! ```text
//! pgharness [--data-dir DIR] [--port PORT] [--durable]
//! ```
//!
//! Without `--data-dir` the cluster is temporary and disappears on exit; with it, data persists
//! across runs.

use std::path::PathBuf;
use std::process::ExitCode;

use pgharness::{Durability, PgConfig, PgServer};

const USAGE: &str = "usage: pgharness [--data-dir DIR] [--port PORT] [--durable]";

fn main() -> ExitCode {
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Install the handler before starting, so an early Ctrl-C still stops the server cleanly.
    let (interrupted, wait_for_interrupt) = std::sync::mpsc::channel::<()>();
    if let Err(error) = ctrlc::set_handler(move || {
        let _ = interrupted.send(());
    }) {
        eprintln!("pgharness: could not install the Ctrl-C handler: {error}");
        return ExitCode::FAILURE;
    }
    let server = match PgServer::start(config) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("pgharness: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", server.url("postgres"));
    println!("data directory: {}", server.data_dir().display());
    println!("press Ctrl-C to stop");
    let _ = wait_for_interrupt.recv();
    match server.stop() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pgharness: {error}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<PgConfig, String> {
    let mut config = PgConfig::default();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data-dir" => {
                let dir = args.next().ok_or("--data-dir needs a directory")?;
                config.data_dir = Some(PathBuf::from(dir));
            }
            "--port" => {
                let port = args.next().ok_or("--port needs a number")?;
                config.port = Some(port.parse().map_err(|_| format!("bad port {port:?}"))?);
            }
            "--durable" => config.durability = Durability::Durable,
            "-h" | "--help" => return Err("starts a private PostgreSQL server".into()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(config)
}
