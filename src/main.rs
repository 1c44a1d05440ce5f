//! The `recast` binary: everything lives in the library (`recast::cli`).

fn main() -> std::process::ExitCode {
    recast::cli::main()
}
