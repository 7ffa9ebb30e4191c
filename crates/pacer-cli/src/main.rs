//! `pacer`: the command (see the library, `pacer_cli`, which does its work).

fn main() -> std::process::ExitCode {
    pacer_cli::main_with(std::env::args_os())
}
