//! `dbt-tableau`: the function's engine as a command that runs after `dbt build`
//! (CONTRACT.md, "Command line, for dbt Core").
//!
//! [`args`] is the command line, [`local`] reads a dbt target directory, [`run`]
//! does the subcommands (refresh, follow, check), [`progress`] shows the waiting
//! and [`output`] the result. stdout carries the result only (one JSON document
//! with `--json`), so it can be piped; logs, progress and errors go to stderr.

mod args;
mod local;
mod output;
mod progress;
mod run;

use args::{Cli, Command};
use clap::Parser;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use tracing_subscriber::filter::LevelFilter;

/// Usage, configuration and input errors.
const USAGE_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print to stdout and exit 0; errors print the
        // reason and usage to stderr and exit 2.
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(USAGE_ERROR));
        }
    };
    init_logging();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return usage_error(&format!("cannot start the async runtime: {e}")),
    };
    let (done, json) = match &cli.command {
        Command::Refresh(args) => {
            // A terminal that can't move the cursor gets the plain lines.
            let live = std::io::stderr().is_terminal()
                && std::env::var("TERM").map_or(true, |term| term != "dumb");
            (runtime.block_on(run::refresh(args, live)), args.json)
        }
        Command::Check(args) => (run::check(args), args.json),
    };
    match done {
        Ok(done) => {
            report(&done, json);
            ExitCode::from(done.finished.exit_code())
        }
        Err(reason) => usage_error(&reason),
    }
}

/// Prints the result; a closed stdout (`| head`) is not worth a panic.
fn report(done: &run::Done, json: bool) {
    let mut stdout = std::io::stdout().lock();
    let _ = if json {
        done.finished.write_json(&mut stdout)
    } else {
        done.finished.write_human(&mut stdout, done.if_empty)
    };
    if github_actions() {
        // Workflow commands are read from stdout and stderr alike; stderr keeps
        // `--json`'s stdout one document.
        let _ = if json {
            done.finished
                .write_annotations(&mut std::io::stderr().lock())
        } else {
            done.finished.write_annotations(&mut stdout)
        };
    }
    let _ = stdout.flush();
}

fn usage_error(reason: &str) -> ExitCode {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "dbt-tableau: error: {reason}");
    if github_actions() {
        let _ = writeln!(
            stderr,
            "::error title=dbt-tableau::{}",
            output::escape_data(reason)
        );
    }
    ExitCode::from(USAGE_ERROR)
}

fn github_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// Logs on stderr, at warnings unless `RUST_LOG` says otherwise (one level, as
/// the function reads it). The library's fields name keys, never their values.
fn init_logging() {
    let level = match std::env::var("RUST_LOG") {
        Ok(level) => dbt_tableau_engine::logging::level_from(Some(&level)),
        Err(_) => LevelFilter::WARN,
    };
    tracing_subscriber::fmt()
        .with_target(false)
        .with_ansi(false)
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .init();
}
