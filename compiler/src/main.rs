//! The `meshc` binary: everything happens in [`meshc::cli`].

fn main() -> std::process::ExitCode {
    meshc::cli::main()
}
