"""The reference for the issue-13 benchmark: refresh-and-wait written plainly with
tableauserverclient, the way its documentation shows it (sign in with a personal
access token, find each item with a RequestOptions name/project filter, refresh, then
wait_for_job each job). Settings from the same environment variables as
`dbt-tableau`:

    TABLEAU_SITE_URL=... TABLEAU_SITE_NAME=... TABLEAU_API_TOKEN_NAME=... \
    TABLEAU_API_TOKEN_SECRET=... python3 bench/tsc_refresh.py PROJECT \
        workbook:NAME [workbook:NAME ...] datasource:NAME ...

Exit status 0 when every job succeeded (wait_for_job raises otherwise).
"""
import os
import sys

import tableauserverclient as TSC


def find(endpoint, name, project):
    options = TSC.RequestOptions()
    options.filter.add(TSC.Filter(TSC.RequestOptions.Field.Name, TSC.RequestOptions.Operator.Equals, name))
    options.filter.add(TSC.Filter(TSC.RequestOptions.Field.ProjectName, TSC.RequestOptions.Operator.Equals, project))
    items, _pagination = endpoint.get(options)
    if len(items) != 1:
        raise SystemExit(f"{name!r} in {project!r}: {len(items)} matches")
    return items[0]


def main(project, *targets):
    auth = TSC.PersonalAccessTokenAuth(os.environ["TABLEAU_API_TOKEN_NAME"], os.environ["TABLEAU_API_TOKEN_SECRET"],
                                       site_id=os.environ["TABLEAU_SITE_NAME"])
    server = TSC.Server(os.environ["TABLEAU_SITE_URL"], use_server_version=True)
    with server.auth.sign_in(auth):
        jobs = []
        for target in targets:
            kind, name = target.split(":", 1)
            endpoint = server.workbooks if kind == "workbook" else server.datasources
            jobs.append(endpoint.refresh(find(endpoint, name, project)))
        for job in jobs:
            job = server.jobs.wait_for_job(job)
            print(f"{job.id}: finish code {job.finish_code}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
