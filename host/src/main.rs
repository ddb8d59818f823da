//! `picorl`: train, evaluate, export, inspect and benchmark reinforcement-learning policies for
//! microcontrollers. See `picorl --help`.
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = picorl_host::cli::Cli::parse();
    match picorl_host::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
