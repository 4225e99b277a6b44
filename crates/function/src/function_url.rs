//! The HTTP adapter: a Lambda Function URL event (payload format 2.0) in, a
//! Function URL response out.
//!
//! The event is deserialised into lambda_http's own type, but the body is decoded
//! here rather than by `lambda_http::run`: its base64 decoding panics on invalid
//! input (aws-lambda-rust-runtime #1165), and a bad body must answer 400.

use crate::handler::{Delivery, WebhookHandler};
use base64::Engine;
use dbt_tableau_engine::answer::Answer;
use lambda_http::aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_http::aws_lambda_events::encodings::Body;
use lambda_http::http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use std::borrow::Cow;
use tokio::time::Instant;

pub use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest as FunctionUrlRequest;
pub use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse as FunctionUrlResponse;

/// Answers one Function URL request by `deadline`.
pub async fn handle(
    handler: &WebhookHandler,
    request: &ApiGatewayV2httpRequest,
    deadline: Instant,
) -> ApiGatewayV2httpResponse {
    let answer = match raw_body(request) {
        Ok(body) => {
            let delivery = Delivery {
                method: request.request_context.http.method.as_str(),
                authorization: request
                    .headers
                    .get(AUTHORIZATION)
                    .and_then(|v| v.to_str().ok()),
                body: &body,
            };
            handler.handle(delivery, deadline).await
        }
        Err(answer) => {
            tracing::warn!("request body marked base64 is not valid base64");
            answer
        }
    };
    response(&answer)
}

/// The body bytes exactly as the sender sent them.
fn raw_body(request: &ApiGatewayV2httpRequest) -> Result<Cow<'_, [u8]>, Answer> {
    let text = request.body.as_deref().unwrap_or_default();
    if !request.is_base64_encoded {
        return Ok(Cow::Borrowed(text.as_bytes()));
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map(Cow::Owned)
        .map_err(|_| {
            Answer::BadRequest("body is marked isBase64Encoded but is not valid base64".into())
        })
}

pub fn response(answer: &Answer) -> ApiGatewayV2httpResponse {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(answer.http_status());
    response
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.body = Some(Body::Text(answer.body_text()));
    response
}
