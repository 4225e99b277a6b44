//! The real function binary as Lambda runs it: its own process polling the
//! Runtime API that tests/sfn/moto_sfn.py made for a registered function, with the
//! environment Lambda gives (and nothing of the test's own, so a developer's
//! DRY_RUN or AWS profile can't leak in). Its stdout/stderr go to a file the test
//! can read (log lines, the no-secret scan).
//!
//! Included with `#[path = "common/function_process.rs"] mod function_process;`.
#![allow(dead_code)]

use crate::common::moto::moto_endpoint;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub struct FunctionProcess {
    child: Child,
    pub name: String,
    pub log: PathBuf,
}

impl FunctionProcess {
    /// Starts `dbt-tableau-refresh` for `name`, whose Runtime API is `runtime_api`.
    /// AWS calls (Secrets Manager, Step Functions) go to moto; `env` adds or
    /// overrides the function's configuration.
    pub fn spawn(name: &str, runtime_api: &str, env: &[(&str, String)]) -> FunctionProcess {
        let log = std::env::temp_dir().join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("create the function's log file");
        let err = out.try_clone().expect("share the log file");
        let moto = moto_endpoint();
        let mut command = Command::new(env!("CARGO_BIN_EXE_dbt-tableau-refresh"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TZ", ":UTC")
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/28/[$LATEST]test")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_LAMBDA_LOG_LEVEL", "DEBUG")
            .env("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_SESSION_TOKEN", "testing")
            // Every AWS service the function calls is moto's.
            .env("AWS_ENDPOINT_URL", &moto)
            // The test steps wait a second, not thirty.
            .env("POLL_INITIAL_SECONDS", "1")
            .env("POLL_MAX_SECONDS", "1")
            // 1 s waits for the default 240 minutes could pass the execution
            // history's 25,000 events, which the webhook refuses.
            .env("REFRESH_TIMEOUT_MINUTES", "10")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("start the function binary");
        FunctionProcess {
            child,
            name: name.to_string(),
            log,
        }
    }

    /// Everything the process wrote so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The JSON log lines (one object per line with AWS_LAMBDA_LOG_FORMAT=JSON).
    pub fn log_lines(&self) -> Vec<Value> {
        self.output()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Kept when the test failed: it is where the function says why.
        if std::thread::panicking() {
            eprintln!("the function's output: {}", self.log.display());
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// Lambda's Invoke straight to the registered process (a Function URL request in
/// the tests): its payload, and the X-Amz-Function-Error it set, if any.
pub async fn invoke(name: &str, event: &Value) -> (Value, Option<String>) {
    dbt_tableau_engine::tls::install_crypto_provider();
    let response = reqwest::Client::new()
        .post(format!("{}/forwarder/invoke/{name}", moto_endpoint()))
        .json(event)
        .send()
        .await
        .expect("POST /forwarder/invoke")
        .error_for_status()
        .expect("a registered function");
    let error = response
        .headers()
        .get("x-amz-function-error")
        .map(|v| v.to_str().unwrap_or_default().to_string());
    let payload = response.json().await.expect("a JSON payload");
    (payload, error)
}
