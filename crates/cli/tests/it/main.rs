//! The `dbt-tableau` command's integration tests, one binary: the installed or
//! built command against the fake Tableau.

mod cli_support;

mod cli_bad_input;
mod cli_exposures;
mod cli_installed;
mod cli_more_kinds;
mod cli_refresh;
mod cli_secrets;
mod cli_wait;
mod cli_workflow_file;
mod truth_under_faults;
