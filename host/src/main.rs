//! `picorl`: train, evaluate, export, inspect and benchmark reinforcement-learning policies for
//! microcontrollers. See `picorl --help`.
use std::process::ExitCode;

fn main() -> ExitCode {
    // A closed stdout (`picorl env list | head -3`) ends every command quietly, once, here.
    picorl_host::util::pipe::quiet_on_closed_stdout();
    let cli = picorl_host::cli::parse();
    match picorl_host::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => picorl_host::util::pipe::exit_for(&e),
    }
}
