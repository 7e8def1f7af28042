//! The Lambda entry point: starts the runtime with the handler.

mod handler;

use lambda_runtime::{Error, run, service_fn, tracing};

// One invocation at a time per execution environment: a single-threaded
// runtime is enough and spawns no worker threads at cold start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // Honours AWS_LAMBDA_LOG_LEVEL and AWS_LAMBDA_LOG_FORMAT (Lambda's
    // advanced logging controls).
    tracing::init_default_subscriber();
    run(service_fn(handler::function_handler)).await
}
