//! `arbor`: supervise a tree of programs from a TOML file.
//!
//! This step of the command validates files (`arbor check`) and prints a commented example
//! (`arbor example`); `arbor run` and the steering commands follow.
//!
//! Exit codes: 0 success, 1 an invalid file (every error printed, nothing started), 2 a bad
//! command line.

mod check;
mod config;
mod diagnostic;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Supervise a tree of programs from a TOML file.
#[derive(Debug, Parser)]
#[command(name = "arbor", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a file without running anything.
    Check {
        /// The file.
        #[arg(default_value = "arbor.toml")]
        file: String,
    },
    /// Print a commented example file.
    Example,
}

/// The example `arbor example` prints, checked by the tests.
const EXAMPLE: &str = include_str!("example.toml");

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Example => {
            print!("{EXAMPLE}");
            ExitCode::SUCCESS
        }
        Command::Check { file } => check_file(&file),
    }
}

fn check_file(path: &str) -> ExitCode {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("{path}: error: cannot read it: {err}");
            return ExitCode::from(1);
        }
    };
    match check::check(path, &text) {
        Ok(checked) => {
            println!("{path}: ok, {} programs", checked.programs.len());
            for (name, program) in &checked.programs {
                let deps: Vec<String> = program
                    .depends_on
                    .iter()
                    .map(|(dep, condition)| format!("{} ({condition:?})", dep.get_ref()))
                    .collect();
                let restart = program.restart.unwrap_or(config::RestartType::Permanent);
                if deps.is_empty() {
                    println!("  root.{name} ({restart:?})");
                } else {
                    println!("  root.{name} ({restart:?}), after {}", deps.join(", "));
                }
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for error in &errors {
                eprintln!("{error}");
            }
            eprintln!(
                "{path}: {} error{}; nothing was started",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
            ExitCode::from(1)
        }
    }
}
