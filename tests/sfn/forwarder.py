"""Lambda Invoke in moto forwarded to real function processes (see moto_sfn.py).

moto 5.2.5's LambdaSimpleBackend.invoke(self, function_name, qualifier, body,
headers, response_headers) returns the payload bytes; moto's Invoke response copies
`response_headers` into the HTTP answer, so setting X-Amz-Function-Error there is
what a real Lambda does for a function error. `function_name` is the last path
segment of the Invoke URL: a name, or the ARN the state machine's tasks use.
"""
import io
import json
import os
import threading
import zipfile

import stub_steps
from runtime_api import RuntimeAPI

_lock = threading.Lock()
_role_lock = threading.Lock()
_registered = {}  # function name -> (RuntimeAPI, timeout in seconds)
# Function name -> {"step", "release": Event, "taken"}: the next invoke of that
# step runs, but its answer is "lost" (Lambda.ServiceException) once the test
# releases it, so that the test can change the world before the retry.
_lose = {}
# Set once moto's config is applied: before that an execution would not run.
ready = threading.Event()


def _name_of(function_name):
    # arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER] or ACCOUNT:function:NAME
    if ":function:" in function_name:
        return function_name.split(":function:", 1)[1].split(":", 1)[0]
    return function_name


def _function_error(response_headers, error_type, message):
    response_headers["x-amz-function-error"] = "Unhandled"
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


def _service_exception(message):
    """Lambda failing on its side: the state machine sees Lambda.ServiceException."""
    from moto.core.exceptions import JsonRESTError  # after MOTO_PORT is set

    class ServiceException(JsonRESTError):
        code = 500

    return ServiceException("ServiceException", message)


def _forward(api, timeout, body, response_headers):
    payload = body if isinstance(body, bytes) else (body or "{}").encode()
    _latency, kind, answer = api.invoke(payload, timeout=timeout)
    try:
        step = json.loads(payload).get("step")
    except (ValueError, AttributeError):
        step = None
    with _lock:
        rule = _lose.get(api.function_name)
        lost = rule is not None and not rule["taken"] and rule["step"] == step
        if lost:
            rule["taken"] = True
    if lost:
        # The function ran (and did its work); its answer never reaches the task.
        rule["release"].wait(timeout)
        raise _service_exception(f"the answer of step {step} was lost (test)")
    if kind is None:
        # What Lambda answers when the function outlives its Timeout.
        return _function_error(
            response_headers, "Sandbox.Timedout", f"Task timed out after {timeout:.2f} seconds"
        )
    if kind in ("error", "init_error"):
        response_headers["x-amz-function-error"] = "Unhandled"
    return answer


def _stub(name, body, response_headers):
    try:
        event = json.loads(body or "{}")
        return json.dumps(stub_steps.answer(name, event)).encode()
    except stub_steps.StubFunctionError as error:
        return _function_error(response_headers, error.error_type, error.message)
    except stub_steps.StubServiceError as error:
        raise _service_exception(str(error)) from None


def install(backend_class):
    """Replaces backend_class.invoke; unknown functions keep moto's behaviour."""
    original = backend_class.invoke

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        name = _name_of(function_name)
        with _lock:
            registered = _registered.get(name)
        if registered is not None:
            payload = _forward(*registered, body, response_headers)
        elif name.startswith("stub-"):
            payload = _stub(name, body, response_headers)
        else:
            return original(self, function_name, qualifier, body, headers, response_headers)
        response_headers["Content-Length"] = str(len(payload))
        return payload

    backend_class.invoke = invoke


