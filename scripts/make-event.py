#!/usr/bin/env python3
"""Wraps a dbt Cloud webhook body in a Lambda Function URL event (payload 2.0),
signed as dbt Cloud signs it: Authorization = hex HMAC-SHA256 of the raw body.

    scripts/make-event.py events/bodies/run-succeeded.json > my-event.json
    scripts/make-event.py BODY --key "$DBT_WEBHOOK_KEY" --base64
    scripts/make-event.py BODY --signature deadbeef   # a deliberately wrong one
    scripts/make-event.py BODY --print-signature      # just the header value

The default key is the local demo key, which the local run uses too.
"""
import argparse, base64, hashlib, hmac, json, sys, uuid

DEMO_KEY = "local-demo-webhook-key"

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("body", help="file with the webhook body, sent byte for byte")
    p.add_argument("--key", default=DEMO_KEY)
    p.add_argument("--base64", action="store_true", help="deliver the body base64-encoded")
    p.add_argument("--signature", help="send this Authorization value instead of the right one")
    p.add_argument("--print-signature", action="store_true")
    a = p.parse_args()
    raw = open(a.body, "rb").read()
    signature = a.signature or sign(raw, a.key)
    if a.print_signature:
        print(signature)
        return
    request_id = str(uuid.uuid5(uuid.NAMESPACE_URL, a.body + str(a.base64) + signature))
    json.dump(function_url_event(raw, signature, a.base64, request_id), sys.stdout, indent=2)
    sys.stdout.write("\n")

def sign(raw, key=DEMO_KEY):
    """The Authorization header dbt Cloud sends: hex HMAC-SHA256 of the raw body."""
    return hmac.new(key.encode(), raw, hashlib.sha256).hexdigest()

def function_url_event(raw, signature, base64_body=False, request_id=None):
    """A Function URL event (payload 2.0) carrying `raw` with `signature`.
    Also imported by bench/run.py."""
    request_id = request_id or str(uuid.uuid4())
    host = "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {
            "content-length": str(len(raw)),
            "x-amzn-tls-version": "TLSv1.3",
            "x-forwarded-proto": "https",
            "x-forwarded-port": "443",
            "x-forwarded-for": "52.45.144.63",
            "accept": "*/*",
            "x-amzn-tls-cipher-suite": "TLS_AES_128_GCM_SHA256",
            "x-amzn-trace-id": "Root=1-6748a1b2-0c5e3c2a4f1b2d3e4f5a6b7c",
            "host": host,
            "content-type": "application/json",
            "authorization": signature,
            "accept-encoding": "gzip, deflate",
            "user-agent": "python-requests/2.32.3",
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": host.split(".")[0],
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": "POST",
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "52.45.144.63",
                "userAgent": "python-requests/2.32.3",
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": "28/Nov/2026:07:29:36 +0000",
            "timeEpoch": 1795850976000,
        },
        "body": base64.b64encode(raw).decode() if base64_body else raw.decode("utf-8"),
        "isBase64Encoded": base64_body,
    }

if __name__ == "__main__":
    main()
