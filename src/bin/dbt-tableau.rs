//! `dbt-tableau`: the refresh engine as a command for dbt Core and CI. Everything
//! but the exit is in the library's `cli` module, so tests can reach it.

fn main() -> std::process::ExitCode {
    dbt_tableau_refresh::cli::main()
}
