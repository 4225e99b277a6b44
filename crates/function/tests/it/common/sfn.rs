//! The refresh state machine run for real in moto (tests/sfn/moto_sfn.py, at
//! MOTO_ENDPOINT): statemachine/refresh.asl.json with its two substitutions, an SNS
//! topic read through a subscribed SQS queue, and a Lambda function whose invokes
//! reach either a stand-in (`stub-...` names, tests/sfn/stub_steps.py) or a real
//! function process polling the Runtime API the harness made for it.
//!
//! Included with `#[path = "common/sfn.rs"] mod sfn;` by the workflow tests only, so
//! the other test binaries don't compile the SNS/SQS clients.
#![allow(dead_code)]

use crate::common::moto::moto_endpoint;
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent, HistoryEventType};
use dbt_tableau_refresh::aws_http::http_client;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// moto's default account: the ARNs the harness and moto make live in it.
pub const ACCOUNT: &str = "123456789012";
const ASL: &str = include_str!("../../../../../statemachine/refresh.asl.json");

/// A client as the function builds its own (the crate's ring HTTP client), pointed at moto.
macro_rules! moto_client {
    ($sdk:ident) => {
        $sdk::Client::from_conf(
            $sdk::config::Builder::new()
                .behavior_version($sdk::config::BehaviorVersion::latest())
                .endpoint_url(moto_endpoint())
                .region($sdk::config::Region::new("us-east-1"))
                .credentials_provider($sdk::config::Credentials::new(
                    "testing", "testing", None, None, "tests",
                ))
                .http_client(http_client())
                .build(),
        )
    };
}

/// A name no other test (or earlier run against the same moto) has used, short
/// enough for every resource (Lambda function names: 64 characters).
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    format!(
        "{prefix}-{}-{}-{n}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

/// The definition as template.yaml's DefinitionSubstitutions make it.
pub fn definition(function_arn: &str, topic_arn: &str) -> String {
    ASL.replace("${FunctionArn}", function_arn)
        .replace("${NotifyTopicArn}", topic_arn)
}

/// What the harness answered to `POST /forwarder/register`.
#[derive(Debug, Clone)]
pub struct Registered {
    pub function_arn: String,
    /// `AWS_LAMBDA_RUNTIME_API` for the process that serves this function; None
    /// for stubs.
    pub runtime_api: Option<String>,
}

/// POSTs to the harness's control endpoint (tests/sfn/moto_sfn.py lists them).
pub async fn control(path: &str, request: Value) -> Value {
    // reqwest is built without a crypto provider of its own (Cargo.toml).
    dbt_tableau_engine::tls::install_crypto_provider();
    let response = reqwest::Client::new()
        .post(format!("{}/forwarder/{path}", moto_endpoint()))
        .json(&request)
        .send()
        .await
        .expect("POST /forwarder/...: is MOTO_ENDPOINT tests/sfn/moto_sfn.py?");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert!(
        status.is_success(),
        "the harness refused {path} {request}: {status} {text}"
    );
    serde_json::from_str(&text).expect("the harness answers JSON")
}

/// Creates the function in moto and, unless it is a `stub-`, a Runtime API that
/// the function's invokes are forwarded to.
pub async fn register_function(name: &str, timeout_seconds: u64) -> Registered {
    let request = serde_json::json!({"function_name": name, "timeout_seconds": timeout_seconds});
    let answer = control("register", request).await;
    Registered {
        function_arn: answer["function_arn"].as_str().unwrap().to_string(),
        runtime_api: answer["runtime_api"].as_str().map(str::to_string),
    }
}

/// The function's next `step` runs, but Lambda "loses" its answer (the task
/// sees Lambda.ServiceException) once [`release_lost_answer`] is called.
pub async fn lose_next_answer(name: &str, step: &str) {
    control(
        "lose",
        serde_json::json!({"function_name": name, "step": step}),
    )
    .await;
}

/// Whether the step ran (its answer was held).
pub async fn release_lost_answer(name: &str) -> bool {
    control("release", serde_json::json!({"function_name": name})).await["taken"] == true
}

/// An execution once it stopped running.
#[derive(Debug)]
pub struct Finished {
    pub arn: String,
    pub status: ExecutionStatus,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub output: Option<Value>,
}

/// One SNS message as the subscribed queue received it (raw delivery off: the
/// queue holds SNS's JSON envelope).
#[derive(Debug, Clone)]
pub struct Notification {
    pub subject: Option<String>,
    pub message: String,
    pub topic_arn: String,
}

/// One deployed stack's worth: topic + queue, function, state machine.
pub struct Workflow {
    pub sfn: aws_sdk_sfn::Client,
    sqs: aws_sdk_sqs::Client,
    pub state_machine_arn: String,
    pub topic_arn: String,
    pub queue_url: String,
    pub function: Registered,
}

impl Workflow {
    /// The ARN of this state machine's execution `name` (a 202's `execution`).
    pub fn execution_arn(&self, name: &str) -> String {
        let machine = self
            .state_machine_arn
            .replace(":stateMachine:", ":execution:");
        format!("{machine}:{name}")
    }

    /// `function_name` must be unique (see [`unique`]); it also names the rest.
    pub async fn deploy(function_name: &str, timeout_seconds: u64) -> Workflow {
        let sns = moto_client!(aws_sdk_sns);
        let sqs = moto_client!(aws_sdk_sqs);
        let sfn = moto_client!(aws_sdk_sfn);
        let function = register_function(function_name, timeout_seconds).await;
        let topic_arn = sns
            .create_topic()
            .name(function_name)
            .send()
            .await
            .expect("create the topic")
            .topic_arn
            .expect("a topic ARN");
        let queue_url = sqs
            .create_queue()
            .queue_name(function_name)
            .send()
            .await
            .expect("create the queue")
            .queue_url
            .expect("a queue URL");
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("read the queue's ARN")
            .attributes
            .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .expect("a queue ARN");
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .expect("subscribe the queue to the topic");
        let state_machine_arn = sfn
            .create_state_machine()
            .name(function_name)
            .r#type(aws_sdk_sfn::types::StateMachineType::Standard)
            .definition(definition(&function.function_arn, &topic_arn))
            .role_arn(format!(
                "arn:aws:iam::{ACCOUNT}:role/dbt-tableau-refresh-states"
            ))
            .send()
            .await
            .expect("create the state machine from statemachine/refresh.asl.json")
            .state_machine_arn;
        Workflow {
            sfn,
            sqs,
            state_machine_arn,
            topic_arn,
            queue_url,
            function,
        }
    }

    pub async fn start(&self, name: &str, input: &Value) -> String {
        self.sfn
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name)
            .input(input.to_string())
            .send()
            .await
            .expect("start the execution")
            .execution_arn
    }

    /// Starts an execution and waits for it to stop (Wait states really sleep).
    pub async fn run(&self, input: &Value, within: Duration) -> Finished {
        let arn = self.start(&unique("run"), input).await;
        self.wait(&arn, within).await
    }

    /// Polls DescribeExecution until the execution stops running.
    pub async fn wait(&self, execution_arn: &str, within: Duration) -> Finished {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let described = self
                .sfn
                .describe_execution()
                .execution_arn(execution_arn)
                .send()
                .await
                .expect("describe the execution");
            if described.status != ExecutionStatus::Running {
                return Finished {
                    arn: execution_arn.to_string(),
                    status: described.status,
                    error: described.error,
                    cause: described.cause,
                    output: described
                        .output
                        .map(|o| serde_json::from_str(&o).expect("JSON output")),
                };
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "execution {execution_arn} still running after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn history(&self, execution_arn: &str) -> Vec<HistoryEvent> {
        let mut events = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .sfn
                .get_execution_history()
                .execution_arn(execution_arn)
                .set_next_token(token)
                .send()
                .await
                .expect("get the execution's history");
            events.extend(page.events);
            token = page.next_token;
            if token.is_none() {
                return events;
            }
        }
    }

    /// Every message the topic delivered so far (moto delivers while publishing,
    /// so a finished execution's messages are already queued). `wait` is how long
    /// the first receive may long-poll for one.
    pub async fn notifications(&self, wait: Duration) -> Vec<Notification> {
        let mut found = Vec::new();
        let mut wait_seconds = wait.as_secs() as i32;
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(wait_seconds)
                .send()
                .await
                .expect("receive from the queue");
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                return found;
            }
            for message in messages {
                found.push(envelope(message.body.as_deref().unwrap_or_default()));
                if let Some(handle) = message.receipt_handle {
                    let deleted = self.sqs.delete_message().queue_url(&self.queue_url);
                    deleted
                        .receipt_handle(handle)
                        .send()
                        .await
                        .expect("delete the message");
                }
            }
            wait_seconds = 0;
        }
    }
}

