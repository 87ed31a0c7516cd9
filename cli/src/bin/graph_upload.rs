//! `graph-upload <todo|drive|mail|event|print> [OPTIONS] <FILE>`: see
//! [`todo_upload::GraphArgs`].

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    todo_upload::interrupt::install();
    let args = todo_upload::GraphArgs::parse();
    let code = todo_upload::run_graph(&args, &mut std::io::stdout(), &mut std::io::stderr());
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
