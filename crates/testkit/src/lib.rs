//! Test-only fakes that speak the real wire formats, compiled once and shared by
//! the function's and the command's integration tests: Tableau's REST API
//! ([`fake_tableau`]) and dbt Cloud's Administrative API v2 ([`fake_dbt_cloud`]).

pub mod fake_dbt_cloud;
pub mod fake_tableau;