def _create_in_moto(function_name, timeout_seconds):
    """The function as moto's Lambda knows it (its ARN is what the tasks invoke).

    moto wants a role Lambda can assume and a zip; neither is ever used to run
    anything, since invoke goes to the registered process."""
    import boto3

    client = lambda service: boto3.client(
        service,
        endpoint_url=f"http://127.0.0.1:{os.environ['MOTO_PORT']}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    iam = client("iam")
    # One role for every test function; tests register in parallel.
    with _role_lock:
        try:
            role = iam.get_role(RoleName="dbt-tableau-refresh-test")["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                              "Principal": {"Service": "lambda.amazonaws.com"}}]}
            role = iam.create_role(RoleName="dbt-tableau-refresh-test",
                                   AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\n# never run: invokes are forwarded\n")
    lam = client("lambda")
    try:
        lam.delete_function(FunctionName=function_name)
    except lam.exceptions.ResourceNotFoundException:
        pass
    return lam.create_function(
        FunctionName=function_name, Runtime="provided.al2023", Handler="bootstrap", Role=role,
        Code={"ZipFile": archive.getvalue()}, Timeout=int(timeout_seconds),
    )["FunctionArn"]


def register(function_name, timeout_seconds=300):
    """Creates the function in moto and, unless it is a stub, its Runtime API."""
    arn = _create_in_moto(function_name, timeout_seconds)
    if function_name.startswith("stub-"):
        return {"runtime_api": None, "function_arn": arn}
    # The deadline the runtime sees is the function's timeout, as in Lambda.
    api = RuntimeAPI(function_name, deadline_ms=int(timeout_seconds * 1000))
    with _lock:
        old = _registered.pop(function_name, None)
        _registered[function_name] = (api, float(timeout_seconds))
    if old is not None:
        old[0].close()
    return {"runtime_api": api.address, "function_arn": arn}


def unregister(function_name):
    with _lock:
        old = _registered.pop(function_name, None)
    if old is not None:
        old[0].close()
    return {"unregistered": old is not None}


def _invoke(name, environ, start_response):
    """Invoke as Lambda's Invoke API would (a Function URL request, in the tests),
    without having to sign a request to moto: the raw answer, and
    X-Amz-Function-Error on a function error."""
    with _lock:
        registered = _registered.get(name)
    if registered is None:
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    headers = {}
    payload = _forward(*registered, body, headers)
    out = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    if "x-amz-function-error" in headers:
        out.append(("X-Amz-Function-Error", headers["x-amz-function-error"]))
    start_response("200 OK", out)
    return [payload]


def control(app):
    """WSGI middleware: /forwarder/* here, everything else to moto."""

    def wsgi(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/forwarder/"):
            return app(environ, start_response)
        if path == "/forwarder/ready":
            status = "200 OK" if ready.is_set() else "503 Service Unavailable"
            start_response(status, [("Content-Length", "0")])
            return [b""]
        if path.startswith("/forwarder/invoke/") and environ["REQUEST_METHOD"] == "POST":
            return _invoke(path[len("/forwarder/invoke/"):], environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            request = json.loads(environ["wsgi.input"].read(length) or b"{}")
            if path == "/forwarder/register" and environ["REQUEST_METHOD"] == "POST":
                status, answer = "200 OK", register(
                    str(request["function_name"]),
                    float(request.get("timeout_seconds", 300)),
                )
            elif path == "/forwarder/unregister" and environ["REQUEST_METHOD"] == "POST":
                status, answer = "200 OK", unregister(str(request["function_name"]))
            elif path == "/forwarder/lose" and environ["REQUEST_METHOD"] == "POST":
                rule = {"step": str(request["step"]), "release": threading.Event(), "taken": False}
                with _lock:
                    _lose[str(request["function_name"])] = rule
                status, answer = "200 OK", {}
            elif path == "/forwarder/release" and environ["REQUEST_METHOD"] == "POST":
                with _lock:
                    rule = _lose.pop(str(request["function_name"]), None)
                if rule is not None:
                    rule["release"].set()
                status, answer = "200 OK", {"taken": bool(rule and rule["taken"])}
            else:
                status, answer = "404 Not Found", {"error": f"no route {path}"}
        except (KeyError, ValueError, TypeError) as error:
            status, answer = "400 Bad Request", {"error": repr(error)}
        except Exception as error:  # moto refusing the function: say so, keep serving
            status, answer = "500 Internal Server Error", {"error": repr(error)}
        body = json.dumps(answer).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return wsgi
