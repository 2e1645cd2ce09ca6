//! `orch`: lists the runs of an orch journal and shows what each did. See `orch --help`, and
//! [`orch_cli::run`], which is the whole command.

use std::process::ExitCode;

fn main() -> ExitCode {
    let style = orch_cli::Style::from_env();
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    let code = orch_cli::run(
        std::env::args_os(),
        &mut stdout.lock(),
        &mut stderr.lock(),
        style,
    );
    ExitCode::from(code)
}
