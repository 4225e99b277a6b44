//! The log subscriber, as `lambda_runtime::tracing::init_default_subscriber` sets
//! it up (stdout, no time or target, JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`, the
//! level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`, INFO by default) but with a
//! plain level filter instead of an `EnvFilter`: the filter's per-target
//! directives need `regex-automata`, several hundred kB of the binary for a
//! function that logs at one level. `RUST_LOG` is read as one level
//! (`debug`, not `my_crate=debug`); anything else means INFO.

use std::str::FromStr;
use tracing_subscriber::filter::LevelFilter;

pub fn init() {
    let format = std::env::var("AWS_LAMBDA_LOG_FORMAT").unwrap_or_default();
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG"));
    let subscriber = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .with_max_level(level_from(level.ok().as_deref()))
        .with_writer(std::io::stdout);
    if format.eq_ignore_ascii_case("json") {
        subscriber.json().init();
    } else {
        subscriber.init();
    }
}

/// `AWS_LAMBDA_LOG_LEVEL` (TRACE, DEBUG, INFO, WARN, ERROR, FATAL) or a `RUST_LOG`
/// level; FATAL is ERROR, anything unreadable INFO.
pub fn level_from(raw: Option<&str>) -> LevelFilter {
    match raw.map(str::trim) {
        Some(value) if value.eq_ignore_ascii_case("fatal") => LevelFilter::ERROR,
        Some(value) => LevelFilter::from_str(value).unwrap_or(LevelFilter::INFO),
        None => LevelFilter::INFO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_read_like_the_runtime_reads_them() {
        assert_eq!(level_from(None), LevelFilter::INFO);
        assert_eq!(level_from(Some("DEBUG")), LevelFilter::DEBUG);
        assert_eq!(level_from(Some("warn")), LevelFilter::WARN);
        assert_eq!(level_from(Some("FATAL")), LevelFilter::ERROR);
        assert_eq!(level_from(Some("off")), LevelFilter::OFF);
        assert_eq!(level_from(Some("my_crate=debug")), LevelFilter::INFO);
    }
}
