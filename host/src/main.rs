//! `picorl`: train, evaluate, export, inspect and benchmark reinforcement-learning policies for
//! microcontrollers.
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use picorl_host::device;

/// Train reinforcement-learning policies on a desktop or a GPU and run them, bit for bit, on a
/// Cortex-M microcontroller.
#[derive(Parser, Debug)]
#[command(name = "picorl", disable_version_flag = true)]
struct Cli {
    /// Print picorl's version, libtorch's version and the device training would use.
    #[arg(long, short = 'V')]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {}

fn version() -> String {
    let dev = device::name(tch::Device::cuda_if_available());
    format!(
        "picorl {} (libtorch {}, device {dev})",
        env!("CARGO_PKG_VERSION"),
        device::libtorch_version()
    )
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.version {
        println!("{}", version());
        return Ok(());
    }
    match cli.command {
        None => {
            use clap::CommandFactory;
            Cli::command().print_help()?;
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