/// SNS's envelope around a message delivered to SQS.
fn envelope(body: &str) -> Notification {
    let json: Value = serde_json::from_str(body).expect("an SNS envelope");
    assert_eq!(json["Type"], "Notification", "{json}");
    Notification {
        subject: json["Subject"].as_str().map(str::to_string),
        message: json["Message"].as_str().expect("a Message").to_string(),
        topic_arn: json["TopicArn"].as_str().expect("a TopicArn").to_string(),
    }
}

/// The states the execution entered, in order.
pub fn entered(history: &[HistoryEvent]) -> Vec<String> {
    history
        .iter()
        .filter_map(|e| e.state_entered_event_details())
        .map(|d| d.name().to_string())
        .collect()
}

pub fn count(history: &[HistoryEvent], kind: HistoryEventType) -> usize {
    history.iter().filter(|e| *e.r#type() == kind).count()
}

/// Everything the history holds as text: the SDK's Debug redacts inputs, outputs
/// and causes, which are exactly what a no-secret scan must read.
pub fn history_text(history: &[HistoryEvent]) -> String {
    let mut text = String::new();
    for e in history {
        let mut add = |s: Option<&str>| {
            if let Some(s) = s {
                text.push_str(s);
                text.push('\n');
            }
        };
        if let Some(d) = e.execution_started_event_details() {
            add(d.input());
        }
        if let Some(d) = e.execution_succeeded_event_details() {
            add(d.output());
        }
        if let Some(d) = e.execution_failed_event_details() {
            add(d.error());
            add(d.cause());
        }
        if let Some(d) = e.state_entered_event_details() {
            add(d.input());
        }
        if let Some(d) = e.state_exited_event_details() {
            add(d.output());
        }
        if let Some(d) = e.task_scheduled_event_details() {
            add(Some(d.parameters()));
        }
        if let Some(d) = e.task_succeeded_event_details() {
            add(d.output());
        }
        if let Some(d) = e.task_failed_event_details() {
            add(d.error());
            add(d.cause());
        }
        if let Some(d) = e.task_timed_out_event_details() {
            add(d.error());
            add(d.cause());
        }
    }
    text
}
