//! The function's integration tests, one binary (linking the SDK and the fakes
//! once). Each module is one area; docs/DEVELOPING.md lists them.

mod common;
mod exposures_harness;

mod dbt_cloud;
mod dbt_cloud_faults;
mod dbt_cloud_memory;
mod duplicate_deliveries;
mod e2e_cargo_lambda_watch;
mod exposures_artifacts;
mod exposures_faults;
mod exposures_function;
mod exposures_large;
mod exposures_steps;
mod full_flow;
mod function_url;
mod hostile_input;
mod logs;
#[cfg(feature = "workflow")]
mod more_kinds_function;
mod no_secret_leaks;
mod pat_contention;
mod properties;
mod secrets_from_env;
mod secrets_manager;
mod secrets_manager_errors;
mod secrets_manager_handler;
mod tableau;
mod tableau_connected_app;
mod tableau_faults;
mod tableau_faults_more;
mod tableau_jobs;
mod tableau_jobs_connected_app;
mod tableau_lookup;
mod tableau_raw_faults;
mod truth_function;
#[cfg(feature = "workflow")]
mod workflow_500_targets;
#[cfg(feature = "workflow")]
mod workflow_asl;
#[cfg(feature = "workflow")]
mod workflow_function;
mod workflow_history_budget;
mod workflow_steps;
#[cfg(feature = "workflow")]
mod workflow_webhook;
