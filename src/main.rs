//! The `ocserv-agent` binary: everything lives in the library; this only dispatches.

fn main() -> std::process::ExitCode {
    ocserv_agent::cli::main()
}
