//! The floor a cold start is measured against (bench/floor.py): a bare
//! `lambda_http` function that answers every request 200 with a fixed JSON body,
//! built with the same profile and dependencies as the function.
//! `cargo build --release --example bare_lambda`.

use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_request: Request| async {
        Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Body::from(r#"{"status":"ok"}"#))
            .map_err(Error::from)
    }))
    .await
}
