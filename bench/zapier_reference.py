"""The reference point: the same flow written the way the old Zapier "Code by Zapier"
step did it, as a Python Lambda handler run under awslambdaric.

Like the Zapier step it keeps nothing between calls: every invocation fetches the
secret (boto3 GetSecretValue), verifies the HMAC, detects the REST API version
(unless TABLEAU_API_VERSION is set), signs in to Tableau with `requests` (no
Session, so a new connection per request), looks each target up by name and
refreshes it one after the other, then signs out. The boto3 client is built once at
import, as any Python Lambda would. Same environment interface as the Rust binary.
"""
import base64
import hashlib
import hmac
import json
import os

import boto3
import requests

SECRETS = boto3.client("secretsmanager")  # AWS_ENDPOINT_URL_SECRETS_MANAGER honoured
HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}


def answer(status_code, obj):
    return {"statusCode": status_code, "headers": {"content-type": "application/json"}, "body": json.dumps(obj)}


def handler(event, context):
    if event.get("requestContext", {}).get("http", {}).get("method") != "POST":
        return answer(405, {"status": "error", "error": "method not allowed"})
    raw = event.get("body") or ""
    raw = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
    secret = json.loads(SECRETS.get_secret_value(SecretId=os.environ["SECRET_ID"])["SecretString"])
    expected = hmac.new(secret["DBT_WEBHOOK_KEY"].encode(), raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, (event.get("headers") or {}).get("authorization", "")):
        return answer(401, {"status": "unauthorized"})
    body = json.loads(raw)
    data = body.get("data") or {}
    if body.get("eventType") != "job.run.completed" or data.get("runStatusCode") != 10:
        return answer(200, {"status": "ignored", "reason": "not a successful run"})
    targets = [t for t in json.loads(os.environ["REFRESH_TARGETS"])
               if "jobs" not in t or str(data.get("jobId")) in [str(j) for j in t["jobs"]]]
    if not targets:
        return answer(200, {"status": "ignored", "reason": "no target"})
    if os.environ.get("DRY_RUN", "").lower() == "true":
        return answer(200, {"status": "dry_run", "targets": [dict(t, result="dry_run") for t in targets]})

    base = secret["TABLEAU_SITE_URL"].rstrip("/")
    version = os.environ.get("TABLEAU_API_VERSION") or requests.get(
        f"{base}/api/2.4/serverinfo", headers=HEADERS, timeout=5).json()["serverInfo"]["restApiVersion"]
    api = f"{base}/api/{version}"
    signin = requests.post(f"{api}/auth/signin", headers=HEADERS, timeout=5, json={"credentials": {
        "personalAccessTokenName": secret["TABLEAU_API_TOKEN_NAME"],
        "personalAccessTokenSecret": secret["TABLEAU_API_TOKEN_SECRET"],
        "site": {"contentUrl": secret["TABLEAU_SITE_NAME"]}}})
    signin.raise_for_status()
    creds = signin.json()["credentials"]
    auth = dict(HEADERS, **{"X-Tableau-Auth": creds["token"]})
    site = f"{api}/sites/{creds['site']['id']}"
    reports = []
    try:
        for t in targets:
            kind = "workbook" if "workbook" in t else "datasource"
            name = t[kind]
            filt = f"name:eq:{name}" + (f",projectName:eq:{t['project']}" if t.get("project") else "")
            found = requests.get(f"{site}/{kind}s", headers=auth, timeout=5,
                                 params={"filter": filt, "pageSize": "100", "pageNumber": "1"}).json()
            items = (found.get(f"{kind}s") or {}).get(kind, [])
            if len(items) != 1:
                reports.append({"kind": kind, "name": name, "result": "failed", "error": f"{len(items)} matches"})
                continue
            r = requests.post(f"{site}/{kind}s/{items[0]['id']}/refresh", headers=auth, json={}, timeout=5)
            ok = r.status_code < 300 or (r.status_code == 409 and r.json()["error"]["code"] == "409093")
            reports.append({"kind": kind, "name": name, "id": items[0]["id"],
                            "result": "queued" if ok else "failed",
                            "job_id": r.json().get("job", {}).get("id") if r.status_code < 300 else None})
    finally:
        requests.post(f"{api}/auth/signout", headers=auth, timeout=5)
    failed = any(r["result"] == "failed" for r in reports)
    return answer(502 if failed else 200, {"status": "failed" if failed else "queued", "targets": reports})
