"""moto on 127.0.0.1 that runs Step Functions executions for real, with their Lambda
tasks reaching real function processes.

    python tests/sfn/moto_sfn.py PORT

One server for every test: Secrets Manager, SNS, SQS, Lambda and Step Functions
(./scripts/test.sh exports it as MOTO_ENDPOINT). What it adds to moto:

- moto's config switched to executing state machines and to the Docker-free Lambda
  backend (POST /moto-api/config, as a test client could);
- LambdaSimpleBackend.invoke replaced: an invoke of a *registered* function goes to
  that function's own Lambda Runtime API emulator (bench/runtime_api.py), where the
  real binary, spawned by the test with AWS_LAMBDA_RUNTIME_API, picks it up; an
  answer posted to the runtime's /error comes back with X-Amz-Function-Error, so the
  state machine sees a task failure (and its Catch applies). Functions named
  `stub-...` are answered by tests/sfn/stub_steps.py; any other name keeps moto's
  behaviour.
- a control endpoint on the same port:
    POST /forwarder/register   {"function_name": N, "timeout_seconds": 300}
                                -> {"runtime_api": "127.0.0.1:PORT", "function_arn": ...}
    POST /forwarder/unregister {"function_name": N}
    POST /forwarder/invoke/N    body: an event for N's process; answers its payload
                                (X-Amz-Function-Error: Unhandled on a function error)
    POST /forwarder/lose        {"function_name": N, "step": S}: N's next S step runs,
                                but its answer is lost (Lambda.ServiceException)...
    POST /forwarder/release     {"function_name": N}: ...once this arrives
    GET  /forwarder/ready       200 once the config above is applied, 503 before

Why in-process (ThreadedMotoServer) and not moto_server: the replacement has to live
in the process that serves Lambda's Invoke. Why MOTO_PORT: moto's state machine
interpreter calls Lambda and SNS at localhost:$MOTO_PORT.
"""
import json
import os
import sys
import threading
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
DEFAULT_TIMEOUT_SECONDS = 300  # the template's function Timeout


def main():
    port = int(sys.argv[1])
    # Before moto is imported and before any execution starts: the interpreter reads
    # it for every Lambda/SNS call it makes.
    os.environ["MOTO_PORT"] = str(port)
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)

    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.server import ThreadedMotoServer

    import forwarder

    forwarder.install(LambdaSimpleBackend)

    class Server(ThreadedMotoServer):
        # ThreadedMotoServer has no hook for extra routes; this is its own
        # _server_entry with the moto app wrapped by the control endpoint.
        def _server_entry(self):
            from moto.moto_server.werkzeug_app import (
                DomainDispatcherApplication,
                MotoRequestHandler,
                create_backend_app,
            )
            from werkzeug.serving import make_server

            app = forwarder.control(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    server = Server(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/moto-api/config",
        data=json.dumps(config).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        applied = json.load(response)
    # moto 5.2.5 applies "stepfunctions" but echoes only "batch" and "lambda".
    from moto.core.config import default_user_config

    assert applied["lambda"]["use_docker"] is False, applied
    assert default_user_config["stepfunctions"]["execute_state_machine"] is True
    forwarder.ready.set()
    print(f"moto_sfn listening on 127.0.0.1:{port}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
