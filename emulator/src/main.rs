//! `graph-emulator`: serves the emulated Graph endpoints until killed.

use std::process::ExitCode;

use graph_emulator::{Config, Emulator, Faults, SPEC_HELP};

const USAGE: &str = "\
graph-emulator: the Microsoft Graph To Do attachment endpoints, with faults

USAGE: graph-emulator [--port N] [--seed N] [--token T] [--fault SPEC]...
                      [--max-size N|unlimited] [--session-lifetime SECS]
                      [--clock-skew-ms N]   (the server's clock ahead of this machine's;
                                             negative: behind)

Prints one JSON line on stdout:
  {\"base_url\":..,\"token\":..,\"list_id\":..,\"task_id\":..,\"user_id\":..,\"foreign_origin\":..}
then serves on 127.0.0.1 until killed. --port 0 (the default) picks a port.
";

fn value<'a>(args: &'a [String], i: &mut usize, flag: &str) -> Result<&'a str, String> {
    *i += 1;
    args.get(*i)
        .map(String::as_str)
        .ok_or_else(|| format!("{flag} needs a value"))
}

fn number<T: std::str::FromStr>(text: &str, flag: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag}: {text:?} is not a number"))
}

fn parse_args(args: &[String]) -> Result<Option<Config>, String> {
    let mut config = Config::default();
    let mut specs = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let flag = args[i].as_str();
        match flag {
            "-h" | "--help" => return Ok(None),
            "--port" => config.port = number(value(args, &mut i, flag)?, flag)?,
            "--seed" => config.seed = number(value(args, &mut i, flag)?, flag)?,
            "--token" => config.token = value(args, &mut i, flag)?.to_string(),
            "--fault" => specs.push(value(args, &mut i, flag)?.to_string()),
            "--max-size" => {
                config.max_size = match value(args, &mut i, flag)? {
                    "unlimited" => u64::MAX,
                    n => number(n, flag)?,
                }
            }
            "--session-lifetime" => {
                let secs: u64 = number(value(args, &mut i, flag)?, flag)?;
                config.session_lifetime = std::time::Duration::from_secs(secs);
            }
            "--clock-skew-ms" => {
                config.clock_skew_ms = number(value(args, &mut i, flag)?, flag)?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
        i += 1;
    }
    config.faults = Faults::parse(&specs).map_err(|e| e.to_string())?;
    Ok(Some(config))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match parse_args(&args) {
        Ok(Some(c)) => c,
        Ok(None) => {
            println!("{USAGE}\n{SPEC_HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("graph-emulator: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let emu = match Emulator::start(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("graph-emulator: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let line = serde_json::json!({
        "base_url": emu.base_url(),
        "token": emu.token(),
        "list_id": emu.list_id(),
        "task_id": emu.task_id(),
        "user_id": emu.user_id(),
        "foreign_origin": emu.foreign_origin(),
    });
    println!("{line}");
    loop {
        std::thread::park();
    }
}
