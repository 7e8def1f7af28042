//! Answers API Gateway HTTP API (payload format 2.0) events.

use std::time::SystemTime;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body as ResponseBody;
use aws_lambda_events::http::header::{ALLOW, CONTENT_TYPE};
use aws_lambda_events::http::{HeaderMap, HeaderValue, Method, StatusCode};
use lambda_runtime::{Error, LambdaEvent, tracing};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The JSON document every response carries.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    pub timestamp: String,
    pub status: u16,
    pub message: String,
}

/// Takes the raw event, not an `ApiGatewayV2httpRequest`, so that a
/// malformed one is answered with a 400 instead of failing the invocation in
/// the runtime's own decoder.
pub async fn function_handler(
    event: LambdaEvent<Value>,
) -> Result<ApiGatewayV2httpResponse, Error> {
    Ok(handle(event.payload, SystemTime::now()))
}

/// Routes an event. The clock is a parameter so tests can fix the time.
pub fn handle(event: Value, now: SystemTime) -> ApiGatewayV2httpResponse {
    let reply = match serde_json::from_value::<ApiGatewayV2httpRequest>(event) {
        Ok(request) => route(&request),
        Err(err) => {
            tracing::warn!(error = %err, "malformed event");
            Reply::new(StatusCode::BAD_REQUEST, "Bad request")
        }
    };
    respond(reply, now)
}

/// What a request is answered: a status, a message, and any headers besides
/// the content type.
struct Reply {
    status: StatusCode,
    message: String,
    headers: HeaderMap,
}

impl Reply {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            headers: HeaderMap::new(),
        }
    }
}

fn route(request: &ApiGatewayV2httpRequest) -> Reply {
    let greeting = match request.raw_path.as_deref() {
        Some("/hello") => "Hello",
        Some("/goodbye") => "Goodbye",
        _ => return Reply::new(StatusCode::NOT_FOUND, "Not found"),
    };
    if request.request_context.http.method != Method::GET {
        let mut reply = Reply::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
        reply
            .headers
            .insert(ALLOW, HeaderValue::from_static(Method::GET.as_str()));
        return reply;
    }
    let name = request
        .query_string_parameters
        .first("name")
        .filter(|name| !name.is_empty())
        .unwrap_or("World");
    Reply::new(StatusCode::OK, format!("{greeting}, {name}"))
}

fn respond(reply: Reply, now: SystemTime) -> ApiGatewayV2httpResponse {
    let body = Body {
        timestamp: humantime::format_rfc3339_seconds(now).to_string(),
        status: reply.status.as_u16(),
        message: reply.message,
    };
    let mut headers = reply.headers;
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));

    // The response type is #[non_exhaustive]: start from its default.
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(body.status);
    response.headers = headers;
    response.body = Some(ResponseBody::Text(
        serde_json::to_string(&body).expect("a struct of strings and numbers serializes"),
    ));
    response
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use serde_json::json;

    use super::*;

    /// 2026-11-27T16:30:00Z
    fn fixed_now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_795_797_000)
    }

    /// A file in the project's events/ folder, shared with the emulator tests.
    fn fixture(file: &str) -> Value {
        let path = format!("{}/events/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("{path}: {err}"))
    }

    fn event(method: &str, raw_path: &str, query: Value) -> Value {
        json!({
            "version": "2.0",
            "rawPath": raw_path,
            "queryStringParameters": query,
            "requestContext": { "http": { "method": method, "path": raw_path } },
            "isBase64Encoded": false
        })
    }

    /// Checks the whole response; `allow` is the Allow header it must carry, if any.
    fn check(case: &str, event: Value, status: u16, message: &str, allow: Option<&str>) {
        let response = handle(event, fixed_now());
        assert_eq!(
            response.status_code,
            i64::from(status),
            "{case}: statusCode"
        );
        let header = |name| {
            response
                .headers
                .get(name)
                .map(|v| v.to_str().expect("an ASCII header"))
        };
        assert_eq!(
            header(CONTENT_TYPE),
            Some("application/json"),
            "{case}: content-type"
        );
        assert_eq!(header(ALLOW), allow, "{case}: allow");
        let Some(ResponseBody::Text(text)) = &response.body else {
            panic!("{case}: body is not text: {:?}", response.body);
        };
        let body: Body = serde_json::from_str(text).unwrap();
        let want = Body {
            timestamp: "2026-11-27T16:30:00Z".to_owned(),
            status,
            message: message.to_owned(),
        };
        assert_eq!(body, want, "{case}: body");
    }

    #[test]
    fn answers_the_shared_events() {
        // (case, event file in events/, status, message, Allow header)
        #[rustfmt::skip] // one case per line
        let cases = [
            ("hello with a name", "hello.json", 200, "Hello, Chris", None),
            ("hello without a name", "hello-default.json", 200, "Hello, World", None),
            ("goodbye with a name", "goodbye.json", 200, "Goodbye, Chris", None),
            ("unknown path", "not-found.json", 404, "Not found", None),
            ("malformed event", "malformed.json", 400, "Bad request", None),
            ("POST /hello", "method-not-allowed.json", 405, "Method not allowed", Some("GET")),
        ];
        for (case, file, status, message, allow) in cases {
            check(case, fixture(file), status, message, allow);
        }
    }

    #[test]
    fn answers_edge_cases() {
        #[rustfmt::skip] // one case per line
        let cases = [
            ("empty name", event("GET", "/hello", json!({"name": ""})), 200, "Hello, World", None),
            ("no query", event("GET", "/goodbye", Value::Null), 200, "Goodbye, World", None),
            ("DELETE /goodbye", event("DELETE", "/goodbye", json!({})), 405, "Method not allowed", Some("GET")),
            ("POST to an unknown path", event("POST", "/nope", json!({})), 404, "Not found", None),
            ("GET /", event("GET", "/", json!({})), 404, "Not found", None),
            ("trailing slash", event("GET", "/hello/", json!({})), 404, "Not found", None),
            ("a string", json!("just a string"), 400, "Bad request", None),
            ("an array", json!([1, 2]), 400, "Bad request", None),
            ("a number", json!(42), 400, "Bad request", None),
            ("method not a string", json!({"rawPath": "/hello", "requestContext": {"http": {"method": 1}}}), 400, "Bad request", None),
            ("query not a map", json!({"rawPath": "/hello", "queryStringParameters": 7, "requestContext": {"http": {"method": "GET"}}}), 400, "Bad request", None),
        ];
        for (case, event, status, message, allow) in cases {
            check(case, event, status, message, allow);
        }
    }

    #[test]
    fn serializes_as_a_proxy_response() {
        let response = serde_json::to_value(handle(fixture("hello.json"), fixed_now())).unwrap();
        assert_eq!(response["statusCode"], 200);
        assert_eq!(
            response["headers"],
            json!({"content-type": "application/json"})
        );
        // The body's fields in the order of Body, as the Go function writes them.
        assert_eq!(
            response["body"],
            r#"{"timestamp":"2026-11-27T16:30:00Z","status":200,"message":"Hello, Chris"}"#
        );
    }
}
